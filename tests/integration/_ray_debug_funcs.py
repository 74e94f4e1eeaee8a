"""Functions the Ray debugger tests call in Ray-hosted actors."""

from __future__ import annotations

import agentree


def debugging() -> list[bool]:
    """Whether this actor runs the debugger, and whether its terminal is proxied."""
    return [agentree.debug_mode(), agentree.current_actor().options.proxy_tty]


async def child_debugging() -> list[bool]:
    """What :func:`debugging` says in a default-way child of this actor."""
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("kid", enable_modules=[__name__])
        got: list[bool] = await portal.run(debugging)
        await portal.cancel_actor()
    return got
