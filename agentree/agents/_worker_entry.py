"""What a process-mode worker serves: one agent instance, and method calls on it.

A worker is an ordinary child actor of the agent's actor (see ``_workers``) whose
``enable_modules`` are this module and the modules of the agent class and its state
type. Its parent calls :func:`build` once, then :func:`call` for each method call.
Everything travels as msgpack: the class and the state type by ``module:qualname``,
the arguments, the state and the result as values. Nothing is pickled.

A worker process hosts exactly one instance, so this module keeps it in a global.
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any

import msgspec
import trio

from .._exceptions import AgentreeError, MsgEncodeError
from .._runtime import current_actor
from .._runtime._lookup import resolve
from ._convert import arg_converter
from ._spec import Agent

__all__ = ["build", "call", "hosted_path"]

_encoder = msgspec.msgpack.Encoder()


class _Hosted:
    """The worker's one agent instance and what it needs to serve calls."""

    def __init__(self, instance: Any, label: str) -> None:
        self.instance = instance
        self.label = label
        self.state_types: dict[str, Any] = {}


_hosted: _Hosted | None = None


def hosted_path() -> str | None:
    """The path of the agent this worker process serves, if it is one (for feedback)."""
    hosted = _hosted
    if hosted is not None and isinstance(hosted.instance, Agent):
        return hosted.instance.path
    return None


def _lookup(ns: str) -> Any:
    actor = current_actor()
    return resolve(ns, actor.enable_modules, actor.name)


async def build(
    cls: str, args: list[Any], kwargs: dict[str, Any], path: str, incarnation: int, label: str
) -> int:
    """Build this worker's instance as ``cls(*args, **kwargs)``; return our pid.

    An :class:`Agent` instance gets the agent's ``name``, ``path`` and
    ``incarnation``, as in the agent's own process.

    Args:
        cls: the agent class as ``module:qualname``.
        args: the constructor's positional arguments.
        kwargs: the constructor's keyword arguments.
        path: the agent's path.
        incarnation: the agent's incarnation.
        label: ``path.method`` of the pool, for error messages.
    """
    global _hosted
    if _hosted is not None:
        raise AgentreeError(f"process-mode worker for {label} was built twice")
    klass = _lookup(cls)
    if not isinstance(klass, type):
        raise TypeError(f"{cls} is not a class; cannot build the agent of {label}")
    instance = klass(*args, **kwargs)
    if isinstance(instance, Agent):
        instance.name = path.rpartition("/")[2]
        instance.path = path
        instance.incarnation = incarnation
    _hosted = _Hosted(instance, label)
    return os.getpid()


async def call(
    method: str,
    args: list[Any],
    kwargs: dict[str, Any],
    state: bytes | None = None,
    state_type: str | None = None,
) -> msgspec.Raw:
    """Run ``instance.<method>(*args, **kwargs)`` after setting ``instance.state``.

    A sync method runs in a worker thread, so this actor's loop keeps serving its
    parent (a cancel request, a ping) while the method computes; an ``async def``
    method runs on this actor's loop.

    Args:
        method: the method's name.
        args: its positional arguments.
        kwargs: its keyword arguments.
        state: the agent's ``state``, msgpack-encoded, when it has one.
        state_type: the state's type as ``module:qualname``, to decode ``state``
            into; ``None`` for a plain value.

    Returns:
        The method's result, already encoded (it is encoded once, here, so that an
        unsendable result is reported by name).

    Raises:
        MsgEncodeError: the result cannot be sent back as msgpack.
    """
    hosted = _hosted
    if hosted is None:
        raise AgentreeError("process-mode worker called before it was built")
    if state is not None:
        hosted.instance.state = _decode_state(hosted, state, state_type)
    fn = getattr(hosted.instance, method)
    # Typed arguments (Structs, tuples), as the agent's host converts them.
    convert = arg_converter(getattr(type(hosted.instance), method))
    if convert is not None:
        args, kwargs = convert(args, kwargs)
    if inspect.iscoroutinefunction(fn):
        result = await fn(*args, **kwargs)
    else:
        # Abandoned on cancel: the parent kills a worker whose call it cancels, and
        # a worker asked to stop exits without waiting for the thread.
        result = await trio.to_thread.run_sync(
            functools.partial(fn, *args, **kwargs), abandon_on_cancel=True
        )
    try:
        return msgspec.Raw(_encoder.encode(result))
    except (TypeError, ValueError, OverflowError) as exc:
        raise MsgEncodeError(
            f"{hosted.label}() (mode='process') returned a {type(result).__name__} value "
            f"that cannot be sent back as msgpack: {exc}"
        ) from None


def _decode_state(hosted: _Hosted, state: bytes, state_type: str | None) -> Any:
    if state_type is None:
        return msgspec.msgpack.decode(state)
    decoder = hosted.state_types.get(state_type)
    if decoder is None:
        decoder = hosted.state_types[state_type] = msgspec.msgpack.Decoder(_lookup(state_type))
    return decoder.decode(state)
