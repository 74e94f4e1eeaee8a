"""``call(Cls.method, *args, **kwargs)``, typed by the method: one for every agent handle.

A handle that calls an agent's methods (``AgentRef``, ``SupervisedRef``, ``Pool``)
inherits :meth:`MethodCaller.call`: mypy checks the arguments against the method's
signature (``ParamSpec``), and the call's type is the method's return type. Where
the call goes is the handle's own business: it implements :meth:`MethodCaller._call`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from ._spec import Agent

__all__ = ["MethodCaller"]

A = TypeVar("A", bound=Agent)
P = ParamSpec("P")
R = TypeVar("R")


class MethodCaller(Generic[A]):
    """A handle whose ``call`` runs a method of agent class ``A``."""

    __slots__ = ()

    @overload
    async def call(
        self,
        fn: Callable[Concatenate[A, P], Coroutine[Any, Any, R]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R: ...
    @overload
    async def call(
        self, fn: Callable[Concatenate[A, P], R], /, *args: P.args, **kwargs: P.kwargs
    ) -> R: ...
    async def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(agent, *args, **kwargs)`` and return its result.

        ``fn`` is the method as an attribute of the class (``Planner.plan``); it
        runs in its mode (async, thread or process) under the agent's caps.
        Cancelling the caller cancels the call. Which agent runs it, and what
        happens while none runs, is said by the handle's class.

        Raises:
            FunctionNotFound: ``fn`` is not a public method of the agent's class, or
                is a context method (nothing was sent).
            MsgTypeError: an argument or the result does not match the method's
                annotations (arguments and results are converted to them:
                a ``msgspec.Struct`` parameter receives that Struct).
            RemoteActorError: the method raised; the agent keeps serving.
            AgentCrashed: the agent died (or crashed) before answering.
            MsgEncodeError: an argument cannot be sent (nothing was sent).
            AgentRestarting, AgentBusy, AgentUnavailable: a supervised agent does
                not run now, and the call may not wait for it (see ``SupervisedRef``).
        """
        return await self._call(fn, args, kwargs)

    async def _call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Send the call where this handle sends calls, and return its result."""
        raise NotImplementedError
