"""``AgentRef``: a typed handle for calling an agent's methods.

``await ref.call(Cls.method, *args, **kwargs)`` is checked by mypy against the
method's signature (``ParamSpec``), and its type is the method's return type. The
method is checked at the call site too: a function that is not a public method of
the agent's class is refused before anything is sent.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import trio

from .._context import Context, open_context
from .._exceptions import (
    ActorDied,
    ActorTooSlowError,
    AgentCrashed,
    FunctionNotFound,
    RemoteActorError,
    TransportClosed,
)
from .._runtime._ping import PING_NS
from ._calls import MethodCaller
from ._convert import Converter, result_converter
from ._host import CALL_NS, CTX_NS, ctx_call
from ._spec import Agent, MethodSpec

if TYPE_CHECKING:
    from .._runtime import Conn

__all__ = ["AgentRef", "death_of"]

A = TypeVar("A", bound=Agent)
P = ParamSpec("P")


class AgentRef(MethodCaller[A]):
    """A handle on a running agent. Get one from ``start_agent`` or ``find_agent``.

    Attributes:
        path: the agent's path, e.g. ``"app/planner"``.
        pid: the process id of the agent's actor.
        incarnation: which incarnation this ref reaches (1 for the first start).
    """

    __slots__ = ("_cls", "_cls_ns", "_conn", "_names", "incarnation", "path", "pid")

    def __init__(
        self,
        conn: Conn,
        *,
        path: str,
        cls_ns: str,
        pid: int,
        incarnation: int,
        cls: type[A] | None = None,
    ) -> None:
        self._conn = conn
        self.path = path
        self.pid = pid
        self.incarnation = incarnation
        self._cls_ns = cls_ns
        self._cls: type[Agent] | None = cls
        # Functions already checked: every call names its method (and how its
        # result is converted to its return annotation, if it needs to be).
        self._names: dict[Any, tuple[str, Converter | None]] = {}

    def __repr__(self) -> str:
        return (
            f"<AgentRef {self.path!r} ({self._cls_ns}) pid={self.pid} "
            f"incarnation={self.incarnation}>"
        )

    @property
    def agent_class(self) -> type[Agent]:
        """The agent's class (imported here if it was not yet)."""
        if self._cls is None:
            module, _, qualname = self._cls_ns.partition(":")
            obj: Any = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            self._cls = obj
        assert self._cls is not None
        return self._cls

    async def _call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``call``: to the agent's actor, on this ref's connection."""
        known = self._names.get(fn)
        if known is None:
            known = self._check(fn, context=False)
        name, convert = known
        try:
            result = await self._conn.call(
                CALL_NS, {"m": name, "a": args, "k": kwargs} if kwargs else {"m": name, "a": args}
            )
        except TransportClosed as exc:
            raise self._crashed(exc, name) from exc
        except RemoteActorError as exc:
            raise self._remote(exc, name, CALL_NS) from None
        return result if convert is None else convert(result)

    @asynccontextmanager
    async def open_context(
        self,
        fn: Callable[Concatenate[A, Context, P], Coroutine[Any, Any, Any]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> AsyncIterator[tuple[Context, Any]]:
        """Open a dialog with ``@agentree.context`` method ``fn(agent, ctx, ...)``.

        ``async with ref.open_context(Cls.talk, x) as (ctx, first):`` works like
        ``portal.open_context``: ``first`` is the method's ``ctx.started()`` value,
        streams open with ``ctx.open_stream()``.

        Raises:
            FunctionNotFound: ``fn`` is not a context method of the agent's class.
            AgentCrashed: the agent died during the dialog.
        """
        known = self._names.get(fn)
        if known is None:
            known = self._check(fn, context=True)
        name = known[0]
        payload = {"m": name, "a": args, "k": kwargs}
        try:
            async with open_context(self._conn, ctx_call, payload) as pair:
                yield pair
        except TransportClosed as exc:
            if not self._conn.closed.is_set():
                raise
            raise self._crashed(exc, name) from exc
        except RemoteActorError as exc:
            raise self._remote(exc, name, CTX_NS) from None

    async def ping(self, timeout: float | None = None) -> float:  # noqa: ASYNC109
        """A sign of life from the agent's actor; the round trip in seconds.

        Answered by the actor's runtime without running user code, so it bypasses
        every cap: it goes unanswered only when the agent's loop is blocked. A
        ``SupervisedRef`` pings the running incarnation; while the agent restarts
        it waits for the next one (``timeout`` included), like a call.

        Raises:
            ActorTooSlowError: no answer within ``timeout`` seconds.
            AgentCrashed: the agent died (the incarnation, before answering).
            AgentRestarting, AgentBusy, AgentUnavailable: as for a supervised call.
        """
        start = time.perf_counter()
        with trio.move_on_after(math.inf if timeout is None else timeout):
            await self._ping()
            return time.perf_counter() - start
        raise ActorTooSlowError(f"agent {self.path!r} did not answer a ping within {timeout} s")

    async def _ping(self) -> None:
        """Send one ping where this ref's calls go, and wait for the answer."""
        try:
            await self._conn.call(PING_NS, {})
        except TransportClosed as exc:
            raise self._crashed(exc, "ping") from exc

    # -- checks and errors ------------------------------------------------------------

    def _check(self, fn: Callable[..., Any], *, context: bool) -> tuple[str, Converter | None]:
        cls = self.agent_class
        name = getattr(fn, "__name__", None)
        if not isinstance(name, str):
            raise FunctionNotFound(f"{fn!r} is not a method of agent class {cls.__qualname__}")
        if name.startswith("_"):
            raise FunctionNotFound(
                f"{cls.__qualname__}.{name} is private: agents serve public methods only"
            )
        spec: MethodSpec | None = cls._agentree_methods.get(name)
        if spec is None or not any(vars(k).get(name) is fn for k in cls.__mro__):
            raise FunctionNotFound(
                f"{getattr(fn, '__qualname__', fn)!r} is not a public method of agent class "
                f"{cls.__qualname__} (agent {self.path!r}); pass it as Class.method"
            )
        if context and spec.mode != "context":
            raise FunctionNotFound(
                f"{cls.__qualname__}.{name} is not an @agentree.context method: use call()"
            )
        if not context and spec.mode == "context":
            raise FunctionNotFound(
                f"{cls.__qualname__}.{name} is an @agentree.context method: use open_context()"
            )
        known = self._names[fn] = (name, None if context else result_converter(fn))
        return known

    def _crashed(self, exc: TransportClosed, name: str) -> AgentCrashed:
        how, cause = death_of(exc)
        return self._died(name, self.incarnation, how, cause)

    def _died(self, name: str, incarnation: int, how: str, cause: Any) -> AgentCrashed:
        """The error of a call to ``name`` whose agent (that incarnation) died: ``how``."""
        return AgentCrashed(
            f"agent {self.path!r} (incarnation {incarnation}) died during "
            f"{self.agent_class.__qualname__}.{name}(): {how}",
            path=self.path,
            incarnation=incarnation,
            cause=cause,
        )

    def _remote(self, exc: RemoteActorError, name: str, ns: str) -> BaseException:
        if exc.boxed_type is AgentCrashed:
            # A process-mode worker died: that call failed, the agent lives on.
            return AgentCrashed(
                f"agent {self.path!r}: {exc.message}",
                path=self.path,
                incarnation=self.incarnation,
                cause=exc,
            )
        # Name the method, not the host function that served it.
        where = f"{self.agent_class.__qualname__}.{name}"
        if exc.call == ns:
            exc.call = where
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (exc.args[0].replace(f"{ns}()", f"{where}()"), *exc.args[1:])
        return exc


def death_of(exc: TransportClosed) -> tuple[str, Any]:
    """How an agent's actor ended, told by the end of its channel, and the cause to chain.

    Returns:
        The description (the exit code or signal of a child that died) and the
        cause: the child's ``ChildExit``, else the error itself.
    """
    if isinstance(exc, ActorDied):
        return exc.exit.describe(), exc.exit
    return str(exc), exc
