"""Functions that integration tests run in child actors, and helpers to check on them.

Every function here is module-level, so a child actor can find it by
``module:qualname``. Daemons that should serve them are started with
``enable_modules=[MODULE]``. Per-actor state (events, counters) lives in ``_STATE``:
each actor is its own process, so each has its own copy.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Generator
from typing import Any

import trio

import agentree

MODULE = __name__

_STATE: dict[str, Any] = {}


def _event(key: str) -> trio.Event:
    """Return this actor's event named ``key``, creating it on first use.

    Args:
        key: the event's name.

    Returns:
        The event, shared by every call served in this actor.
    """
    event = _STATE.get(key)
    if event is None:
        event = _STATE[key] = trio.Event()
    return event


# -- plain results -------------------------------------------------------------------


async def getpid() -> int:
    """Return the pid of the actor this runs in."""
    return os.getpid()


async def add(x: int, y: int) -> int:
    """Return ``x + y``."""
    return x + y


def add_sync(x: int, y: int) -> int:
    """Return ``x + y`` (a sync function, served all the same)."""
    return x + y


async def echo(value: Any) -> Any:
    """Return ``value`` unchanged."""
    return value


async def whoami() -> dict[str, Any]:
    """Describe the actor this runs in: name, uid, pid and whether it is the root."""
    actor = agentree.current_actor()
    return {
        "name": actor.name,
        "uid": list(actor.uid),
        "pid": os.getpid(),
        "is_root": agentree.is_root_process(),
    }


async def sleep_forever() -> None:
    """Never return (until cancelled)."""
    await trio.sleep_forever()


async def return_unencodable() -> object:
    """Return a value msgspec cannot encode."""
    return object()


# -- concurrency -------------------------------------------------------------------------


async def rendezvous(count: int, index: int) -> int:
    """Return ``index`` once ``count`` calls to this function are running at once.

    Only an actor that serves calls concurrently can answer: with calls run one at
    a time the first one would wait forever.
    """
    _STATE["arrived"] = _STATE.get("arrived", 0) + 1
    if _STATE["arrived"] >= count:
        _event("all-arrived").set()
    await _event("all-arrived").wait()
    return index


async def block_until_cancelled() -> None:
    """Mark this actor as busy in a long call, then never return.

    When the call is cancelled, :func:`wait_call_cancelled` in this actor returns.
    """
    _event("blocked").set()
    try:
        await trio.sleep_forever()
    finally:
        _event("call-cancelled").set()


async def wait_call_cancelled() -> bool:
    """Return ``True`` once a call to :func:`block_until_cancelled` was cancelled here."""
    await _event("call-cancelled").wait()
    return True


async def wait_blocked() -> int:
    """Return this actor's pid once a call to :func:`block_until_cancelled` runs."""
    await _event("blocked").wait()
    return os.getpid()


# -- errors ------------------------------------------------------------------------------


class CustomError(Exception):
    """An exception type of the tests' own."""


async def raise_custom_error(message: str) -> None:
    """Raise ``CustomError(message)`` right away."""
    raise CustomError(message)


async def raise_value_error(message: str) -> None:
    """Raise ``ValueError(message)`` right away."""
    raise ValueError(message)


async def release() -> None:
    """Let :func:`raise_when_released` in this actor go ahead."""
    _event("released").set()


async def raise_when_released(message: str) -> None:
    """Wait until :func:`release` is called in this actor, then raise ``ValueError``."""
    await _event("released").wait()
    raise ValueError(message)


async def nest_and_raise(depth: int, message: str) -> None:
    """Spawn a chain of ``depth`` more actors; the last one raises ``NameError``.

    The actor at each level is named ``level<N>`` (N counts down to 0, the raiser).
    """
    if depth == 0:
        raise NameError(message)
    # Relay the lone error bare (not the nursery's group) so its path shows.
    async with agentree.trionics.collapse_eg(), agentree.open_nursery() as an:
        await an.run_in_actor(
            nest_and_raise, name=f"level{depth - 1}", depth=depth - 1, message=message
        )


async def nest_and_raise_grouped(message: str) -> None:
    """Spawn one actor that raises ``NameError``, without collapsing the group."""
    async with agentree.open_nursery() as an:
        await an.run_in_actor(nest_and_raise, name="leaf", depth=0, message=message)


# -- subtrees ----------------------------------------------------------------------------


async def hold_subtree() -> None:
    """Start a grandchild daemon, record both pids, then hold the subtree forever."""
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("grandchild", enable_modules=[MODULE])
        _STATE["subtree-pids"] = [os.getpid(), await portal.run(getpid)]
        _event("subtree").set()
        await trio.sleep_forever()


async def subtree_pids() -> list[int]:
    """Return ``[this pid, grandchild pid]`` once :func:`hold_subtree` has started it."""
    await _event("subtree").wait()
    return list(_STATE["subtree-pids"])


async def raise_when_cancelled(message: str) -> None:
    """Sleep until cancelled, then fail with ``message`` while unwinding."""
    try:
        await trio.sleep_forever()
    finally:
        raise RuntimeError(message)


# -- call isolation ----------------------------------------------------------------------

_CALL_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("_CALL_VAR", default="unset")


async def set_call_var(value: str) -> str:
    """Set a context variable in this call; return what the call saw before."""
    before = _CALL_VAR.get()
    _CALL_VAR.set(value)
    return before


def set_call_var_sync(value: str) -> str:
    """Like :func:`set_call_var`, as a sync function."""
    before = _CALL_VAR.get()
    _CALL_VAR.set(value)
    return before


async def set_call_var_and_wait(value: str) -> str:
    """Set the variable, wait for :func:`release`, then return what the call sees."""
    _CALL_VAR.set(value)
    await _event("released").wait()
    return _CALL_VAR.get()


def awaitable_add(x: int, y: int) -> Any:
    """A sync function that returns an awaitable which is not a coroutine."""
    return _Sum(x + y)


class _Sum:
    def __init__(self, value: int) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, int]:
        yield from _checkpoint_then(self.value).__await__()
        return self.value


async def _checkpoint_then(value: int) -> int:
    await trio.lowlevel.checkpoint()
    return value
