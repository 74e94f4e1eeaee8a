"""Functions the reachability tests call in actors (test_ray_reach)."""

from __future__ import annotations

import trio
import trio.testing

import agentree

FUNCS = ["tests.integration._tcp_funcs", "tests.integration._reach_funcs"]


@agentree.context
async def hold_child(ctx: agentree.Context, name: str) -> None:
    """Spawn ``name`` the default way and keep it until the context ends."""
    async with agentree.open_nursery() as an:
        await an.start_actor(name, enable_modules=FUNCS)
        await ctx.started()
        await trio.sleep_forever()


async def tcp_state() -> dict[str, object]:
    """This actor's TCP side once its tasks settled: the interface, the bound address."""
    await trio.testing.wait_all_tasks_blocked()
    side = agentree.current_actor().tcp
    if side is None:
        return {"interface": "", "address": None}
    address = None if side.address is None else [side.address.host, side.address.port]
    return {"interface": side.interface, "address": address}
