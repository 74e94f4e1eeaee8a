"""Starting one incarnation of a supervised agent: its actor, its limits, ``on_start``.

With a store (and ``resume="checkpoint"``), the agent's last checkpoint is read
first and restored into ``self.state`` before ``on_start``.

The agent's actor is a child of the supervisor's actor nursery, named by the agent's
path; it enables the class's module, the agent host and the process-title setter.
The rlimits are set on its process (``prlimit``) before ``on_start`` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from .._exceptions import ActorDied, AgentCrashed, TransportClosed
from ..agents._host import HOST_MODULE
from ..agents._host import start as host_start
from . import _health
from ._slot import AgentRun, AgentSlot

if TYPE_CHECKING:
    from .._nursery import ActorNursery

__all__ = ["TITLE_MODULE", "start_incarnation"]

TITLE_MODULE = "agentree.supervise._title"


async def start_incarnation(an: ActorNursery, slot: AgentSlot) -> AgentRun:
    """Start the next incarnation of ``slot``'s agent; return once ``on_start`` returned.

    Raises:
        AgentCrashed: its process died before ``on_start`` returned.
        RemoteActorError: its constructor or ``on_start`` raised.
        SpawnError: its actor did not start.
    """
    number = slot.incarnation + 1
    slot.phase = "starting"
    binding = slot.store
    state = None
    if binding is not None:
        # A late checkpoint of an earlier incarnation must not land after this read.
        binding.fence(slot.path, number)
        if slot.resume == "checkpoint":
            state = await binding.store.get_state(binding.run_id, slot.path)
    portal = await an.start_actor(
        slot.path,
        enable_modules=[slot.cls_ns.partition(":")[0], HOST_MODULE, TITLE_MODULE],
        infect_asyncio=slot.cls._agentree_loop == "asyncio",
    )
    try:
        child = portal._child
        if slot.limits is not None and child is not None:
            _health.apply_rlimits(child.pid, slot.limits)
        pid: int = await portal.run(
            host_start,
            cls=slot.cls_ns,
            a=list(slot.args),
            k=slot.kwargs,
            path=slot.path,
            incarnation=number,
            store=None if binding is None else binding.token,
            state=state,
        )
        await portal.run_from_ns(
            TITLE_MODULE, "set_title", title=f"agentree[{slot.path}#{number}]"
        )
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            await an.stop_child(portal, shutdown=slot.shutdown)
        if isinstance(exc, TransportClosed):
            raise AgentCrashed(
                f"agent {slot.path!r} (incarnation {number}) died while starting: {exc}",
                path=slot.path,
                incarnation=number,
                cause=exc.exit if isinstance(exc, ActorDied) else exc,
            ) from exc
        raise
    slot.incarnation = number
    return AgentRun(number, portal, pid)
