"""``open_actor_cluster``: tractor's name for "``count`` daemon actors serving ``modules``".

A convenience over an actor nursery: it starts the actors, concurrently, and
yields their portals by name; leaving the block cancels them (``hard_kill``: at
once). The actors are plain daemons, not supervised agents: use
``Supervisor.start_pool`` for members that are restarted when they crash.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._nursery import open_nursery
from .._portal import Portal

__all__ = ["open_actor_cluster"]


@asynccontextmanager
async def open_actor_cluster(
    modules: list[str],
    count: int | None = None,
    names: list[str] | None = None,
    hard_kill: bool = False,
    **root_opts: Any,
) -> AsyncIterator[dict[str, Portal]]:
    """Start ``count`` actors that serve ``modules``; yield ``{name: portal}``.

    Args:
        modules: the modules every actor enables (its callable functions).
        count: how many actors (default: one per CPU, or ``len(names)``).
        names: their names (default ``worker_0`` ...).
        hard_kill: on exit, kill them at once instead of the graceful cancel.
        **root_opts: root-actor options (``start_method``, ``loglevel``...), when
            this opens the root.

    Raises:
        ValueError: ``count`` below 1, or ``names`` not ``count`` unique names.
    """
    if count is None:
        count = len(names) if names is not None else (os.cpu_count() or 1)
    if count < 1:
        raise ValueError(f"open_actor_cluster(): count must be at least 1, not {count!r}")
    names = list(names) if names is not None else [f"worker_{i}" for i in range(count)]
    if len(names) != count or len(set(names)) != count:
        raise ValueError(
            f"open_actor_cluster(): {count} actors need {count} unique names, got {names!r}"
        )
    async with open_nursery(**root_opts) as an:
        portals: dict[str, Portal] = {}

        async def start(name: str) -> None:
            portals[name] = await an.start_actor(name, enable_modules=list(modules))

        async with trio.open_nursery() as starting:
            for name in names:
                starting.start_soon(start, name)
        try:
            yield {name: portals[name] for name in names}
        finally:
            with trio.CancelScope(shield=True):
                await an.cancel(hard_kill=hard_kill)
