"""The pool of worker processes behind one ``mode="process"`` agent method.

Each worker is an ordinary child actor of the agent's actor (forked by the tree's
forkserver, or started as a subprocess with that start method), running
:mod:`._worker_entry`: it builds its own instance of the agent class once and then
serves method calls over RPC. CPU-bound methods so escape the GIL, and the agent's
own loop stays free while they compute.

- Workers start lazily, one per call that finds no free worker, up to ``workers``;
  beyond that calls wait for a free worker in FIFO order. (Measured on 2 cores: a
  call that starts its worker takes ~15 ms with the forkserver, ~180 ms with
  ``subprocess``, then ~0.2 ms per call. Starting all ``workers`` at the first call
  would cost the same for concurrent calls, which start theirs in parallel, and
  would waste processes on an agent whose calls come one at a time.)
- Nothing is pickled: the class travels as ``module:qualname``, the arguments, the
  state and the result as msgpack. The instance's ``state`` is set from the agent's
  before each call; changes a method makes to ``self`` in a worker stay in that
  worker and never come back to the agent (return what the agent should keep).
- A worker that dies during a call fails that call with :class:`AgentCrashed`
  (``cause``: the worker's :class:`ChildExit`) and is replaced by the next call.
- Cancelling a call SIGKILLs its worker (the method may be computing in C code and
  never look at a cancellation) and the next call starts a fresh one.
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio

from .._exceptions import (
    ActorDied,
    AgentCrashed,
    AgentreeError,
    AgentUnavailable,
    FrameTooLarge,
    MsgEncodeError,
    RemoteActorError,
    TransportClosed,
)
from .._exit import ChildExit
from .._nursery import ActorNursery, open_nursery
from .._portal import Portal
from .._runtime._lookup import ns_of
from ..msg import find_unencodable
from . import _worker_entry

__all__ = ["WorkerPool"]

_ENTRY_MODULE = _worker_entry.__name__
_encoder = msgspec.msgpack.Encoder()


@dataclass(eq=False)
class _Worker:
    """One worker process, as the pool sees it."""

    name: str
    portal: Portal
    pid: int = 0
    # The pool is stopping it (its call was cancelled, or the pool closes).
    stopping: bool = False
    exit: ChildExit | None = None
    gone: trio.Event = field(default_factory=trio.Event)


@dataclass(eq=False)
class _Waiter:
    """A call waiting for a worker: handed a free worker, or a slot to start one."""

    woken: trio.Event = field(default_factory=trio.Event)
    worker: _Worker | None = None
    may_spawn: bool = False
    error: BaseException | None = None


class WorkerPool:
    """Worker processes for one ``mode="process"`` method of one agent incarnation.

    The agent's host starts :meth:`serve` in its nursery (lazily, on the first call
    of the method) and then calls :meth:`run` from any number of tasks.

    Args:
        agent_cls: the agent class; each worker builds its own instance.
        ctor_args: positional arguments of the class's constructor.
        ctor_kwargs: keyword arguments of the class's constructor.
        method_name: the method the pool runs.
        workers: the most worker processes at once.
        path: the agent's path, for errors.
        incarnation: the agent's incarnation, for errors.
    """

    def __init__(
        self,
        *,
        agent_cls: type,
        ctor_args: tuple[Any, ...],
        ctor_kwargs: dict[str, Any],
        method_name: str,
        workers: int,
        path: str,
        incarnation: int,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers!r}")
        self._cls_ns = ns_of(agent_cls)
        # What a worker imports and serves: the entry, the class's and state's modules.
        self._modules = dict.fromkeys([_ENTRY_MODULE, self._cls_ns.partition(":")[0]])
        self._ctor_args = list(ctor_args)
        self._ctor_kwargs = dict(ctor_kwargs)
        self._method = method_name
        self._max = workers
        self._path = path
        self._incarnation = incarnation
        self._label = f"{path}.{method_name}"
        self._an: ActorNursery | None = None
        self._tn: trio.Nursery | None = None
        self._workers: dict[str, _Worker] = {}  # by actor uuid
        self._idle: deque[_Worker] = deque()
        self._busy: set[_Worker] = set()
        self._waiters: deque[_Waiter] = deque()
        # Workers alive, starting, or dying but not reaped yet.
        self._slots = 0
        self._serial = 0
        self._started = trio.Event()
        self._closing = trio.Event()
        self._done = trio.Event()

    def __repr__(self) -> str:
        return (
            f"<WorkerPool {self._label} workers={self._max} "
            f"idle={len(self._idle)} busy={len(self._busy)} waiting={len(self._waiters)}>"
        )

    @property
    def waiting(self) -> int:
        """How many calls wait for a worker."""
        return len(self._waiters)

    @property
    def pids(self) -> list[int]:
        """The pids of the worker processes running now (idle or busy)."""
        return [w.pid for w in (*self._idle, *self._busy) if w.pid]

    # -- lifetime -------------------------------------------------------------------

    async def serve(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Own the workers until :meth:`aclose` or cancellation; reap all of them.

        Run it in the host's nursery (``await nursery.start(pool.serve)``).
        """
        if self._started.is_set():
            raise AgentreeError(f"the process-mode worker pool of {self._label} already ran")
        self._started.set()
        try:
            async with open_nursery(report_exits=True) as an, trio.open_nursery() as tn:
                self._an, self._tn = an, tn
                tn.start_soon(self._watch_exits, an.exit_events())
                task_status.started()
                try:
                    await self._closing.wait()
                finally:
                    self._closing.set()
                    self._fail_waiters()
                    # Busy workers die at once: their calls are failing anyway, and a
                    # method computing in C code would not notice a cancel request.
                    with trio.CancelScope(shield=True):
                        async with trio.open_nursery() as killers:
                            for worker in list(self._busy):
                                killers.start_soon(self._stop_worker, worker)
                    tn.cancel_scope.cancel()
            # Leaving the actor nursery stopped the idle workers (a cancel request
            # each) and reaped every worker.
        finally:
            self._closing.set()
            self._fail_waiters()
            self._idle.clear()
            self._busy.clear()
            self._workers.clear()
            self._done.set()

    async def aclose(self) -> None:
        """Stop every worker and wait until they are reaped. Idempotent."""
        self._closing.set()
        if self._started.is_set():
            await self._done.wait()
        else:
            self._done.set()
            await trio.lowlevel.checkpoint()

    # -- calls ----------------------------------------------------------------------

    async def run(self, args: tuple[Any, ...], kwargs: dict[str, Any], state: Any) -> Any:
        """Run ``instance.<method>(*args, **kwargs)`` in a free worker; return its result.

        The worker's instance gets ``state`` as its ``state`` first. Waits in FIFO
        order while every worker is busy.

        Raises:
            RemoteActorError: the method raised in the worker (or its result cannot
                be sent back: ``MsgEncodeError`` boxed).
            AgentCrashed: the worker process died during the call; the next call
                gets a new worker.
            AgentUnavailable: the pool is closed (the agent is stopping).
            MsgEncodeError: an argument or the state cannot be encoded.
        """
        call_kwargs = self._call_kwargs(args, kwargs, state)
        worker = await self._acquire()
        try:
            result = await worker.portal.run(_worker_entry.call, **call_kwargs)
        except trio.Cancelled:
            self._kill_soon(worker)
            raise
        except TransportClosed as exc:
            if isinstance(exc, ActorDied):
                ended = exc.exit
            else:
                # Its channel broke with the process still running: the nursery kills
                # it ("lost").
                with trio.CancelScope(shield=True):
                    ended = await worker.portal.wait_for_exit()
            if self._closing.is_set():
                raise self._unavailable() from exc
            raise AgentCrashed(
                f"agent {self._path!r} (incarnation {self._incarnation}): the worker process "
                f"running {self._method}() (mode='process') died: {ended.describe()}",
                path=self._path,
                incarnation=self._incarnation,
                cause=ended,
            ) from exc
        except RemoteActorError as exc:
            self._release(worker)
            if self._closing.is_set():
                raise self._unavailable() from exc
            raise self._renamed(exc) from None
        except (MsgEncodeError, FrameTooLarge) as exc:
            # Nothing was sent: the worker is as good as before.
            self._release(worker)
            if isinstance(exc, FrameTooLarge):
                raise
            raise self._unencodable(args, kwargs) from None
        except BaseException:
            self._kill_soon(worker)
            raise
        self._release(worker)
        return result

    def _call_kwargs(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], state: Any
    ) -> dict[str, Any]:
        call_kwargs: dict[str, Any] = {"method": self._method, "args": args, "kwargs": kwargs}
        if state is not None:
            try:
                call_kwargs["state"] = _encoder.encode(state)
            except (TypeError, ValueError, OverflowError) as exc:
                raise MsgEncodeError(
                    f"the state of agent {self._path!r} ({type(state).__name__}) cannot be "
                    f"sent to the worker of {self._method}(): {exc}"
                ) from None
            if isinstance(state, msgspec.Struct):
                state_ns = call_kwargs["state_type"] = ns_of(type(state))
                self._modules[state_ns.partition(":")[0]] = None
        return call_kwargs

    def _unencodable(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> MsgEncodeError:
        named = {f"#{i}": value for i, value in enumerate(args)} | kwargs
        return find_unencodable(named, f"{self._label}()")

    def _renamed(self, exc: RemoteActorError) -> RemoteActorError:
        """The worker's error, naming the agent's method instead of the worker entry."""
        fields: dict[str, Any] = {**exc._fields(), "call": self._label}
        return type(exc)(exc.message, **fields)

    def _unavailable(self) -> AgentUnavailable:
        return AgentUnavailable(
            f"agent {self._path!r} is stopping: the worker processes of {self._method}() "
            "(mode='process') were stopped"
        )

    # -- workers ----------------------------------------------------------------------

    async def _acquire(self) -> _Worker:
        if self._closing.is_set() or self._an is None:
            raise self._unavailable()
        while self._idle:
            worker = self._idle.popleft()
            if worker.exit is None and not worker.portal.channel.closed.is_set():
                self._busy.add(worker)
                return worker
        if self._slots < self._max:
            self._slots += 1
            return await self._spawn_in_slot()
        waiter = _Waiter()
        self._waiters.append(waiter)
        try:
            await waiter.woken.wait()
        except BaseException:
            if waiter.worker is not None:
                self._release(waiter.worker)
            elif waiter.may_spawn:
                self._free_slot()
            else:
                self._waiters.remove(waiter)
            raise
        if waiter.error is not None:
            raise waiter.error
        if waiter.worker is not None:
            return waiter.worker
        return await self._spawn_in_slot()

    async def _spawn_in_slot(self) -> _Worker:
        """Start a worker in the slot the caller holds (freed again if that fails)."""
        try:
            # From here on the worker's exit frees the slot (see _watch_exits).
            worker = await self._start_worker()
        except BaseException:
            self._free_slot()
            raise
        self._busy.add(worker)
        await self._build(worker)
        return worker

    async def _start_worker(self) -> _Worker:
        assert self._an is not None
        self._serial += 1
        name = f"{self._label}#w{self._serial}"
        portal = await self._an.start_actor(name, enable_modules=list(self._modules))
        worker = self._workers[portal.actor_uid[1]] = _Worker(name, portal)
        return worker

    async def _build(self, worker: _Worker) -> None:
        try:
            worker.pid = await worker.portal.run(
                _worker_entry.build,
                cls=self._cls_ns,
                args=self._ctor_args,
                kwargs=self._ctor_kwargs,
                path=self._path,
                incarnation=self._incarnation,
                label=self._label,
            )
        except BaseException as exc:
            self._kill_soon(worker)
            if isinstance(exc, RemoteActorError):
                raise AgentreeError(
                    f"agent {self._path!r}: building the instance for {self._method}() "
                    f"(mode='process') in a worker process failed: {exc.boxed_type_str}: "
                    f"{exc.message}"
                ) from exc
            raise

    def _release(self, worker: _Worker) -> None:
        """Hand a worker that finished a call to the first waiter, or park it idle."""
        self._busy.discard(worker)
        if worker.exit is not None or worker.stopping:
            return
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.worker = worker
            self._busy.add(worker)
            waiter.woken.set()
        else:
            self._idle.append(worker)

    def _free_slot(self) -> None:
        """A worker is gone (or never started): its slot goes to the first waiter."""
        if self._waiters and not self._closing.is_set():
            waiter = self._waiters.popleft()
            waiter.may_spawn = True
            waiter.woken.set()
        else:
            self._slots -= 1

    def _fail_waiters(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            waiter.error = self._unavailable()
            waiter.woken.set()

    def _kill_soon(self, worker: _Worker) -> None:
        """SIGKILL ``worker`` now, without waiting (its exit frees its slot)."""
        worker.stopping = True
        self._busy.discard(worker)
        assert self._tn is not None
        # The kill and the reap run in the pool's nursery, right after this returns.
        with contextlib.suppress(RuntimeError):  # the pool has closed: it reaps anyway
            self._tn.start_soon(self._stop_worker, worker)

    async def _stop_worker(self, worker: _Worker) -> None:
        worker.stopping = True
        self._busy.discard(worker)
        assert self._an is not None
        with contextlib.suppress(AgentreeError):  # it ended already
            await self._an.stop_child(worker.portal, shutdown="brutal_kill")

    async def _watch_exits(self, exits: trio.MemoryReceiveChannel[ChildExit]) -> None:
        """Forget each worker that ended (stopped, killed, crashed) and free its slot."""
        async for ended in exits:
            worker = self._workers.pop(ended.uid[1], None)
            if worker is None:
                continue
            worker.exit = ended
            if worker in self._idle:
                self._idle.remove(worker)
            self._busy.discard(worker)
            worker.gone.set()
            self._free_slot()
