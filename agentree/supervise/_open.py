"""``open_supervisor``: a supervisor as an async context manager in the opener's process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._groups import strict
from .._nursery import open_nursery
from .._runtime import current_actor, current_actor_or_none
from ..agents._start import _check_name, owner_path
from ..feedback import StoreJournal, root_store_of, supervisor_level
from ..store import MemoryStore, Store
from ..store._base import check_store_options
from ..store._serve import Binding, bind, unbind
from ._policies import AutoShutdown, check_policies
from ._supervisor import Supervisor
from ._types import Backoff, Strategy

__all__ = ["open_supervisor"]


@asynccontextmanager
async def open_supervisor(
    name: str,
    *,
    strategy: Strategy = "one_for_one",
    intensity: int = 3,
    period: float = 5.0,
    backoff: Backoff | None = None,
    auto_shutdown: AutoShutdown = "never",
    feedback: list[Any] | None = None,
    store: Store | None = None,
    run_id: str | None = None,
    **root_opts: Any,
) -> AsyncIterator[Supervisor]:
    """Open a supervisor named ``name``: OTP's supervisor, with per-child backoff.

    ``async with agentree.open_supervisor("app") as sup:`` then
    ``ref = await sup.start_agent(Cls, name="planner")``. The supervisor runs in
    this process; its agents are child actors of this one. Leaving the block stops
    every child in reverse start order, each by its shutdown policy; nothing
    outlives it.

    Args:
        name: the supervisor's name, the first part of its agents' paths
            (``"app/planner"``; inside an agent, below that agent's path).
        strategy: who restarts when a child crashes: ``"one_for_one"`` (that
            child), ``"one_for_all"`` (every child: the others are stopped in
            reverse order, then all start again in order) or ``"rest_for_one"``
            (that child and those started after it).
        intensity: restarts allowed within ``period`` seconds; one more and the
            supervisor gives up: it stops every child and ``SupervisorGaveUp`` (an
            exception group of the crashes) leaves this block.
        period: the window of ``intensity``, in seconds.
        backoff: the wait before each restart (default ``Backoff()``: 0.1 s
            doubling to 10 s, ±20%).
        auto_shutdown: ``"never"``, ``"any_significant"`` or ``"all_significant"``:
            when significant children end for good, stop the supervisor's children.
        feedback: feedback handlers for the requests of this supervisor's agents
            and everything below them (``agentree.request_feedback``); the first
            non-``None`` answer wins. Without them requests go on up the tree.
        store: where the agents' checkpoints go (``await self.checkpoint()``):
            ``agentree.SqliteStore(path)``. By default the root's store, when
            this supervisor runs in the root's process and the root was opened
            with ``store=``; else a new ``agentree.MemoryStore()`` (kept in this
            process only). It is opened here (a corrupt file or a newer schema
            raises ``StoreError``) and closed when the block ends.
        run_id: the run the checkpoints belong to. By default the root's
            ``run_id``, when this supervisor runs in the root's process and the
            root was given a ``store`` or a ``run_id``; else a new random id.
            Opening a supervisor again with the same ``run_id`` and store
            restores each agent's last checkpoint when it starts, and the
            answers its ``feedback`` handlers gave (a question answered in an
            earlier run is not asked again).
        **root_opts: options of the root actor, when this opens it
            (``agentree.open_root_actor``).

    Raises:
        SupervisorGaveUp: more than ``intensity`` restarts in ``period`` seconds.
        ValueError / TypeError: a bad policy (checked before anything starts).
        StoreError: the store cannot be opened.
    """
    _check_name(name)
    check_policies(
        strategy=strategy,
        intensity=intensity,
        period=period,
        backoff=backoff,
        auto_shutdown=auto_shutdown,
    )
    check_store_options("open_supervisor()", store, run_id)
    root_store, root_run_id = root_store_of(current_actor_or_none())
    if store is None:
        store = root_store if root_store is not None else MemoryStore()
    if run_id is None:
        run_id = root_run_id if root_run_id is not None else uuid.uuid4().hex
    async with (
        _bound_store(store, run_id) as binding,
        open_nursery(report_exits=True, **root_opts) as an,
    ):
        sup = Supervisor(
            name,
            owner_path(current_actor()) + name,
            an,
            strategy=strategy,
            intensity=intensity,
            period=period,
            backoff=backoff,
            auto_shutdown=auto_shutdown,
            store=binding,
        )
        try:
            journal = StoreJournal(binding.store, binding.run_id)
            async with supervisor_level(an, feedback, journal), trio.open_nursery() as tn:
                await tn.start(sup._serve)
                try:
                    yield sup
                finally:
                    with trio.CancelScope(shield=True):
                        await sup._close(final=True)
        except BaseException as exc:
            # Strict, as trio's nurseries: failures in one flat group, even alone
            # (SupervisorGaveUp, itself a group of the crashes, comes out as it is).
            shaped = strict(exc, f"errors in the supervisor {name!r}")
            if shaped is exc:
                raise
            raise shaped from None
        finally:
            sup._close_hubs()


@asynccontextmanager
async def _bound_store(store: Store, run_id: str) -> AsyncIterator[Binding]:
    """Open ``store`` and make it reachable by this supervisor's agents."""
    await store.open()
    binding = bind(store, run_id)
    try:
        yield binding
    finally:
        unbind(binding)
        with trio.CancelScope(shield=True):
            await store.close()
