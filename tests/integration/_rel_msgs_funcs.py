"""Functions that ``test_reliability_msgs`` runs in child actors.

Module-level, so children find them by ``module:qualname``; daemons enable ``MODULE``
(and ``AIO_MODULE`` for the infected-asyncio ones). Per-actor state lives in
``_STATE``: each actor is its own process, so each has its own copy.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import trio

import agentree
from agentree import to_asyncio

MODULE = __name__

_STATE: dict[str, Any] = {}


def _event(key: str) -> trio.Event:
    event = _STATE.get(key)
    if event is None:
        event = _STATE[key] = trio.Event()
    return event


# -- exceptions that resist being boxed ----------------------------------------------------


class UnprintableError(Exception):
    """An exception whose ``str()`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken on purpose")


class HopelessError(Exception):
    """An exception whose ``str()`` and ``repr()`` both raise."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken on purpose")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ is broken on purpose")


async def raise_unprintable(kind: str) -> None:
    """Raise an exception whose ``str()`` (``kind="str"``) or also ``repr()`` raises."""
    _event("raising").set()
    if kind == "str":
        raise UnprintableError("the real message")
    raise HopelessError("the real message")


async def raise_huge(lines: int, line_size: int, depth: int = 0) -> None:
    """Raise a ``ValueError`` whose message has ``lines`` lines of ``line_size`` chars.

    Line ``i`` starts with ``line-i:``. With ``depth``, the error is raised at the end
    of ``depth`` nested calls, and chained to as many earlier errors, for a huge
    traceback as well.
    """
    body = "\n".join(f"line-{i}:" + "x" * line_size for i in range(lines))
    if depth:
        _raise_chained(depth, body)
    raise ValueError(body)


def _raise_chained(depth: int, body: str) -> None:
    try:
        if depth > 1:
            _raise_chained(depth - 1, body)
        raise KeyError(f"inner error {depth}: " + "y" * 1000)
    except Exception as exc:
        raise ValueError(body if depth == 1 else f"level {depth}: " + "z" * 1000) from exc


async def raise_huge_traceback(depth: int) -> None:
    """Raise a short ``ValueError`` chained to ``depth`` earlier errors (a huge traceback)."""
    _raise_chained_short(depth)


def _raise_chained_short(depth: int) -> None:
    try:
        if depth > 1:
            _raise_chained_short(depth - 1)
        raise KeyError(f"innermost {depth}")
    except Exception as exc:
        raise ValueError(f"level {depth}: " + "q" * 10_000) from exc


# -- calls that take time to unwind when cancelled -------------------------------------


async def unwind_slowly(kind: str, key: str, delay: float) -> str:
    """Block until cancelled, then take ``delay`` seconds to unwind.

    ``kind`` says how: ``"instant"`` (no delay at all), ``"shield"`` (a shielded
    cleanup), ``"thread"`` (waiting for a thread that cannot be abandoned), or
    ``"asyncio"`` (an asyncio task that cleans up when cancelled; needs an infected
    actor). :func:`wait_running` returns once ``key`` is running.
    """
    running = _STATE.setdefault("running", {})
    running[key] = running.get(key, 0) + 1
    _event("running-changed").set()
    if kind == "thread":
        # A worker thread that is not abandoned: the call ends when the thread does,
        # ``delay`` seconds after it learns of the cancellation.
        cancelled = threading.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_set_when_cancelled, cancelled)
            await trio.to_thread.run_sync(_wait_then_linger, cancelled, delay)
        return "unreachable"
    if kind == "asyncio":
        return await to_asyncio.run_task(_aio_block_then_clean_up, delay=delay)
    try:
        await trio.sleep_forever()
    finally:
        if kind == "shield":
            with trio.CancelScope(shield=True):
                await trio.sleep(delay)
    return "unreachable"


async def _set_when_cancelled(event: threading.Event) -> None:
    try:
        await trio.sleep_forever()
    finally:
        event.set()


def _wait_then_linger(event: threading.Event, delay: float) -> None:
    event.wait()
    time.sleep(delay)


async def _aio_block_then_clean_up(delay: float) -> str:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await asyncio.shield(asyncio.sleep(delay))
        raise
    return "unreachable"


async def wait_running(key: str, count: int = 1) -> int:
    """Return once ``count`` calls of :func:`unwind_slowly` for ``key`` have started."""
    running = _STATE.setdefault("running", {})
    while running.get(key, 0) < count:
        _STATE["running-changed"] = trio.Event()
        await _event("running-changed").wait()
    return running[key]


async def ping() -> str:
    """Answer at once (the actor still serves)."""
    return "pong"


async def fail_when_released(kind: str) -> None:
    """Wait until :func:`release` is called, then raise an unprintable exception."""
    _event("waiting").set()
    await _event("release").wait()
    await raise_unprintable(kind)


async def wait_waiting() -> None:
    """Return once a :func:`fail_when_released` call waits."""
    await _event("waiting").wait()


async def release() -> None:
    """Let :func:`fail_when_released` go on."""
    _event("release").set()


async def sleep_then_return(delay: float) -> str:
    """Sleep ``delay`` seconds, then return ``"done"``."""
    await trio.sleep(delay)
    return "done"


# -- streams ------------------------------------------------------------------------------


@agentree.context
async def never_open_stream(ctx: agentree.Context) -> str:
    """Start, then never open a stream; return once the opener says so."""
    await ctx.started()
    await _event("stop").wait()
    return "stopped"


@agentree.context
async def open_but_never_consume(ctx: agentree.Context) -> str:
    """Open a stream with a small window and never read it until told to."""
    await ctx.started()
    async with ctx.open_stream(msg_buffer_size=4) as stream:
        await stream.send("open")
        await _event("stop").wait()
    return "stopped"


async def never_returns_until_stop() -> str:
    """Return ``"stopped"`` once :func:`stop` was called."""
    await _event("stop").wait()
    return "stopped"


async def stop() -> None:
    """Let the stream contexts above return."""
    _event("stop").set()


@agentree.context
async def open_late_and_collect(ctx: agentree.Context, count: int) -> list[int]:
    """Open a stream (window 8) only once told to, then read ``count`` items once told."""
    await ctx.started()
    await _event("open").wait()
    async with ctx.open_stream(msg_buffer_size=8) as stream:
        await stream.send("open")
        await _event("consume").wait()
        items = [await stream.receive() for _ in range(count)]
    return items


async def set_event(key: str) -> None:
    """Set this actor's event ``key``."""
    _event(key).set()


async def return_deeply_nested(depth: int) -> list[Any]:
    """Return a list nested ``depth`` levels deep (msgspec cannot encode it)."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@agentree.context
async def ctx_unwind_slowly(ctx: agentree.Context, delay: float) -> str:
    """Start, then block until cancelled, then take ``delay`` seconds (shielded) to unwind."""
    await ctx.started("running")
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await trio.sleep(delay)
    return "unreachable"
