"""Asking: ``request_feedback``, and the levels of this process.

An ask goes over this actor's feedback link (see ``_link``): the first one to
the parent, which serves it or relays it up the tree; later ones straight to
the level that answered the first. An ask in a process that has the root's level
is served there without any message.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar

import msgspec
import trio

from .._exceptions import FeedbackError, NoRuntime
from .._nursery import ActorNursery
from .._runtime import Actor, Conn, current_actor
from .._runtime._peers import connect_peer
from ..agents._host import host_of
from ..agents._worker_entry import hosted_path
from ..store._base import Store, check_store_options
from ._journal import Journal, StoreJournal
from ._level import Handler, Level
from ._link import Slot, levels_by_id, uplink_to

__all__ = [
    "level_for_child",
    "open_level",
    "request_feedback",
    "request_feedback_sync",
    "root_level",
    "root_store_of",
    "supervisor_level",
]

log = logging.getLogger("agentree.feedback")

T = TypeVar("T")

# The levels of this process: the root's (one per root actor), and the
# supervisors' (each with the uids of its children, through its nursery).
_root_levels: dict[int, tuple[Actor, Level]] = {}
_sup_levels: list[tuple[ActorNursery, Level]] = []


@asynccontextmanager
async def _serving(actor: Actor, level: Level) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        await nursery.start(level.run)
        levels_by_id[level.id] = (actor, level)
        try:
            yield
        finally:
            levels_by_id.pop(level.id, None)
            nursery.cancel_scope.cancel()


ROOT_SCOPE = "root"

# The store and run id of each root actor of this process (``open_root_actor``'s
# ``store=`` and ``run_id=``): the defaults of the supervisors opened in it.
_root_stores: dict[int, tuple[Actor, Store | None, str | None]] = {}


@asynccontextmanager
async def open_level(
    actor: Actor,
    handlers: Sequence[Handler] | None,
    *,
    store: Store | None = None,
    run_id: str | None = None,
) -> AsyncIterator[None]:
    """Make ``handlers`` the root level of root ``actor`` around the block.

    With ``store``, the level's journal is kept there under ``run_id`` (default: a
    new random id), in the root's scope; ``store`` and ``run_id`` are also the
    defaults of the supervisors opened in this process (:func:`root_store_of`).

    Raises:
        TypeError / ValueError: a bad ``store`` or ``run_id``.
        StoreError: the store cannot be opened.
    """
    check_store_options("open_root_actor()", store, run_id)
    if store is not None and run_id is None:
        run_id = uuid.uuid4().hex
    async with AsyncExitStack() as stack:
        journal: Journal | None = None
        if store is not None:
            assert run_id is not None
            await store.open()
            stack.push_async_callback(_close_store, store)
            journal = StoreJournal(store, run_id, ROOT_SCOPE)
        _root_stores[id(actor)] = (actor, store, run_id)
        stack.callback(_root_stores.pop, id(actor), None)
        if handlers:
            level = Level(list(handlers), journal)
            await stack.enter_async_context(_serving(actor, level))
            _root_levels[id(actor)] = (actor, level)
            stack.callback(_root_levels.pop, id(actor), None)
        yield


async def _close_store(store: Store) -> None:
    with trio.CancelScope(shield=True):
        await store.close()


def root_store_of(actor: Actor | None) -> tuple[Store | None, str | None]:
    """The ``store`` and ``run_id`` root ``actor`` was opened with (``None``: not
    given, or ``actor`` is not a root of this process)."""
    if actor is None:
        return None, None
    entry = _root_stores.get(id(actor))
    if entry is None or entry[0] is not actor:
        return None, None
    return entry[1], entry[2]


@asynccontextmanager
async def supervisor_level(
    an: ActorNursery, handlers: Sequence[Handler] | None, journal: Journal | None = None
) -> AsyncIterator[None]:
    """Make ``handlers`` the level of the children of actor nursery ``an``.

    Args:
        an: the supervisor's actor nursery.
        handlers: the supervisor's handlers (``None`` or empty: no level).
        journal: where its answers are recorded (the supervisor's store).
    """
    if not handlers:
        yield
        return
    level = Level(list(handlers), journal)
    entry = (an, level)
    async with _serving(an._actor, level):
        _sup_levels.append(entry)
        try:
            yield
        finally:
            _sup_levels.remove(entry)


def level_for_child(conn: Conn) -> Level | None:
    """The supervisor level, in this process, of the child on ``conn``."""
    for an, level in reversed(_sup_levels):
        if an._actor is conn.actor and conn.peer_uid in an.children:
            return level
    return None


def root_level(actor: Actor) -> Level | None:
    """Root ``actor``'s level, if it has handlers."""
    entry = _root_levels.get(id(actor))
    return entry[1] if entry is not None and entry[0] is actor else None


_root_level = root_level


def asker_of(actor: Actor) -> str:
    """The asker's path: its agent's path (in a process-mode worker too), or its
    actor's name."""
    host = host_of(actor)
    if host is not None:
        return host.agent.path
    return hosted_path() or actor.name


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


class _Route:
    """Where this actor's asks go: its nearest level, once a first ask found it."""

    __slots__ = ("conn", "level_id", "route", "tried")

    def __init__(self) -> None:
        self.route: list[Any] | None = None
        self.conn: Conn | None = None
        self.level_id: str | None = None
        self.tried = False


_routes: dict[int, tuple[Actor, _Route]] = {}

# How long an asker's acceptance of an answer may wait for its next message on the
# link before it is sent alone (the answerer's ``req.answer()`` waits for it).
_OK_WITHIN = 0.002


def _route_of(actor: Actor) -> _Route:
    entry = _routes.get(id(actor))
    if entry is None or entry[0] is not actor:
        entry = _routes[id(actor)] = (actor, _Route())
    return entry[1]


async def _way(actor: Actor, route: _Route) -> tuple[Conn, str | None]:
    """The connection and level id for the next ask (direct once the route is known)."""
    if route.conn is not None and not route.conn.closed.is_set():
        return route.conn, route.level_id
    if route.route is not None and not route.tried:
        route.tried = True
        level_id, name, uuid, addr = route.route
        if addr is not None:
            try:
                route.conn = await connect_peer(actor, (name, uuid), addr)
            except Exception as exc:
                log.debug("feedback: no direct connection to %r (%r): relaying", name, exc)
            else:
                route.level_id = level_id
                return route.conn, level_id
    assert actor.parent_conn is not None
    return actor.parent_conn, None


async def _request(
    actor: Actor, question: Any, answer: type[T], key: str | None, asker: str | None = None
) -> T:
    if asker is None:
        asker = asker_of(actor)
    try:
        msgspec.msgpack.encode(question)
    except (TypeError, msgspec.EncodeError) as exc:
        raise FeedbackError(f"{asker!r}: the question cannot be encoded: {exc}") from None
    params: dict[str, Any] = {
        "key": key if key is not None else default_key(asker, question),
        "question": question,
        "asker": asker,
        "answer": answer_kind(answer),
    }
    level = root_level(actor)
    if level is not None:
        return await _ask_local(level, params, answer)
    if actor.parent_conn is None:
        raise FeedbackError(f"{asker!r}: no feedback handler in the tree (pass feedback=[...])")
    route = _route_of(actor)
    conn, level_id = await _way(actor, route)
    if level_id is None and route.route is None:
        params["route"] = True
    try:
        up = await uplink_to(actor, conn)
    except trio.Cancelled:
        raise
    except Exception as exc:
        raise FeedbackError(f"{asker!r}: cannot reach a feedback level: {exc!r}") from exc
    slot = Slot()
    aid = up.add(slot)

    async def send(msg: list[Any]) -> None:
        kind = msg[0]
        if kind == "ok":
            # Carried by this actor's next message on the link, or sent soon.
            up.post(["ok", aid], within=_OK_WITHIN)
        else:
            # Flushed by the asker itself: before its next wait (a refusal), or
            # at once (a withdrawal).
            up.post([kind, aid, *msg[1:]], wake=False)

    try:
        try:
            up.post(["ask", aid, params, level_id], wake=False)
        except trio.BrokenResourceError as exc:
            raise FeedbackError(f"{asker!r}: cannot reach a feedback level: {exc!r}") from exc
        return await _asker(send, slot, up.flush, answer, params, route)
    finally:
        up.remove(aid)


async def _ask_local(level: Level, params: dict[str, Any], answer: type[T]) -> T:
    slot = Slot()
    at = await level.open_ask(params, _MemPort(slot))
    if at is None:
        return await _asker(_ignore, slot, None, answer, params, None)
    attached = at

    async def send(msg: list[Any]) -> None:
        level.deliver(attached, msg)

    return await _asker(send, slot, None, answer, params, None)


async def _ignore(msg: list[Any]) -> None:
    """Nowhere to send: the ask is over."""


class _MemPort:
    """The level's way to an asker in its own process."""

    __slots__ = ("slot",)

    def __init__(self, slot: Slot) -> None:
        self.slot = slot

    async def send(self, msg: list[Any]) -> None:
        self.slot.put(msg)


async def _asker(
    send: Callable[[list[Any]], Awaitable[None]],
    slot: Slot,
    flush: Callable[[], Awaitable[None]] | None,
    answer: type[T],
    params: dict[str, Any],
    route: _Route | None,
) -> T:
    try:
        while True:
            try:
                if flush is not None:
                    await flush()
                msg = await slot.get()
            except (trio.BrokenResourceError, trio.EndOfChannel):
                raise _went_away(params) from None
            kind = msg[0]
            if kind == "answer":
                try:
                    value = msgspec.convert(msg[1], answer)
                except msgspec.ValidationError as exc:
                    reply = ["refused", f"expected {_type_name(answer)}: {exc}"]
                else:
                    reply = ["ok"]
                try:
                    await send(reply)
                except trio.BrokenResourceError:
                    raise _went_away(params) from None
                if reply[0] == "ok":
                    return value
                continue
            if kind == "error":
                raise FeedbackError(f"{params['asker']!r}, question {params['key']!r}: {msg[1]}")
            if (
                kind == "route"
                and route is not None
                and route.route is None
                and isinstance(msg[1], list)
                and len(msg[1]) == 4
            ):
                route.route = msg[1]
    except trio.Cancelled:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            try:
                await send(["withdraw"])
                if flush is not None:
                    # Now, from here: the link's writer may be cancelled too (the
                    # whole actor stopping).
                    await flush()
            except Exception as exc:
                log.debug("withdrawing %r: %s", params["key"], exc)
        raise


def _went_away(params: dict[str, Any]) -> FeedbackError:
    return FeedbackError(
        f"{params['asker']!r}, question {params['key']!r}: no answer, the feedback level "
        "went away (the link to it ended)"
    )


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
