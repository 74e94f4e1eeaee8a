"""Context functions and async generators that the context and stream tests run.

Child actors report what they saw through ``_STATE`` (each actor has its own copy),
which the tests read back with :func:`report`, a plain call over the same channel.
"""

from __future__ import annotations

import os
import resource
from typing import Any

import msgspec
import trio

import agentree

MODULE = __name__

_STATE: dict[str, Any] = {}


def _event(key: str) -> trio.Event:
    event = _STATE.get(key)
    if event is None:
        event = _STATE[key] = trio.Event()
    return event


async def report(key: str) -> Any:
    """Return what this actor recorded under ``key``, once it recorded it."""
    await _event(f"set:{key}").wait()
    return _STATE[key]


def _record(key: str, value: Any) -> None:
    _STATE[key] = value
    _event(f"set:{key}").set()


async def getpid() -> int:
    """Return this actor's pid."""
    return os.getpid()


# -- plain dialogs ---------------------------------------------------------------------


@agentree.context
async def echo_server(ctx: agentree.Context, greeting: str = "hi") -> int:
    """Start with ``greeting``, echo every stream item back; return how many."""
    await ctx.started(greeting)
    count = 0
    async with ctx.open_stream() as stream:
        async for msg in stream:
            await stream.send(msg)
            count += 1
    return count


@agentree.context
async def fail_after_started(ctx: agentree.Context, message: str) -> None:
    """Start, then raise ``ValueError(message)``."""
    await ctx.started(None)
    raise ValueError(message)


@agentree.context
async def fail_before_started(ctx: agentree.Context, message: str) -> None:
    """Raise ``KeyError(message)`` before ever starting."""
    raise KeyError(message)


@agentree.context
async def return_without_started(ctx: agentree.Context) -> int:
    """Return at once, never calling ``ctx.started()``."""
    return 1


@agentree.context
async def sleep_and_record(ctx: agentree.Context, key: str) -> None:
    """Start, then sleep; record how the task ended under ``key``."""
    await ctx.started(os.getpid())
    try:
        await trio.sleep_forever()
    except trio.Cancelled:
        _record(key, "cancelled")
        raise
    except BaseException as exc:
        _record(key, f"{type(exc).__name__}")
        raise


@agentree.context
async def stream_and_record(ctx: agentree.Context, key: str) -> None:
    """Start, open the stream, send items forever; record how the task ended."""
    await ctx.started(None)
    try:
        async with ctx.open_stream() as stream:
            i = 0
            while True:
                await stream.send(i)
                i += 1
    except trio.Cancelled:
        _record(key, "cancelled")
        raise
    except BaseException as exc:
        _record(key, f"{type(exc).__name__}")
        raise


@agentree.context
async def receive_and_record(ctx: agentree.Context, key: str) -> None:
    """Start, receive items until the stream ends; record how the task ended."""
    await ctx.started(None)
    try:
        async with ctx.open_stream() as stream:
            async for _ in stream:
                pass
    except trio.Cancelled:
        _record(key, "cancelled")
        raise
    except agentree.RemoteActorError as exc:
        _record(key, {"type": type(exc).__name__, "boxed": exc.boxed_type_str, "msg": exc.message})
        raise
    _record(key, "ended")


@agentree.context
async def send_then_return(ctx: agentree.Context, count: int) -> str:
    """Send ``count`` items, then return (without closing the stream first)."""
    await ctx.started(None)
    async with ctx.open_stream() as stream:
        for i in range(count):
            await stream.send(i)
    return "all sent"


@agentree.context
async def cancel_self(ctx: agentree.Context) -> None:
    """Start, then cancel this side of the context."""
    await ctx.started(None)
    await ctx.cancel()
    await trio.sleep_forever()


# -- cancellation by a third actor -----------------------------------------------------


@agentree.context
async def watch_leaf(ctx: agentree.Context) -> dict[str, Any]:
    """Start a leaf actor and a context with it; report how that context ended.

    The test (the root) cancels the leaf through :func:`cancel_leaf` while this
    context waits: the root is then a third actor to the dialog between this actor
    and the leaf.
    """
    async with agentree.open_nursery() as an:
        leaf = await an.start_actor("leaf", enable_modules=[MODULE])
        _STATE["leaf"] = leaf
        try:
            async with leaf.open_context(sleep_and_record, key="leaf") as (lctx, _):
                await ctx.started(list(leaf.actor_uid))
                await lctx.wait_for_result()
        except agentree.ContextCancelled as exc:
            return {"type": type(exc).__name__, "canceller": list(exc.canceller or ())}
    return {"type": "no error"}


async def cancel_leaf() -> bool:
    """Ask the leaf started by :func:`watch_leaf` to cancel itself."""
    portal: agentree.Portal = _STATE["leaf"]
    return await portal.cancel_actor()


# -- streams ---------------------------------------------------------------------------


async def count_to(n: int, key: str = "gen") -> Any:
    """An async generator of ``0 .. n-1``; records how it ended under ``key``."""
    try:
        for i in range(n):
            yield i
    except BaseException as exc:
        _record(key, type(exc).__name__)
        raise
    _record(key, "exhausted")


async def gen_fail_at(n: int) -> Any:
    """Yield ``0 .. n-1``, then raise ``ValueError``."""
    for i in range(n):
        yield i
    raise ValueError(f"generator failed after {n}")


@agentree.context
async def send_until_overrun(ctx: agentree.Context) -> int:
    """Send without the peer reading, with ``allow_overruns=False``: return the count
    of items sent before ``StreamOverrun``.

    Waits for the opener's hello first: once it came, the opener's window is granted
    (without it, up to ``INITIAL_WINDOW`` items may go ahead of the grant).
    """
    await ctx.started(None)
    sent = 0
    async with ctx.open_stream(allow_overruns=False) as stream:
        assert await stream.receive() == "hello"
        try:
            while True:
                await stream.send(sent)
                sent += 1
        except agentree.StreamOverrun as exc:
            _record("overrun", str(exc))
    return sent


@agentree.context
async def count_sends(ctx: agentree.Context, total: int) -> int:
    """Send ``total`` items as fast as the peer allows, counting them in ``_STATE``."""
    await ctx.started(None)
    _STATE["sent"] = 0
    async with ctx.open_stream() as stream:
        for i in range(total):
            await stream.send(i)
            _STATE["sent"] = i + 1
    return total


async def sent_so_far() -> int:
    """How many items :func:`count_sends` has sent."""
    return int(_STATE["sent"])


@agentree.context
async def slow_consumer(ctx: agentree.Context, every: int) -> dict[str, Any]:
    """Receive ``[index, payload]`` items, checking their order; sleep a little every
    ``every`` items. Returns the count, whether the order held, and the peak RSS
    growth in bytes while receiving."""
    await ctx.started(os.getpid())
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    count = 0
    in_order = True
    async with ctx.open_stream() as stream:
        async for index, payload in stream:
            if index != count or len(payload) != 1024:
                in_order = False
            count += 1
            if count % every == 0:
                await trio.sleep(0.001)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"count": count, "in_order": in_order, "peak_growth": (peak - base) * 1024}


@agentree.context
async def stream_forever(ctx: agentree.Context) -> None:
    """Start with this pid, then send items forever."""
    await ctx.started(os.getpid())
    async with ctx.open_stream() as stream:
        i = 0
        while True:
            await stream.send(i)
            i += 1


@agentree.context
async def broadcast_source(ctx: agentree.Context, n: int) -> None:
    """Send ``0 .. n-1`` on the stream, then close it."""
    await ctx.started(None)
    async with ctx.open_stream() as stream:
        for i in range(n):
            await stream.send({"seq": i})


# -- typed payloads --------------------------------------------------------------------


class Point(msgspec.Struct):
    """A typed payload."""

    x: int
    y: int


@agentree.context(pld_spec=Point)
async def typed_echo(ctx: agentree.Context, bad: str = "") -> None:
    """Typed dialog: start with a point, then echo points, each moved by one.

    ``bad`` makes this side send a payload that breaks the spec: ``"started"`` as its
    first value, ``"stream"`` as a stream item. How the peer's verdict came back is
    recorded under ``"typed"``.
    """
    if bad == "started":
        await ctx.started({"x": "one", "y": 2})
    else:
        await ctx.started(Point(0, 0))
    try:
        async with ctx.open_stream() as stream:
            if bad == "stream":
                await stream.send({"x": 1, "y": "two"})
            async for point in stream:
                await stream.send(Point(point.x + 1, point.y + 1))
    except agentree.RemoteActorError as exc:
        _record("typed", {"boxed": exc.boxed_type_str, "msg": exc.message})
        raise
    except agentree.MsgTypeError as exc:
        _record("typed", {"local": type(exc).__name__, "msg": str(exc)})
        raise
