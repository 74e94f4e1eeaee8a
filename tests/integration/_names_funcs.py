"""Functions run in child actors by ``test_tractor_names`` (tractor's names)."""

from __future__ import annotations

import logging
import os

import agentree

MODULE = __name__


async def whoami() -> dict[str, object]:
    """This actor's identity through tractor's names."""
    actor = agentree.current_actor()
    return {
        "uid": list(actor.uid),
        "aid_uid": list(actor.aid.uid),
        "pid": os.getpid(),
        "debug_mode": agentree.debug_mode(),
        "ipc_ctx": agentree.current_ipc_ctx() is not None,
    }


async def log_level(**kwargs: object) -> dict[str, object]:
    """The agentree logger's level here, and the arguments this function got."""
    return {"level": logging.getLogger("agentree").level, "kwargs": sorted(kwargs)}


@agentree.context
async def ctx_is_current(ctx: agentree.Context, tag: str) -> None:
    """Say whether ``current_ipc_ctx()`` is this function's own ``ctx``."""
    await ctx.started([tag, agentree.current_ipc_ctx() is ctx])
