"""The supervisor: OTP's strategies and restart types, Akka's backoff (DESIGN 7, rule 3).

A supervisor runs in the process that opens it. Its children are agents (each in
an actor of the supervisor's actor nursery, opened with ``report_exits=True``) and
nested supervisors (in-process). Each running incarnation has a watcher task in the
supervisor's task nursery; when an incarnation ends by itself the watcher decides,
without waiting for anything:

* who restarts (``strategy``): the child alone, every child, or it and the ones
  started after it; the others are stopped in reverse start order first;
* whether it restarts (``restart``): permanent always, transient after a crash,
  temporary never;
* how fast: every restart is counted in the ``period`` window (more than
  ``intensity`` and the supervisor gives up), and waits the child's own backoff in
  a task of its own, so the supervisor and the other children carry on.

Giving up stops every child in reverse start order and raises
``SupervisorGaveUp`` out of the supervisor's block (or, for a nested supervisor,
reports a crash of that child to its parent).
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import trio

from .._exceptions import (
    AgentCrashed,
    AgentExists,
    AgentreeError,
    AgentUnavailable,
    SupervisorGaveUp,
    TransportClosed,
)
from .._exit import ChildExit
from .._runtime import ns_of
from .._runtime._control import track
from ..agents._spec import Agent
from ..agents._start import _check_encodable, _check_name
from . import _health
from ._events import EventHub, EventStream
from ._incarnation import start_incarnation
from ._policies import AutoShutdown, check_child_policies, check_policies
from ._slot import AgentRun, AgentSlot, Run, Slot, SupRun, SupSlot, exit_kind
from ._types import (
    Backoff,
    ChildCrashed,
    ChildInfo,
    ChildRestarting,
    ChildStarted,
    ChildStopped,
    GaveUp,
    Limits,
    RestartType,
    ShutdownPolicy,
    StopReason,
    Strategy,
    SupervisorStats,
)

if TYPE_CHECKING:
    from .._nursery import ActorNursery
    from ..store import Store
    from ..store._serve import Binding
    from ._pool import Pool, Routing
    from ._ref import SupervisedRef

__all__ = ["Supervisor"]

A = TypeVar("A", bound=Agent)


class Supervisor:
    """A running supervisor. Get one from :func:`agentree.open_supervisor`.

    Attributes:
        name: its name.
        path: its path: the agents it starts are ``path + "/" + name``.
        strategy: ``"one_for_one"``, ``"one_for_all"`` or ``"rest_for_one"``.
        intensity: restarts allowed within ``period`` seconds.
        period: the window of the intensity, in seconds.
        backoff: the wait before each restart.
    """

    def __init__(
        self,
        name: str,
        path: str,
        an: ActorNursery,
        *,
        strategy: Strategy,
        intensity: int,
        period: float,
        backoff: Backoff | None,
        auto_shutdown: AutoShutdown,
        parent: Supervisor | None = None,
        store: Binding | None = None,
    ) -> None:
        self.name = name
        # The store (and run id) of checkpoints; nested supervisors share their parent's.
        self._store: Binding | None = (
            store if store is not None or parent is None else parent._store
        )
        self.path = path
        self.strategy: Strategy = strategy
        self.intensity = intensity
        self.period = float(period)
        self.backoff = backoff if backoff is not None else Backoff()
        self.auto_shutdown: AutoShutdown = auto_shutdown
        self._an = an
        self._parent = parent
        self._hub: EventHub = EventHub(parent._hub if parent is not None else None)
        self._children: dict[str, Slot] = {}
        track(self)  # agentree tree / stop see this supervisor's children
        self._restarts: deque[tuple[float, BaseException]] = deque()
        self._group_lock = trio.Lock()
        self._kids: trio.Nursery | None = None
        self._dead = trio.Event()
        self._failure: SupervisorGaveUp | None = None
        self._closing = False
        self._giving_up = False
        self._closed = False
        self.restarts_total = 0
        self.crashes_total = 0

    def __repr__(self) -> str:
        return f"<Supervisor {self.path!r} {self.strategy} {len(self._children)} children>"

    @property
    def run_id(self) -> str | None:
        """The run its agents' checkpoints belong to (pass it again to resume them)."""
        return None if self._store is None else self._store.run_id

    @property
    def store(self) -> Store | None:
        """The store of its agents' checkpoints (shared with nested supervisors)."""
        return None if self._store is None else self._store.store

    # -- life ---------------------------------------------------------------------------

    async def _serve(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Hold the supervisor's task nursery until it closes or gives up."""
        self._dead = trio.Event()
        self._failure = None
        self._closing = self._giving_up = False
        self._restarts.clear()
        try:
            async with trio.open_nursery() as kids:
                self._kids = kids
                task_status.started()
                await self._dead.wait()
                kids.cancel_scope.cancel()
        finally:
            self._kids = None
        if self._failure is not None:
            raise self._failure

    def _check_open(self) -> trio.Nursery:
        if self._kids is None or self._closing or self._giving_up:
            raise AgentUnavailable(f"supervisor {self.path!r} is not running")
        return self._kids

    async def _close(self, *, final: bool) -> None:
        """Stop every child in reverse start order, then end the supervisor's tasks."""
        self._closing = True
        if self._kids is not None:
            self._kids.cancel_scope.cancel()
        with trio.CancelScope(shield=True):
            await self._stop_all("shutdown")
        if final:
            self._closed = True
            self._mark_gone(f"supervisor {self.path!r} has closed")
            self._close_hubs()
        self._dead.set()

    async def _stop_all(self, reason: StopReason) -> None:
        for slot in reversed(list(self._children.values())):
            await self._stop_slot(slot, reason)

    def _close_hubs(self) -> None:
        """End every ``events()`` stream of this supervisor and its nested ones."""
        for slot in self._children.values():
            if isinstance(slot, SupSlot):
                slot.child._close_hubs()
        self._hub.close()

    def _mark_gone(self, why: str) -> None:
        for slot in self._children.values():
            if slot.gone is None:
                slot.set_gone(why)
            if isinstance(slot, SupSlot):
                slot.child._mark_gone(why)

    # -- public API ----------------------------------------------------------------------

    def events(self) -> EventStream:
        """Subscribe to this supervisor's events (and those of its nested supervisors).

        The stream holds every event from this call on: ``ChildStarted``,
        ``ChildCrashed``, ``ChildRestarting``, ``ChildStopped``, ``GaveUp``. It
        ends once the supervisor has closed.
        """
        return self._hub.subscribe()

    async def start_agent(
        self,
        cls: type[A],
        /,
        *args: Any,
        name: str,
        restart: RestartType = "permanent",
        shutdown: ShutdownPolicy = 5.0,
        significant: bool = False,
        limits: Limits | None = None,
        recycle_after: Limits | None = None,
        heartbeat: float | None = None,
        watchdog: float | None = None,
        exist_ok: bool = False,
        max_pending: int = 1000,
        fail_fast: bool = False,
        resume: Literal["checkpoint", "fresh"] = "checkpoint",
        on_start_failure: Literal["raise", "restart"] = "raise",
        **kwargs: Any,
    ) -> SupervisedRef[A]:
        """Start agent ``cls(*args, **kwargs)`` as a child named ``name``; return its ref.

        Returns once the first incarnation's ``on_start`` has returned. The ref is
        the agent's path, resolved at each call: it reaches whichever incarnation
        runs, and calls made while the agent restarts wait for the next one.

        Args:
            cls: an ``agentree.Agent`` subclass.
            name: unique among this supervisor's children.
            restart: ``"permanent"`` (always restarted), ``"transient"`` (only after
                a crash) or ``"temporary"`` (never).
            shutdown: seconds between the graceful cancel request and SIGTERM when
                the agent is stopped, or ``"brutal_kill"``.
            significant: with ``auto_shutdown``, its end can close the supervisor.
            limits: resource limits; going over one is a crash (``LimitExceeded``).
            recycle_after: restart gracefully after ``max_calls`` calls or above
                ``rss`` bytes (between calls; not counted toward the intensity).
            heartbeat: seconds between two pings (default ``watchdog / 2``).
            watchdog: an agent whose loop does not answer a ping within this many
                seconds is killed and counted as crashed.
            exist_ok: if a child of that name exists, return a ref to it instead of
                raising (an atomic get-or-create).
            max_pending: calls that may wait for the agent while it restarts
                (``AgentBusy`` beyond).
            fail_fast: calls made while it restarts raise ``AgentRestarting``
                instead of waiting.
            resume: ``"checkpoint"``: each start (the first one too, for a rerun
                with the same ``run_id`` and store) restores the agent's last
                checkpoint into ``self.state`` before ``on_start``; ``"fresh"``:
                every incarnation starts from ``state()`` (OTP's re-init).
            on_start_failure: what a failed *first* start does (its constructor
                or ``on_start`` raised, or it died before ``on_start`` returned):
                ``"raise"`` (the default, OTP's ``start_child``): the error leaves
                this call and the child is not added; ``"restart"``: it counts as
                a crash, as a failed restart does: the child is added, restarted
                after its backoff (this child only, whatever the strategy), and
                counted toward the intensity; this call returns the ref at once
                and calls wait for a running incarnation. A ``"temporary"``
                child is never restarted, so it raises either way.

        Raises:
            AgentExists: a child of that name exists (and not ``exist_ok``).
            RemoteActorError: the constructor or ``on_start`` of the first
                incarnation raised (the child is not added; OTP's ``start_child``).
            AgentCrashed: the first incarnation died before ``on_start`` returned.
            AgentUnavailable: the supervisor is not running.
            ValueError: ``on_start_failure`` is not ``"raise"`` or ``"restart"``.
        """
        from ._ref import SupervisedRef

        kids = self._check_open()
        existing = self._children.get(name)
        if existing is not None:
            if exist_ok and isinstance(existing, AgentSlot):
                await existing.started.wait()
                return SupervisedRef(existing, cls)
            raise AgentExists(
                f"supervisor {self.path!r} already has a child named {name!r} "
                f"({existing.phase}, path {existing.path!r})"
            )
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise TypeError(f"start_agent() needs an agentree.Agent subclass, not {cls!r}")
        _check_name(name)
        check_child_policies(restart, shutdown)
        for what, value in (("heartbeat", heartbeat), ("watchdog", watchdog)):
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{what} must be a number of seconds > 0, not {value!r}")
        if on_start_failure not in ("raise", "restart"):
            raise ValueError(
                f"on_start_failure must be 'raise' or 'restart', not {on_start_failure!r}"
            )
        if resume not in ("checkpoint", "fresh"):
            raise ValueError(f"resume must be 'checkpoint' or 'fresh', not {resume!r}")
        if not isinstance(max_pending, int) or max_pending < 0:
            raise ValueError(f"max_pending must be an int >= 0, not {max_pending!r}")
        for what, lim in (("limits", limits), ("recycle_after", recycle_after)):
            if lim is not None:
                if not isinstance(lim, Limits):
                    raise TypeError(f"{what} must be an agentree.Limits, not {lim!r}")
                _health.check_limits_supported(lim)
        cls_ns = ns_of(cls)
        _check_encodable(args, kwargs, f"{cls_ns}() (agent {name!r})")
        slot = AgentSlot(
            self,
            name,
            cls=cls,
            cls_ns=cls_ns,
            args=args,
            kwargs=kwargs,
            restart=restart,
            shutdown=shutdown,
            significant=significant,
            limits=limits,
            recycle_after=recycle_after,
            heartbeat=heartbeat,
            watchdog=watchdog,
            max_pending=max_pending,
            fail_fast=fail_fast,
            resume=resume,
            store=self._store,
        )
        self._children[name] = slot
        try:
            run = await self._start_agent_run(slot)
        except (AgentreeError, TransportClosed) as exc:
            if on_start_failure == "restart" and self._first_start_crashed(kids, slot, exc):
                return SupervisedRef(slot, cls)
            del self._children[name]
            slot.set_gone("its first start failed")
            raise
        except BaseException:
            del self._children[name]
            slot.set_gone("its first start failed")
            raise
        if not await self._launch_or_stop(kids, slot, run):
            raise AgentUnavailable(f"{slot.path!r} was stopped while it started")
        return SupervisedRef(slot, cls)

    async def start_supervisor(
        self,
        name: str,
        *,
        strategy: Strategy = "one_for_one",
        intensity: int = 3,
        period: float = 5.0,
        backoff: Backoff | None = None,
        auto_shutdown: AutoShutdown = "never",
        restart: RestartType = "permanent",
        shutdown: ShutdownPolicy = math.inf,
        significant: bool = False,
    ) -> Supervisor:
        """Start a nested supervisor (in this process) as a child named ``name``.

        Its agents' paths are ``self.path/name/agent``. If it gives up, this
        supervisor sees a crash of that child: restarting it starts its children
        again, in order, from the specs they were started with. Nested intensities
        multiply: see the README's "Supervision" section.

        Raises:
            AgentExists: a child of that name exists.
        """
        sub = Supervisor(
            name,
            f"{self.path}/{name}",
            self._an,
            strategy=strategy,
            intensity=intensity,
            period=period,
            backoff=backoff if backoff is not None else self.backoff,
            auto_shutdown=auto_shutdown,
            parent=self,
        )
        await self._add_sub(sub, "supervisor", restart, shutdown, significant)
        return sub

    async def start_pool(
        self,
        cls: type[A],
        /,
        *args: Any,
        name: str,
        size: int,
        routing: Routing = "least_busy",
        restart: RestartType = "permanent",
        shutdown: ShutdownPolicy = 5.0,
        **options: Any,
    ) -> Pool[A]:
        """Start ``size`` agents ``cls(*args, **kwargs)`` as a pool named ``name``.

        The members (``path/name/0`` ...) are supervised one_for_one by a nested
        supervisor, itself a child of this one. ``options`` are the keyword
        arguments of :meth:`start_agent` (``limits``, ``watchdog``, ...) and the
        agent's constructor keywords.

        Raises:
            ValueError: ``size`` below 1 or an unknown ``routing``.
        """
        from ._pool import ROUTINGS, Pool

        if not isinstance(size, int) or size < 1:
            raise ValueError(f"start_pool(): size must be an int >= 1, not {size!r}")
        if routing not in ROUTINGS:
            raise ValueError(f"start_pool(): routing must be one of {ROUTINGS}, not {routing!r}")
        sub = Supervisor(
            name,
            f"{self.path}/{name}",
            self._an,
            strategy="one_for_one",
            intensity=max(self.intensity, size * self.intensity),
            period=self.period,
            backoff=self.backoff,
            auto_shutdown="never",
            parent=self,
        )
        await self._add_sub(sub, "pool", "permanent", math.inf, False)
        try:
            refs = [
                await sub.start_agent(
                    cls, *args, name=str(i), restart=restart, shutdown=shutdown, **options
                )
                for i in range(size)
            ]
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.terminate_child(name)
            self._children.pop(name, None)
            raise
        return Pool(sub, refs, routing)

    async def _add_sub(
        self,
        sub: Supervisor,
        kind: Literal["supervisor", "pool"],
        restart: RestartType,
        shutdown: ShutdownPolicy,
        significant: bool,
    ) -> None:
        kids = self._check_open()
        name = sub.name
        if name in self._children:
            raise AgentExists(f"supervisor {self.path!r} already has a child named {name!r}")
        _check_name(name)
        check_child_policies(restart, shutdown)
        check_policies(
            strategy=sub.strategy,
            intensity=sub.intensity,
            period=sub.period,
            backoff=sub.backoff,
            auto_shutdown=sub.auto_shutdown,
        )
        slot = SupSlot(
            self, name, sub, kind=kind, restart=restart, shutdown=shutdown, significant=significant
        )
        self._children[name] = slot
        try:
            run = await self._start_sup_run(slot)
        except BaseException:
            del self._children[name]
            slot.set_gone("its first start failed")
            raise
        if not await self._launch_or_stop(kids, slot, run):
            raise AgentUnavailable(f"{slot.path!r} was stopped while it started")

    async def terminate_child(self, name: str) -> None:
        """Stop child ``name`` by its shutdown policy; it is not restarted.

        Its ref then raises ``AgentUnavailable`` (calls waiting for it too) until
        :meth:`restart_child` starts it again. A temporary child is forgotten.

        Raises:
            KeyError: no child of that name.
        """
        slot = self._slot(name)
        if slot.gone is not None and slot.current is None:
            return
        slot.gone = "it was terminated (terminate_child)"
        if slot.cycle is not None:
            slot.cycle.cancel()
        slot.kick()
        await self._stop_slot(slot, "terminated")
        slot.set_gone("it was terminated (terminate_child)")
        if isinstance(slot, SupSlot):
            slot.child._mark_gone(f"its supervisor {slot.path!r} was terminated")
        if slot.restart == "temporary":
            self._children.pop(name, None)

    async def restart_child(self, name: str) -> None:
        """Start child ``name`` again: a terminated child, or a running one (gracefully).

        Not counted toward the intensity. Returns once the new incarnation runs.

        Raises:
            KeyError: no child of that name.
            RemoteActorError / AgentCrashed: the new incarnation failed to start
                (the child then stays terminated).
        """
        kids = self._check_open()
        slot = self._slot(name)
        if slot.cycle is not None:
            slot.cycle.cancel()
        if slot.current is not None:
            await self._stop_slot(slot, "restarting")
        slot.gone = None
        slot.phase = "starting"
        try:
            run = await self._start_run(slot)
        except BaseException:
            slot.set_gone("its restart (restart_child) failed")
            raise
        if not await self._launch_or_stop(kids, slot, run):
            raise AgentUnavailable(f"{slot.path!r} was stopped while it started")

    def which_children(self) -> tuple[ChildInfo, ...]:
        """Every child, in start order, as immutable structs."""
        now = time.monotonic()
        infos = []
        for slot in self._children.values():
            run = slot.current
            infos.append(
                ChildInfo(
                    name=slot.name,
                    path=slot.path,
                    kind=slot.kind,
                    restart=slot.restart,
                    phase=slot.phase,
                    incarnation=slot.incarnation,
                    pid=None if run is None else run.pid,
                    restarts=slot.restarts_in_window(now, self.period),
                    calls_running=slot.calls_running(),
                    calls_queued=slot.calls_queued(),
                )
            )
        return tuple(infos)

    def statistics(self) -> SupervisorStats:
        """The supervisor's counters and its children, as an immutable struct."""
        children = self.which_children()
        return SupervisorStats(
            path=self.path,
            strategy=self.strategy,
            intensity=self.intensity,
            period=self.period,
            restarts_in_window=self._restarts_in_window(time.monotonic()),
            restarts_total=self.restarts_total,
            crashes_total=self.crashes_total,
            calls_running=sum(c.calls_running for c in children),
            calls_queued=sum(c.calls_queued for c in children),
            children=children,
        )

    def _slot(self, name: str) -> Slot:
        try:
            return self._children[name]
        except KeyError:
            raise KeyError(f"supervisor {self.path!r} has no child named {name!r}") from None

    # -- starting incarnations -------------------------------------------------------------

    async def _start_run(self, slot: Slot) -> Run:
        if isinstance(slot, AgentSlot):
            return await self._start_agent_run(slot)
        assert isinstance(slot, SupSlot)
        return await self._start_sup_run(slot)

    async def _start_agent_run(self, slot: AgentSlot) -> AgentRun:
        return await start_incarnation(self._an, slot)

    async def _start_sup_run(self, slot: SupSlot) -> SupRun:
        kids = self._check_open()
        run = SupRun(slot.incarnation + 1)
        slot.phase = "starting"
        await kids.start(self._run_sub, slot, run)
        if run.number > 1:
            await slot.child._start_all_again()
        slot.incarnation = run.number
        return run

    async def _run_sub(
        self, slot: SupSlot, run: SupRun, *, task_status: trio.TaskStatus[None]
    ) -> None:
        try:
            with run.scope:
                await slot.child._serve(task_status=task_status)
        except Exception as exc:
            run.error = exc
        finally:
            run.done.set()
        self._sub_ended(slot, run)

    async def _start_all_again(self) -> None:
        """A restarted nested supervisor: start its children again, in order."""
        kids = self._check_open()
        for slot in list(self._children.values()):
            if slot.gone is not None and slot.restart == "temporary":
                self._children.pop(slot.name, None)
                continue
            slot.gone = None
            slot.attempts = 0
            await self._start_with_retries(kids, slot, first_delay=None)

    async def _launch_or_stop(self, kids: trio.Nursery, slot: Slot, run: Run) -> bool:
        """Launch a new incarnation, unless its child or the supervisor stopped meanwhile."""
        if slot.gone is None and not (self._closing or self._giving_up):
            self._launch(kids, slot, run)
            return True
        slot.current = run
        await self._stop_slot(slot, "shutdown")
        return False

    def _launch(self, kids: trio.Nursery, slot: Slot, run: Run) -> None:
        """An incarnation runs: refs reach it, its watcher starts."""
        slot.set_running(run)
        self._emit_started(slot, run)
        if isinstance(run, AgentRun):
            assert isinstance(slot, AgentSlot)
            kids.start_soon(self._watch_agent, slot, run)

    def _emit_started(self, slot: Slot, run: Run) -> None:
        self._hub.emit(
            ChildStarted(
                supervisor=self.path,
                path=slot.path,
                incarnation=run.number,
                pid=run.pid,
                time=time.monotonic(),
            )
        )

    # -- ends of incarnations ---------------------------------------------------------------

    async def _watch_agent(self, slot: AgentSlot, run: AgentRun) -> None:
        async with trio.open_nursery() as nursery:
            if slot.watchdog is not None or slot.limits is not None or slot.recycle_after:
                nursery.start_soon(_health.watch_health, self, slot, run)
            exit = await run.portal.wait_for_exit()
            nursery.cancel_scope.cancel()
        self._agent_ended(slot, run, exit)

    def _agent_ended(self, slot: AgentSlot, run: AgentRun, exit: ChildExit) -> None:
        run.set_ended()
        if run.stopping or self._closing or self._giving_up:
            return
        if slot.current is run:
            slot.current = None
        now = time.monotonic()
        crash: AgentCrashed | None = None
        if run.crash is not None:
            kind, why, method = run.crash
            cause: ChildExit | BaseException = exit
            if kind == "limit":
                cause = _health.limit_error(slot.path, run.number, why)
            crash = AgentCrashed(
                f"agent {slot.path!r} (incarnation {run.number}) was killed: {why}",
                path=slot.path,
                incarnation=run.number,
                cause=cause,
            )
            self._emit_crash(slot, run, why, kind, exit, method)  # type: ignore[arg-type]
        elif exit.reason == "exited" and exit.returncode == 0:
            self._hub.emit(
                ChildStopped(
                    supervisor=self.path,
                    path=slot.path,
                    incarnation=run.number,
                    reason="exited",
                    time=now,
                )
            )
        else:
            kind = exit_kind(exit)
            why = exit.describe()
            limit = _health.limit_signal(slot, exit)
            cause = exit
            if limit is not None:
                kind, why = "limit", limit
                cause = _health.limit_error(slot.path, run.number, limit)
            crash = AgentCrashed(
                f"agent {slot.path!r} (incarnation {run.number}) crashed: {why}",
                path=slot.path,
                incarnation=run.number,
                cause=cause,
            )
            self._emit_crash(slot, run, why, kind, exit, None)  # type: ignore[arg-type]
        self._after_end(slot, run, crash)

    def _sub_ended(self, slot: SupSlot, run: SupRun) -> None:
        run.set_ended()
        if run.stopping or self._closing or self._giving_up:
            return
        if slot.current is run:
            slot.current = None
        crash: BaseException | None = None
        if run.error is not None:
            crash = run.error
            self._emit_crash(slot, run, str(run.error), "gave_up", None, None)
        else:
            self._hub.emit(
                ChildStopped(
                    supervisor=self.path,
                    path=slot.path,
                    incarnation=run.number,
                    reason="exited",
                    time=time.monotonic(),
                )
            )
        self._after_end(slot, run, crash)
        if slot.gone is not None:
            slot.child._mark_gone(slot.gone)

    def _emit_crash(
        self,
        slot: Slot,
        run: Run,
        why: str,
        kind: Literal["exit", "signal", "lost", "start", "watchdog", "limit", "gave_up"],
        exit: ChildExit | None,
        method: str | None,
    ) -> None:
        self.crashes_total += 1
        self._hub.emit(
            ChildCrashed(
                supervisor=self.path,
                path=slot.path,
                incarnation=run.number,
                cause=why,
                kind=kind,
                exit=exit,
                method=method,
                time=time.monotonic(),
            )
        )

    def _after_end(self, slot: Slot, run: Run, crash: BaseException | None) -> None:
        """Decide what follows an incarnation's own end (crash or clean exit)."""
        restart = slot.restart == "permanent" or (
            slot.restart == "transient" and crash is not None
        )
        if not restart:
            slot.set_gone(
                "it crashed and is temporary" if crash else f"it ended (restart={slot.restart})"
            )
            if slot.restart == "temporary":
                self._children.pop(slot.name, None)
            self._check_auto_shutdown(slot)
            return
        cause = crash or AgentCrashed(
            f"{slot.path!r} ended and is permanent", path=slot.path, incarnation=run.number
        )
        if not self._count_restart(slot, cause):
            return
        stable = time.monotonic() - run.started_at >= self.backoff.reset_after
        slot.attempts = 1 if stable else slot.attempts + 1
        slot.phase = "backoff"
        assert self._kids is not None
        self._kids.start_soon(self._restart, slot, run)

    def _restarts_in_window(self, now: float) -> int:
        while self._restarts and self._restarts[0][0] < now - self.period:
            self._restarts.popleft()
        return len(self._restarts)

    def _count_restart(self, slot: Slot, cause: BaseException) -> bool:
        """Count one restart; give up (and return False) past the intensity."""
        now = time.monotonic()
        self._restarts.append((now, cause))
        slot.restart_times.append(now)
        self.restarts_total += 1
        if self._restarts_in_window(now) > self.intensity:
            self._give_up()
            return False
        return True

    # -- restarts --------------------------------------------------------------------------

    async def _restart(self, slot: Slot, crashed_run: Run) -> None:
        kids = self._kids
        assert kids is not None
        crashed = crashed_run.number
        if isinstance(crashed_run, AgentRun):
            # Its whole subtree is gone before the next incarnation starts.
            await trio.to_thread.run_sync(_health.sweep_subtree, crashed_run.uuid)
        delay = self.backoff.delay(slot.attempts)
        if self.strategy == "one_for_one":
            with trio.CancelScope() as slot.cycle:
                await self._start_with_retries(kids, slot, first_delay=delay)
            slot.cycle = None
            return
        async with self._group_lock:
            if slot.gone is not None or slot.incarnation > crashed:
                return  # an earlier group restart already brought it back
            names = list(self._children)
            index = names.index(slot.name)
            group = [
                s
                for i, s in enumerate(self._children.values())
                if self.strategy == "one_for_all" or i >= index
            ]
            for other in reversed(group):
                if other is not slot and other.current is not None:
                    await self._stop_slot(other, "restarting")
                    if other.restart == "temporary":
                        other.set_gone("a sibling crashed and it is temporary")
                        if isinstance(other, SupSlot):
                            other.child._mark_gone(other.gone or "")
                        self._children.pop(other.name, None)
                    else:
                        other.phase = "backoff"
            for i, member in enumerate(group):
                if member.gone is not None:
                    continue
                await self._start_with_retries(
                    kids,
                    member,
                    first_delay=delay if member is slot else 0.0,
                    counted=member is slot,
                    announce=i == 0 or member is slot,
                )

    def _first_start_crashed(self, kids: trio.Nursery, slot: AgentSlot, exc: Exception) -> bool:
        """``on_start_failure="restart"``: count the failed first start as a crash.

        Returns whether the child stays (its restart is on its way); ``False``
        for a temporary child, or when this crash made the supervisor give up.
        """
        if slot.restart == "temporary":
            return False
        self._emit_crash(slot, Run(slot.incarnation + 1), str(exc), "start", None, None)
        if not self._count_restart(slot, exc):
            return False
        slot.incarnation += 1
        slot.attempts = 1
        kids.start_soon(self._restart_first_start, kids, slot)
        return True

    async def _restart_first_start(self, kids: trio.Nursery, slot: AgentSlot) -> None:
        # Only this child: it never ran, so no sibling depends on it yet.
        with trio.CancelScope() as slot.cycle:
            await self._start_with_retries(
                kids, slot, first_delay=self.backoff.delay(slot.attempts)
            )
        slot.cycle = None

    async def _start_with_retries(
        self,
        kids: trio.Nursery,
        slot: Slot,
        *,
        first_delay: float | None,
        counted: bool = True,
        announce: bool = True,
    ) -> None:
        """Start the next incarnation after ``first_delay``; a failed start is a crash."""
        delay = first_delay
        while True:
            if delay is not None:
                slot.phase = "backoff"
                self._hub.emit(
                    ChildRestarting(
                        supervisor=self.path,
                        path=slot.path,
                        incarnation=slot.incarnation + 1,
                        delay=delay,
                        attempt=slot.attempts,
                        counted=counted,
                        time=time.monotonic(),
                    )
                )
                if delay > 0:
                    await trio.sleep(delay)
            if slot.gone is not None:
                return
            try:
                run = await self._start_run(slot)
            except (AgentreeError, TransportClosed) as exc:
                failed = Run(slot.incarnation + 1)
                self._emit_crash(slot, failed, str(exc), "start", None, None)
                if slot.restart == "temporary":
                    slot.set_gone("its restart failed and it is temporary")
                    self._children.pop(slot.name, None)
                    return
                if not self._count_restart(slot, exc):
                    return
                slot.incarnation += 1
                slot.attempts += 1
                delay = self.backoff.delay(slot.attempts)
                counted = True
                continue
            await self._launch_or_stop(kids, slot, run)
            return

    async def _stop_slot(self, slot: Slot, reason: StopReason) -> None:
        """Stop the running incarnation of ``slot`` on purpose (its end is no crash)."""
        run = slot.current
        if run is None or run.stopping:
            if run is not None:
                await run.ended.wait()
            return
        run.stopping = True
        run.close_to_calls()
        slot.phase = "stopping"
        with trio.CancelScope(shield=True):
            if isinstance(run, AgentRun):
                await self._an.stop_child(run.portal, shutdown=slot.shutdown)
            elif isinstance(run, SupRun):
                assert isinstance(slot, SupSlot)
                await slot.child._close(final=False)
                await run.done.wait()
        run.set_ended()
        if slot.current is run:
            slot.current = None
            if slot.phase == "stopping":
                slot.phase = "stopped"
        self._hub.emit(
            ChildStopped(
                supervisor=self.path,
                path=slot.path,
                incarnation=run.number,
                reason=reason,
                time=time.monotonic(),
            )
        )

    # -- recycling ---------------------------------------------------------------------------

    def _begin_recycle(self, slot: AgentSlot, run: AgentRun, why: str) -> None:
        """Restart ``run`` gracefully once its calls are done; not counted as a crash."""
        if run.draining or run.stopping or self._kids is None or self._closing:
            return
        run.draining = True
        run.close_to_calls()
        self._kids.start_soon(self._recycle, slot, run)

    async def _recycle(self, slot: AgentSlot, run: AgentRun) -> None:
        while run.inflight and not run.ended.is_set():
            run.idle = trio.Event()
            await run.idle.wait()
        if slot.current is not run or run.ended.is_set():
            return
        kids = self._kids
        assert kids is not None
        await self._stop_slot(slot, "recycled")
        slot.phase = "backoff"
        if slot.gone is None:
            await self._start_with_retries(kids, slot, first_delay=0.0, counted=False)

    # -- giving up and auto shutdown ---------------------------------------------------------

    def _give_up(self) -> None:
        if self._giving_up or self._closing:
            return
        self._giving_up = True
        now = time.monotonic()
        causes = [cause for _, cause in self._restarts]
        self._hub.emit(
            GaveUp(
                supervisor=self.path,
                restarts=len(causes),
                intensity=self.intensity,
                period=self.period,
                time=now,
            )
        )
        failure = SupervisorGaveUp(
            f"supervisor {self.path!r} gave up: {len(causes)} restarts in {self.period} s "
            f"(intensity {self.intensity})",
            [c if isinstance(c, Exception) else AgentreeError(repr(c)) for c in causes],
        )
        assert self._kids is not None
        self._kids.start_soon(self._finish_give_up, failure)

    async def _finish_give_up(self, failure: SupervisorGaveUp) -> None:
        with trio.CancelScope(shield=True):
            assert self._kids is not None
            self._kids.cancel_scope.cancel()
            await self._stop_all("shutdown")
            for slot in self._children.values():
                slot.phase = "stopped"
            if self._parent is None:
                self._mark_gone(f"supervisor {self.path!r} gave up")
        self._failure = failure
        self._dead.set()

    def _check_auto_shutdown(self, slot: Slot) -> None:
        if not slot.significant or self.auto_shutdown == "never":
            return
        significant = [s for s in self._children.values() if s.significant]
        if self.auto_shutdown == "any_significant" or all(s.gone for s in significant):
            assert self._kids is not None
            self._kids.start_soon(self._auto_close)

    async def _auto_close(self) -> None:
        await self._close(final=self._parent is None)
