"""The agent's side: the instance, its caps, and serving its method calls.

An agent's actor process hosts one instance. The starter calls :func:`start`, which
builds the instance from its class (by ``module:qualname``) and its constructor
arguments (msgpack), runs ``on_start`` and keeps the agent's life task (background
tasks, process-mode pools) in the actor's service nursery. Every method call is one
plain call of :func:`call`, served like any ``portal.run`` (in the connection's
reader task until it first waits); a call that finds its cap free starts the
method at once, with no queue and no extra task.

A crash (a background task or a ``crash_on_error`` method raising) ends the
process with exit code 1 after ``on_stop("crashed")``: every call in flight then
fails at once, in every caller, as the agent's channels reach end of file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import trio

from .._context import Context, context
from .._exceptions import (
    AgentExists,
    FunctionNotFound,
    MsgEncodeError,
    NoRuntime,
    RemoteActorError,
    StoreError,
)
from .._runtime import Actor, current_actor, current_actor_or_none
from .._runtime._control import track
from .._runtime._lookup import resolve
from ..store._serve import PUT_NS
from ._caps import FifoCap
from ._convert import arg_converter
from ._spec import Agent, MethodSpec
from ._threads import run_in_thread
from ._workers import WorkerPool

__all__ = [
    "CALL_NS",
    "CTX_NS",
    "HOST_MODULE",
    "Host",
    "background",
    "call",
    "checkpoint",
    "ctx_call",
    "host_of",
    "start",
]

log = logging.getLogger("agentree.agents")

HOST_MODULE = __name__
CALL_NS = f"{__name__}:call"
CTX_NS = f"{__name__}:ctx_call"
CRASH_EXIT_CODE = 1

Invoker = Callable[[list[Any], dict[str, Any]], Awaitable[Any]]

_hosts: weakref.WeakKeyDictionary[Actor, Host] = weakref.WeakKeyDictionary()


class _PoolSlot:
    def __init__(self) -> None:
        self.pool: WorkerPool | None = None
        self.ready = trio.Event()


# The host found last: every call looks it up, and a process hosts one agent.
_last: Host | None = None


def host_of(actor: Actor | None) -> Host | None:
    """The agent host of ``actor``, if it hosts an agent."""
    global _last
    host = _last
    if host is not None and host.actor is actor:
        return host
    host = None if actor is None else _hosts.get(actor)
    if host is not None:
        _last = host
    return host


async def _aio_call(fn: Callable[..., Awaitable[Any]], a: Any, k: dict[str, Any]) -> Any:
    return await fn(*a, **k)


class Host:
    """One running agent instance and everything that serves it.

    Args:
        actor: the actor that hosts it.
        agent: the instance.
        ctor: the constructor arguments (for process-mode workers).
    """

    def __init__(self, actor: Actor, agent: Agent, ctor: tuple[list[Any], dict[str, Any]]) -> None:
        cls = type(agent)
        self.actor = actor
        self.agent = agent
        self.cls = cls
        self.ctor = ctor
        self.aio = cls._agentree_loop == "asyncio"
        self.default_cap = FifoCap(cls.max_concurrency)
        self.group_caps = {group: FifoCap(n) for group, n in cls.groups.items()}
        self.threads = trio.CapacityLimiter(cls.max_threads)
        self.nursery: trio.Nursery | None = None
        self.crashing = False
        # The token of the supervisor's store (None: no supervisor, no checkpoints).
        self.store: str | None = None
        # For calls into trio from the asyncio tasks of a loop="asyncio" agent.
        self.token: trio.lowlevel.TrioToken | None = (
            trio.lowlevel.current_trio_token() if self.aio else None
        )
        self._pools: dict[str, _PoolSlot] = {}
        self.invokers: dict[str, Invoker] = {
            name: self._invoker(spec)
            for name, spec in cls._agentree_methods.items()
            if spec.mode != "context"
        }
        # ``agentree tree`` counts the calls queued here (see ``queued_calls``).
        track(self)

    def __repr__(self) -> str:
        return f"<agent {self.agent.path!r} ({self.cls.__qualname__})>"

    def queued_calls(self) -> int:
        """Calls waiting on this agent's own limits: its caps, threads and workers."""
        caps = [self.default_cap, *self.group_caps.values()]
        pools = [slot.pool for slot in self._pools.values() if slot.pool is not None]
        return (
            sum(cap.waiting for cap in caps)
            + self.threads.statistics().tasks_waiting
            + sum(pool.waiting for pool in pools)
        )

    def cap_of(self, spec: MethodSpec) -> FifoCap | None:
        """The cap a method's calls take on the loop, if any."""
        if spec.group is not None:
            return self.group_caps[spec.group]
        if spec.mode in ("async", "context"):
            return self.default_cap
        return None

    # -- invoking methods ------------------------------------------------------------

    def _invoker(self, spec: MethodSpec) -> Invoker:
        bound = getattr(self.agent, spec.name)
        cap = self.cap_of(spec)
        run = self._runner(spec, bound)
        crash = spec.crash_on_error
        convert = arg_converter(getattr(self.cls, spec.name))
        if convert is not None:
            # Typed arguments (Structs, tuples, ...): converted before the cap.
            plain_invoke = self._capped(spec, bound, cap, run, crash)

            async def invoke_typed(a: list[Any], k: dict[str, Any]) -> Any:
                return await plain_invoke(*convert(a, k))

            return invoke_typed
        return self._capped(spec, bound, cap, run, crash)

    def _capped(
        self,
        spec: MethodSpec,
        bound: Callable[..., Any],
        cap: FifoCap | None,
        run: Invoker,
        crash: bool,
    ) -> Invoker:

        if cap is None:

            async def invoke_uncapped(a: list[Any], k: dict[str, Any]) -> Any:
                try:
                    return await run(a, k)
                except Exception as exc:
                    if crash:
                        self.crash(exc)
                    raise

            return invoke_uncapped

        if spec.mode == "async" and not self.aio:
            # The hot path, flat: one coroutine frame between the runtime and the method.
            async def invoke_async(a: list[Any], k: dict[str, Any]) -> Any:
                # A free token is taken without a scheduler pass.
                if not cap.try_acquire():
                    await cap.acquire()
                try:
                    return await bound(*a, **k)
                except Exception as exc:
                    if crash:
                        self.crash(exc)
                    raise
                finally:
                    cap.release()

            return invoke_async

        async def invoke(a: list[Any], k: dict[str, Any]) -> Any:
            if not cap.try_acquire():
                await cap.acquire()
            try:
                return await run(a, k)
            except Exception as exc:
                if crash:
                    self.crash(exc)
                raise
            finally:
                cap.release()

        return invoke

    def _runner(self, spec: MethodSpec, bound: Callable[..., Any]) -> Invoker:
        if spec.mode == "async":
            if self.aio:
                from .. import to_asyncio

                async def run_aio(a: list[Any], k: dict[str, Any]) -> Any:
                    return await to_asyncio.run_task(_aio_call, fn=bound, a=a, k=k)

                return run_aio

            async def run_trio(a: list[Any], k: dict[str, Any]) -> Any:
                return await bound(*a, **k)

            return run_trio
        if spec.mode == "thread":

            async def run_thread(a: list[Any], k: dict[str, Any]) -> Any:
                return await run_in_thread(bound, tuple(a), k, self.threads)

            return run_thread

        async def run_process(a: list[Any], k: dict[str, Any]) -> Any:
            pool = await self._pool(spec)
            return await pool.run(tuple(a), k, self.agent.state)

        return run_process

    async def run_hook(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run an async hook or background function on the agent's loop."""
        if self.aio:
            from .. import to_asyncio

            return await to_asyncio.run_task(_aio_call, fn=fn, a=args, k={})
        return await fn(*args)

    # -- process-mode pools --------------------------------------------------------------

    async def _pool(self, spec: MethodSpec) -> WorkerPool:
        slot = self._pools.get(spec.name)
        if slot is None:
            slot = self._pools[spec.name] = _PoolSlot()
            try:
                pool = WorkerPool(
                    agent_cls=self.cls,
                    ctor_args=tuple(self.ctor[0]),
                    ctor_kwargs=self.ctor[1],
                    method_name=spec.name,
                    workers=spec.workers,
                    path=self.agent.path,
                    incarnation=self.agent.incarnation,
                )
                assert self.nursery is not None
                await self.nursery.start(pool.serve)
                slot.pool = pool
            finally:
                if slot.pool is None:
                    del self._pools[spec.name]
                slot.ready.set()
        await slot.ready.wait()
        if slot.pool is None:
            # The first call's start of the pool failed (it got the error).
            return await self._pool(spec)
        return slot.pool

    # -- life, background tasks, crashes -------------------------------------------------

    async def live(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The agent's life: ``on_start``, then its background tasks until stopped."""
        error: BaseException | None = None
        started = False
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                try:
                    await self.run_hook(self.agent.on_start)
                except BaseException as exc:
                    error = exc
                    nursery.cancel_scope.cancel()
                else:
                    started = True
                    task_status.started()
                    await trio.sleep_forever()
        finally:
            self.nursery = None
            if started and not self.crashing:
                await self._stop_hook("stopped")
        if error is not None:
            raise error

    async def _stop_hook(self, reason: str) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(self.actor.options.cancel_timeout):
            try:
                await self.run_hook(self.agent.on_stop, reason)
            except Exception:
                log.exception("%r: on_stop(%r) raised", self, reason)

    def start_background(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        """Run ``fn(*args)`` for the agent's life; an error it raises crashes it."""
        if self.nursery is None:
            raise NoRuntime(f"{self!r} is not running: start_soon() needs a running agent")
        self.nursery.start_soon(self._guard, fn, args, name=f"{self.agent.path}: {fn!r}")

    async def _guard(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
        try:
            await self.run_hook(fn, *args)
        except Exception as exc:
            self.crash(exc)

    def crash(self, exc: BaseException) -> None:
        """Crash the agent: ``on_stop("crashed")``, then the process ends (code 1).

        The end comes after the current call's reply: the error of a
        ``crash_on_error`` method still reaches its caller.
        """
        if self.crashing:
            return
        self.crashing = True
        log.error("agent %r crashed", self.agent.path, exc_info=exc)
        trio.lowlevel.spawn_system_task(self._die)

    async def _die(self) -> None:
        # Let the task that crashed send its reply first (replies go out without
        # waiting when the socket has room).
        for _ in range(3):
            await trio.lowlevel.checkpoint()
        await self._stop_hook("crashed")
        # Like a child's own exit (agentree._child, which must not be imported here:
        # ``python -m agentree._child`` imports this package first).
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(CRASH_EXIT_CODE)


def background(agent: Agent, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
    """``Agent.start_soon``: find the agent's host and start ``fn`` there."""
    host = host_of(current_actor_or_none())
    if host is None or host.agent is not agent:
        raise NoRuntime(
            f"start_soon({fn!r}): agent {type(agent).__qualname__} is not running here "
            "(background tasks start from on_start or a method)"
        )
    host.start_background(fn, args)


async def checkpoint(agent: Agent) -> None:
    """``Agent.checkpoint``: send the agent's state to its supervisor's store."""
    host = host_of(current_actor_or_none())
    if host is None or host.agent is not agent:
        raise NoRuntime(
            f"checkpoint(): agent {type(agent).__qualname__} is not running here "
            "(checkpoints are taken from on_start, a method or a background task)"
        )
    where = f"checkpoint() of agent {agent.path!r}"
    if host.cls._agentree_state is None:
        raise TypeError(f"{where}: {host.cls.__qualname__} declares no state= type")
    if host.store is None:
        raise StoreError(
            f"{where}: the agent has no store; checkpoints need a supervisor "
            "(agentree.open_supervisor(store=...)), not a plain start_agent"
        )
    try:
        data = msgspec.msgpack.encode(agent.state)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MsgEncodeError(
            f"{where}: the state {agent.state!r} cannot be encoded: {exc}"
        ) from exc
    conn = host.actor.parent_conn
    assert conn is not None
    kwargs = {
        "token": host.store,
        "path": agent.path,
        "data": data,
        "incarnation": agent.incarnation,
    }
    try:
        if host.aio and _in_asyncio_task():
            await _trio_from_asyncio(host, lambda: conn.call(PUT_NS, kwargs))
        else:
            await conn.call(PUT_NS, kwargs)
    except RemoteActorError as exc:
        if exc.boxed_type is not StoreError:
            raise
        # The store refused or failed the write: a StoreError here too.
        raise StoreError(f"{where}: {exc.args[0]}") from exc


def _in_asyncio_task() -> bool:
    """Whether this code runs in an asyncio task (trio's own tasks, as a guest, do not)."""
    import asyncio

    try:
        return asyncio.current_task() is not None
    except RuntimeError:
        return False


async def _trio_from_asyncio(host: Host, fn: Callable[[], Awaitable[Any]]) -> None:
    """Run trio ``fn()`` from an asyncio task of an infected agent; wait for it there.

    ``fn`` runs in a trio system task of the same thread (trio is the loop's guest);
    cancelling the asyncio side cancels it.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    scope = trio.CancelScope()

    async def run() -> None:
        try:
            with scope:
                await fn()
        except BaseException as exc:  # handed to the asyncio side, which raises it
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(None)

    assert host.token is not None
    host.token.run_sync_soon(trio.lowlevel.spawn_system_task, run)
    try:
        await done
    except asyncio.CancelledError:
        host.token.run_sync_soon(scope.cancel)
        raise


def _restore(klass: type[Agent], path: str, state: bytes) -> Any:
    state_type = klass._agentree_state
    if state_type is None:
        raise StoreError(
            f"agent {path!r}: a checkpoint exists but {klass.__qualname__} has no state="
        )
    try:
        return msgspec.msgpack.decode(state, type=state_type)
    except msgspec.DecodeError as exc:
        raise StoreError(
            f"agent {path!r}: its checkpoint does not decode as {state_type.__qualname__}: {exc} "
            "(start it with resume='fresh', or use another run_id)"
        ) from exc


# -- served functions (enabled in every agent's actor) --------------------------------


async def start(
    cls: str,
    a: list[Any],
    k: dict[str, Any],
    path: str,
    incarnation: int,
    store: str | None = None,
    state: bytes | None = None,
) -> int:
    """Build the agent ``cls(*a, **k)`` here, run ``on_start``; return this pid.

    ``store`` is the token of the supervisor's store (for ``checkpoint()``) and
    ``state`` the checkpoint to restore into ``self.state`` before ``on_start``.

    Raises:
        AgentExists: this actor already hosts an agent.
        TypeError: ``cls`` is not an ``Agent`` subclass.
        BaseException: what the constructor or ``on_start`` raised.
    """
    global _last
    actor = current_actor()
    if actor in _hosts:
        raise AgentExists(f"actor {actor.name!r} already hosts agent {_hosts[actor].agent.path!r}")
    klass = resolve(cls, actor.enable_modules, actor.name)
    if not (isinstance(klass, type) and issubclass(klass, Agent)):
        raise TypeError(f"{cls} is not an agentree.Agent subclass")
    agent = klass(*a, **k)
    agent.name = path.rpartition("/")[2]
    agent.path = path
    agent.incarnation = incarnation
    state_type = klass._agentree_state
    if state is not None:
        agent.state = _restore(klass, path, state)
    elif state_type is not None and not isinstance(agent.state, state_type):
        agent.state = state_type()
    host = _hosts[actor] = Host(actor, agent, (a, k))
    host.store = store
    try:
        # The agent's life belongs to the actor, not to this call.
        assert actor._service is not None
        await actor._service.start(host.live)
    except BaseException:
        del _hosts[actor]
        _last = None
        raise
    from ._lookup import register_agent

    await register_agent(path, cls, incarnation)
    return os.getpid()


def _no_method(host: Host | None, m: str, what: str = "method") -> FunctionNotFound:
    if host is None:
        return FunctionNotFound(f"no agent runs in this actor; cannot call {m!r}")
    return FunctionNotFound(
        f"agent {host.agent.path!r} ({host.cls.__qualname__}) has no public {what} {m!r}"
    )


def call(m: str, a: list[Any], k: dict[str, Any] | None = None) -> Awaitable[Any]:
    """Call method ``m(*a, **k)`` of this actor's agent, in the method's mode.

    A plain function that returns the method's coroutine: the runtime drives it
    like any served coroutine, and the call path has one frame fewer.
    """
    host = host_of(current_actor_or_none())
    invoke = None if host is None else host.invokers.get(m)
    if invoke is None:
        raise _no_method(host, m)
    return invoke(a, k or {})


@context
async def ctx_call(ctx: Context, m: str, a: list[Any], k: dict[str, Any] | None = None) -> Any:
    """Serve ``@agentree.context`` method ``m(ctx, *a, **k)`` of this actor's agent."""
    host = host_of(current_actor_or_none())
    spec = None if host is None else host.cls._agentree_methods.get(m)
    if host is None or spec is None or spec.mode != "context":
        raise _no_method(host, m, "context method")
    cap = host.cap_of(spec)
    assert cap is not None
    k = k or {}
    convert = arg_converter(getattr(host.cls, m), skip=2)
    if convert is not None:
        a, k = convert(a, k)
    await cap.acquire()
    try:
        return await getattr(host.agent, m)(ctx, *a, **k)
    except Exception as exc:
        if spec.crash_on_error:
            host.crash(exc)
        raise
    finally:
        cap.release()
