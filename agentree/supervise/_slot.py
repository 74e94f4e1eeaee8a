"""One child of a supervisor (a slot) and its incarnations (runs).

A slot outlives its incarnations: refs hold the slot, so a call resolves the
running incarnation when it is made (DESIGN 7, rule 5). Calls that find no usable
incarnation wait in the slot's FIFO queue until the next one runs; the queue is
woken one waiter at a time, and each waiter wakes the next only once it has sent
its call, so queued calls reach the new incarnation in the order they were made.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import trio

from .._exceptions import AgentBusy, AgentRestarting, AgentUnavailable
from .._exit import ChildExit
from ._types import Limits, Phase, RestartType, ShutdownPolicy

if TYPE_CHECKING:
    from .._portal import Portal
    from .._runtime import Conn
    from ..store._serve import Binding
    from ._supervisor import Supervisor

__all__ = ["AgentSlot", "Run", "Slot", "SupSlot"]

_tokens = itertools.count()


class Run:
    """One incarnation of a child.

    Attributes:
        number: 1 for the first incarnation.
        started_at: ``time.monotonic()`` when it started running.
        stopping: the supervisor is stopping it on purpose (its end is no crash).
        crash: why the supervisor killed it (watchdog, limit), if it did.
        draining: it is being recycled: new calls wait for the next incarnation.
        ended: set once its end has been handled.
    """

    def __init__(self, number: int) -> None:
        self.number = number
        self.started_at = time.monotonic()
        self.stopping = False
        self.crash: tuple[str, str, str | None] | None = None
        self.draining = False
        # A call found its channel gone: no call goes to it any more.
        self.broken = False
        self.ended = trio.Event()
        # False once any of the above says no call may go to it (the calls' fast path).
        self.live = True
        self.inflight: dict[int, str] = {}
        self.calls_done = 0
        # Set when the last call in flight ends (recycling waits for it).
        self.idle: trio.Event | None = None

    def close_to_calls(self) -> None:
        """No new call goes to this incarnation (it ended, stops, drains or broke)."""
        self.live = False

    def set_ended(self) -> None:
        self.live = False
        self.ended.set()
        if self.idle is not None:
            self.idle.set()

    @property
    def pid(self) -> int | None:
        return None

    @property
    def usable(self) -> bool:
        return self.live


class AgentRun(Run):
    """An incarnation of an agent: its actor's portal and connection."""

    def __init__(self, number: int, portal: Portal, pid: int) -> None:
        super().__init__(number)
        self.portal = portal
        self.conn: Conn = portal.channel
        self._pid = pid
        # The actor's uuid: the tag its descendants carry (AGENTREE_ACTOR).
        self.uuid = self.conn.peer_uid[1]

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def usable(self) -> bool:
        return self.live and not self.conn.closed.is_set()

    def begin(self, method: str) -> int:
        """Count a call in flight; return its token for :meth:`end`."""
        token = next(_tokens)
        self.inflight[token] = method
        return token

    def end(self, token: int) -> None:
        del self.inflight[token]
        self.calls_done += 1
        if self.idle is not None and not self.inflight:
            self.idle.set()

    def running_method(self) -> str | None:
        """The method of the oldest call in flight, if any."""
        for method in self.inflight.values():
            return method
        return None


class SupRun(Run):
    """An incarnation of a nested in-process supervisor."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.error: BaseException | None = None


class _Waiter:
    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = trio.Event()


class Slot:
    """A named child of a supervisor, across its incarnations."""

    kind: Literal["agent", "supervisor", "pool"] = "agent"

    def __init__(
        self,
        sup: Supervisor,
        name: str,
        *,
        restart: RestartType,
        shutdown: ShutdownPolicy,
        significant: bool,
    ) -> None:
        self.sup = sup
        self.name = name
        self.path = f"{sup.path}/{name}"
        self.restart: RestartType = restart
        self.shutdown: ShutdownPolicy = shutdown
        self.significant = significant
        self.phase: Phase = "starting"
        self.current: Run | None = None
        self.incarnation = 0
        # Consecutive restarts, for the backoff (reset after a stable run).
        self.attempts = 0
        self.restart_times: deque[float] = deque()
        # Why it will not run again (terminated, ended, gave up); None while it may.
        self.gone: str | None = None
        self.waiters: deque[_Waiter] = deque()
        self.started = trio.Event()
        # The scope of the task restarting it (one_for_one), while one does.
        self.cycle: trio.CancelScope | None = None

    def __repr__(self) -> str:
        return f"<child {self.path!r} {self.phase} #{self.incarnation}>"

    def usable(self) -> Run | None:
        run = self.current
        if run is not None and run.usable:
            return run
        return None

    # -- calls waiting for an incarnation -------------------------------------------------

    def kick(self) -> None:
        """Wake the first waiter if it can go on (an incarnation runs, or none will)."""
        if self.waiters and (self.gone is not None or self.usable() is not None):
            self.waiters[0].event.set()

    def set_running(self, run: Run) -> None:
        self.current = run
        self.incarnation = run.number
        self.phase = "running"
        self.started.set()
        self.kick()

    def set_gone(self, why: str) -> None:
        """No incarnation will run again: waiting calls fail with ``AgentUnavailable``."""
        self.gone = why
        self.phase = "stopped"
        self.current = None
        self.started.set()
        self.kick()

    def unavailable(self) -> AgentUnavailable:
        return AgentUnavailable(f"agent {self.path!r} is not available: {self.gone}")

    async def acquire(self, *, fail_fast: bool, max_pending: int) -> Run:
        """The running incarnation, waiting (in order) for the next one if need be.

        Raises:
            AgentUnavailable: no incarnation will run again.
            AgentRestarting: none runs now and ``fail_fast`` is set.
            AgentBusy: ``max_pending`` calls already wait.
        """
        run = self.usable()
        if run is not None and not self.waiters:
            return run
        if self.gone is not None:
            raise self.unavailable()
        if fail_fast:
            raise AgentRestarting(
                f"agent {self.path!r} is restarting (phase {self.phase}); fail_fast is set"
            )
        if len(self.waiters) >= max_pending:
            raise AgentBusy(
                f"agent {self.path!r} is restarting and {len(self.waiters)} calls already "
                f"wait for it (max_pending={max_pending})"
            )
        waiter = _Waiter()
        self.waiters.append(waiter)
        try:
            while True:
                self.kick()
                await waiter.event.wait()
                run = self.usable()
                if run is not None:
                    return run
                if self.gone is not None:
                    raise self.unavailable()
                waiter.event = trio.Event()
        finally:
            self.waiters.remove(waiter)
            # The next waiter runs once this task yields: after its call was sent.
            self.kick()

    # -- statistics ---------------------------------------------------------------------

    def calls_running(self) -> int:
        return 0 if self.current is None else len(self.current.inflight)

    def calls_queued(self) -> int:
        return len(self.waiters)

    def restarts_in_window(self, now: float, period: float) -> int:
        while self.restart_times and self.restart_times[0] < now - period:
            self.restart_times.popleft()
        return len(self.restart_times)


class AgentSlot(Slot):
    """A supervised agent: how to start it, and its policies."""

    kind: Literal["agent", "supervisor", "pool"] = "agent"

    def __init__(
        self,
        sup: Supervisor,
        name: str,
        *,
        cls: type[Any],
        cls_ns: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        restart: RestartType,
        shutdown: ShutdownPolicy,
        significant: bool,
        limits: Limits | None,
        recycle_after: Limits | None,
        heartbeat: float | None,
        watchdog: float | None,
        max_pending: int,
        fail_fast: bool,
        resume: Literal["checkpoint", "fresh"] = "checkpoint",
        store: Binding | None = None,
    ) -> None:
        super().__init__(sup, name, restart=restart, shutdown=shutdown, significant=significant)
        # Restore the last checkpoint from ``store`` at each start ("checkpoint") or not.
        self.resume: Literal["checkpoint", "fresh"] = resume
        self.store = store
        self.cls = cls
        self.cls_ns = cls_ns
        self.args = args
        self.kwargs = kwargs
        self.limits = limits
        self.recycle_after = recycle_after
        self.heartbeat = heartbeat
        self.watchdog = watchdog
        self.max_pending = max_pending
        self.fail_fast = fail_fast


class SupSlot(Slot):
    """A nested in-process supervisor (or a pool) as a child."""

    def __init__(
        self,
        sup: Supervisor,
        name: str,
        child: Supervisor,
        *,
        kind: Literal["supervisor", "pool"],
        restart: RestartType,
        shutdown: ShutdownPolicy,
        significant: bool,
    ) -> None:
        super().__init__(sup, name, restart=restart, shutdown=shutdown, significant=significant)
        self.child = child
        self.kind = kind

    def calls_running(self) -> int:
        return sum(slot.calls_running() for slot in self.child._children.values())

    def calls_queued(self) -> int:
        return sum(slot.calls_queued() for slot in self.child._children.values())


def exit_kind(exit: ChildExit) -> Literal["exit", "signal", "lost"]:
    if exit.reason == "lost":
        return "lost"
    return "signal" if exit.returncode < 0 else "exit"
