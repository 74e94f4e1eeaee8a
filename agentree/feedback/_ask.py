"""Asking: ``request_feedback`` and the relay that carries a request up the tree.

Every actor serves :func:`feedback_ask`. An actor that has a level for the child
that asked (a supervisor of that child, or the root's handlers) serves it there;
any other actor relays the ask to its parent, like the debugger's terminal lock.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec
import trio

from .._context import Context, context, open_context
from .._exceptions import FeedbackError, NoRuntime
from .._nursery import ActorNursery
from .._runtime import Actor, Conn, current_actor
from ..agents._host import host_of
from ._level import Handler, Level, Link

__all__ = [
    "feedback_ask",
    "open_level",
    "request_feedback",
    "request_feedback_sync",
    "supervisor_level",
]

log = logging.getLogger("agentree.feedback")

T = TypeVar("T")

# The levels of this process: the root's (one per root actor), and the
# supervisors' (each with the uids of its children, through its nursery).
_root_levels: dict[int, tuple[Actor, Level]] = {}
_sup_levels: list[tuple[ActorNursery, Level]] = []


@asynccontextmanager
async def open_level(actor: Actor, handlers: Sequence[Handler]) -> AsyncIterator[None]:
    """Make ``handlers`` the root level of root ``actor`` around the block."""
    level = Level(list(handlers))
    async with trio.open_nursery() as nursery:
        await nursery.start(level.run)
        _root_levels[id(actor)] = (actor, level)
        try:
            yield
        finally:
            _root_levels.pop(id(actor), None)
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def supervisor_level(
    an: ActorNursery, handlers: Sequence[Handler] | None
) -> AsyncIterator[None]:
    """Make ``handlers`` the level of the children of actor nursery ``an``."""
    if not handlers:
        yield
        return
    level = Level(list(handlers))
    entry = (an, level)
    async with trio.open_nursery() as nursery:
        await nursery.start(level.run)
        _sup_levels.append(entry)
        try:
            yield
        finally:
            _sup_levels.remove(entry)
            nursery.cancel_scope.cancel()


def _level_for_child(conn: Conn) -> Level | None:
    for an, level in reversed(_sup_levels):
        if an._actor is conn.actor and conn.peer_uid in an.children:
            return level
    return None


def _root_level(actor: Actor) -> Level | None:
    entry = _root_levels.get(id(actor))
    return entry[1] if entry is not None and entry[0] is actor else None


class _StreamLink:
    def __init__(self, stream: Any, conn: Conn | None = None) -> None:
        self._stream = stream
        self._conn = conn

    def asker_died(self) -> bool:
        return self._conn is not None and self._conn.closed.is_set()

    async def send(self, msg: list[Any]) -> None:
        await self._stream.send(msg)

    async def receive(self) -> list[Any]:
        msg = await self._stream.receive()
        if not isinstance(msg, list) or not msg:
            raise FeedbackError(f"bad feedback message {msg!r}")
        return msg


class _MemLink:
    """The level's end of an ask made in the level's own process."""

    def __init__(
        self, out: trio.MemorySendChannel[list[Any]], inbox: trio.MemoryReceiveChannel[list[Any]]
    ) -> None:
        self._out = out
        self._in = inbox

    async def send(self, msg: list[Any]) -> None:
        await self._out.send(msg)

    async def receive(self) -> list[Any]:
        return await self._in.receive()

    def asker_died(self) -> bool:
        return False


@context
async def feedback_ask(ctx: Context, params: dict[str, Any]) -> None:
    """Serve or relay one feedback request from the actor on ``ctx``'s channel."""
    actor = ctx.chan.actor
    level = _level_for_child(ctx.chan) or _root_level(actor)
    await ctx.started(None)
    async with ctx.open_stream() as stream:
        if level is not None:
            await level.serve(params, _StreamLink(stream, ctx.chan))
            return
        if actor.is_root or actor.parent_conn is None:
            await stream.send(["error", f"no feedback handler in the tree of {actor.name!r}"])
            return
        await _relay(actor.parent_conn, params, stream, ctx.chan)


async def _relay(parent: Conn, params: dict[str, Any], down: Any, below: Conn) -> None:
    async with (
        open_context(parent, feedback_ask, {"params": params}) as (uctx, _),
        uctx.open_stream() as up,
    ):
        try:
            await _pipe(up, down)
        except BaseException:
            if below.closed.is_set():
                # The asker (or a relay below) died: its question stays open above.
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await up.send(["gone"])
            raise


async def _pipe(up: Any, down: Any) -> None:
    async with trio.open_nursery() as nursery:

        async def downward() -> None:
            async for msg in up:
                await down.send(msg)
            nursery.cancel_scope.cancel()

        nursery.start_soon(downward)
        async for msg in down:
            if isinstance(msg, list) and msg and msg[0] in ("withdraw", "gone"):
                with trio.CancelScope(shield=True), trio.move_on_after(5):
                    await up.send(msg)
                break
            await up.send(msg)
        nursery.cancel_scope.cancel()


def asker_of(actor: Actor) -> str:
    """The asker's path: its agent's path, or its actor's name."""
    host = host_of(actor)
    return host.agent.path if host is not None else actor.name


def default_key(asker: str, question: Any) -> str:
    """``asker/QuestionType/digest``: the same for every incarnation of the asker."""
    digest = hashlib.sha256(msgspec.msgpack.encode(question)).hexdigest()[:16]
    return f"{asker}:{type(question).__qualname__}:{digest}"


async def request_feedback(question: Any, *, answer: type[T], key: str | None = None) -> T:
    """Ask the nearest level with feedback handlers, up the tree, and wait for the answer.

    The request climbs from this actor to the nearest supervisor (of this actor's
    agent) or root opened with ``feedback=[...]``; its handlers answer in order.
    Cancelling the caller withdraws the question everywhere: the caller's cancel
    scope is the timeout.

    Args:
        question: the question (any msgspec-encodable value).
        answer: the answer's type; an answer that does not convert to it is refused
            to whoever gave it, and the question stays open.
        key: the request's key (default: the asker's path, the question's type and a
            digest of the question). An answer given while the asker was gone is
            kept under it and given to the next ask with the same key.

    Returns:
        The answer, converted to ``answer``.

    Raises:
        FeedbackError: a handler raised, no handler answered, or no level exists.
        NoRuntime: no actor runs here.
    """
    if not _in_trio_task():
        return await _from_asyncio(question, answer, key)
    return await _request(current_actor(), question, answer, key)


def _in_trio_task() -> bool:
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


async def _from_asyncio(question: Any, answer: type[T], key: str | None) -> T:
    """Ask from an asyncio task of an infected actor: the ask runs as a trio task."""
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise NoRuntime("request_feedback() must be awaited in trio or asyncio code") from None
    if not _runtimes:
        raise NoRuntime("request_feedback(): no actor runs in this process")
    actor, token = _runtimes[-1]
    service = actor._service
    if service is None:
        raise NoRuntime(f"request_feedback(): actor {actor.name!r} is not running")
    done: asyncio.Future[Any] = loop.create_future()
    scope = trio.CancelScope()

    def settle(outcome: Callable[[], None]) -> None:
        if not done.done():
            outcome()

    async def run() -> None:
        with scope:
            try:
                value = await _request(actor, question, answer, key)
            except Exception as exc:
                error = exc
                loop.call_soon_threadsafe(settle, lambda: done.set_exception(error))
            else:
                loop.call_soon_threadsafe(settle, lambda: done.set_result(value))

    token.run_sync_soon(service.start_soon, run)
    try:
        result: T = await done
    except asyncio.CancelledError:
        token.run_sync_soon(scope.cancel)
        raise
    return result


async def _request(actor: Actor, question: Any, answer: type[T], key: str | None) -> T:
    asker = asker_of(actor)
    try:
        msgspec.msgpack.encode(question)
    except (TypeError, msgspec.EncodeError) as exc:
        raise FeedbackError(f"{asker!r}: the question cannot be encoded: {exc}") from None
    params = {
        "key": key if key is not None else default_key(asker, question),
        "question": question,
        "asker": asker,
        "answer": answer_kind(answer),
    }
    level = _root_level(actor)
    if level is not None:
        return await _ask_local(level, params, answer)
    if actor.parent_conn is None:
        raise FeedbackError(f"{asker!r}: no feedback handler in the tree (pass feedback=[...])")
    async with (
        open_context(actor.parent_conn, feedback_ask, {"params": params}) as (ctx, _),
        ctx.open_stream() as stream,
    ):
        return await _asker(_StreamLink(stream), answer, params)


async def _ask_local(level: Level, params: dict[str, Any], answer: type[T]) -> T:
    to_asker, from_level = trio.open_memory_channel[list[Any]](8)
    to_level, from_asker = trio.open_memory_channel[list[Any]](8)
    async with trio.open_nursery() as nursery:

        async def serve() -> None:
            await level.serve(params, _MemLink(to_asker, from_asker))
            await to_asker.aclose()

        nursery.start_soon(serve)
        return await _asker(_MemLink(to_level, from_level), answer, params)


async def _asker(link: Link, answer: type[T], params: dict[str, Any]) -> T:
    try:
        while True:
            try:
                msg = await link.receive()
            except trio.EndOfChannel:
                raise FeedbackError(
                    f"no answer to {params['key']!r}: the level went away"
                ) from None
            if msg[0] == "answer":
                try:
                    value = msgspec.convert(msg[1], answer)
                except msgspec.ValidationError as exc:
                    await link.send(["refused", f"expected {_type_name(answer)}: {exc}"])
                    continue
                await link.send(["ok"])
                return value
            if msg[0] == "error":
                raise FeedbackError(f"{params['asker']!r}: {msg[1]}")
    except trio.Cancelled:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            try:
                await link.send(["withdraw"])
            except Exception as exc:
                log.debug("withdrawing %r: %s", params["key"], exc)
        raise


def answer_kind(tp: Any) -> list[str]:
    """How a person types an answer of type ``tp``: ``[kind, type name]``."""
    for kind in (bool, int, float, str):
        if tp is kind:
            return [kind.__name__, kind.__name__]
    return ["json", _type_name(tp)]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__qualname__", repr(tp))


def request_feedback_sync(question: Any, *, answer: type[T], key: str | None = None) -> T:
    """:func:`request_feedback` for synchronous code in a thread of an actor.

    Works in a trio worker thread (``trio.to_thread``, thread-mode agent methods,
    process-mode workers, which are child actors), and in any other thread of an
    actor's process (an asyncio executor thread of an infected actor, a plain
    ``threading.Thread``). Blocks the thread until the answer comes.

    Raises:
        FeedbackError: called on an event loop's own thread (use ``await
            request_feedback(...)`` there), or as :func:`request_feedback`.
        NoRuntime: no actor runs in this process.
    """
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        pass
    else:
        raise FeedbackError(
            "request_feedback_sync() called on an event loop's thread (trio's or asyncio's): "
            "use await request_feedback()"
        )
    _refuse_asyncio_loop_thread()
    if not _runtimes:
        raise NoRuntime("request_feedback_sync(): no actor runs in this process")
    actor, token = _runtimes[-1]
    return trio.from_thread.run(_request, actor, question, answer, key, trio_token=token)


_runtimes: list[tuple[Actor, trio.lowlevel.TrioToken]] = []


@asynccontextmanager
async def track_runtime(actor: Actor) -> AsyncIterator[None]:
    """Know the actor and trio token of this process while its runtime runs."""
    entry = (actor, trio.lowlevel.current_trio_token())
    _runtimes.append(entry)
    try:
        yield
    finally:
        _runtimes.remove(entry)


def _refuse_asyncio_loop_thread() -> None:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise FeedbackError(
        "request_feedback_sync() called on an event loop's thread (asyncio's): "
        "use await request_feedback()"
    )
