"""The terminal lock: one REPL at a time on the tree's shared terminal.

The root actor owns the lock, a FIFO queue of actors waiting for the terminal. An
actor asks for it with a context dialog, :func:`tty_lock`, opened on its parent; a
parent that is not the root relays the request to its own parent, so the request
climbs the tree to the root. The dialog *is* the hold: the lock is released when
the dialog ends, whether the REPL let go (the requester cancels the dialog) or the
requester died (its channel closed, which cancels every dialog on it).

Each actor also marks the channel a granted request came through, so that a parent
stopping that child waits for the REPL instead of killing it (the stop guard).

A requester with no access to the terminal (``proxy_tty``: a Ray-hosted actor, or
one below it) asks with ``proxied=True``: while it holds the lock, the dialog's
stream carries its REPL's text up and the root's lines down (see ``_proxy``), every
relay forwarding both ways.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import trio

from .._context import Context, context, open_context
from .._exceptions import AgentreeError
from .._groups import collapse
from .._runtime import Actor, Conn
from .._streaming import MsgStream
from ._proxy import LineReader, ProxyTerminal, TermRelay, TermServer

__all__ = [
    "Hold",
    "TtyLock",
    "acquire_terminal",
    "root_lock",
    "tty_lock",
    "wait_not_debugging",
]

log = logging.getLogger("agentree.devx")

Uid = tuple[str, str]


class TtyLock:
    """The root's FIFO lock on the terminal, held on behalf of one actor at a time.

    Unlike ``trio.Lock`` it has no owning task: the REPL that lets it go may run in
    another task, or in a worker thread (through ``trio.from_thread``).
    """

    def __init__(self) -> None:
        self.holder: Uid | None = None
        self._waiters: deque[tuple[Uid, trio.Event]] = deque()
        self._saved_tty = _save_tty()
        self._changed = trio.Event()
        # While a proxied REPL holds the lock: the root's side of its terminal.
        self.term: TermServer | None = None
        self._reader: LineReader | None = None
        try:
            self._token: trio.lowlevel.TrioToken | None = trio.lowlevel.current_trio_token()
        except RuntimeError:
            self._token = None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_until(self, predicate: Callable[[TtyLock], bool]) -> None:
        """Wait until ``predicate(lock)`` holds: it is checked at every change."""
        while not predicate(self):
            await self._changed.wait()

    def try_acquire(self, uid: Uid) -> bool:
        """Take the lock for ``uid`` if nobody holds it or waits for it."""
        if self.holder is None and not self._waiters:
            self.holder = uid
            self._notify()
            return True
        return False

    async def acquire(self, uid: Uid) -> None:
        """Wait for the lock, in order of arrival, and take it for ``uid``."""
        if self.try_acquire(uid):
            try:
                await trio.lowlevel.checkpoint()
            except BaseException:
                self.release()
                raise
            return
        entry = (uid, trio.Event())
        self._waiters.append(entry)
        self._notify()
        try:
            await entry[1].wait()
        except BaseException:
            if entry[1].is_set():
                self.release()
            else:
                self._waiters.remove(entry)
                self._notify()
            raise

    def release(self) -> None:
        """Let the lock go; the first waiter, if any, gets it."""
        self.holder = None
        if self._waiters:
            uid, granted = self._waiters.popleft()
            self.holder = uid
            granted.set()
        self._notify()

    def waiting(self) -> list[Uid]:
        """The uids waiting for the terminal, first in line first."""
        return [uid for uid, _ in self._waiters]

    @asynccontextmanager
    async def hold(self, uid: Uid, conn: Conn | None = None) -> AsyncIterator[_Released]:
        """Hold the lock for ``uid`` around the block (for a child on ``conn``).

        The block sets ``.cleanly`` on what it gets once the holder let go by
        itself; a holder whose channel is gone without that died holding it.
        """
        await self.acquire(uid)
        released = _Released()
        try:
            with _mark_debugging(conn):
                yield released
        finally:
            self.release()
            if conn is not None:
                # A holder that died (here or below a relay) may have left the
                # terminal in the middle of reading a line: the next REPL gets the
                # settings it would have found. Synchronous, so before it starts.
                self.restore_tty()
                if conn.closed.is_set() and not released.cleanly:
                    log.warning("actor %r died holding the terminal lock; released", uid[0])

    @contextlib.contextmanager
    def serve_terminal(self, name: str) -> Iterator[TermServer]:
        """Be the terminal of the proxied REPL of ``name`` (which holds the lock)."""
        if self._reader is None:
            self._reader = LineReader()
        server = TermServer(self._reader, name)
        self.term = server
        try:
            yield server
        finally:
            if self.term is server:
                self.term = None

    def interrupt(self) -> None:
        """Ctrl-C at the root: to the proxied REPL holding the terminal, if one does.

        Safe in a signal handler (it only schedules the delivery).
        """
        term, token = self.term, self._token
        if term is not None and token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(term.interrupt)

    def restore_tty(self) -> None:
        """Put the terminal back in the mode it had when the lock was made."""
        if self._saved_tty is None:
            return
        import termios

        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved_tty)


def _save_tty() -> list[Any] | None:
    try:
        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return None
        import termios

        return termios.tcgetattr(fd)
    except (AttributeError, ValueError, OSError, ImportError):
        return None


_root: tuple[Actor, TtyLock] | None = None


def root_lock(actor: Actor) -> TtyLock:
    """The terminal lock of root ``actor`` (made on first use)."""
    global _root
    if _root is None or _root[0] is not actor:
        _root = (actor, TtyLock())
    return _root[1]


# -- which children are in a REPL: the stop guard --------------------------------------


class _Released:
    """Whether a lock holder let go by itself (see :meth:`TtyLock.hold`)."""

    def __init__(self) -> None:
        self.cleanly = False


class _Mark:
    def __init__(self) -> None:
        self.count = 0
        self.idle = trio.Event()


_marks: weakref.WeakKeyDictionary[Conn, _Mark] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def _mark_debugging(conn: Conn | None) -> Iterator[None]:
    if conn is None:
        yield
        return
    mark = _marks.get(conn)
    if mark is None:
        mark = _marks[conn] = _Mark()
    mark.count += 1
    try:
        yield
    finally:
        mark.count -= 1
        if mark.count == 0:
            del _marks[conn]
            mark.idle.set()


async def wait_not_debugging(conn: Conn) -> bool:
    """Wait while an actor behind ``conn`` holds the terminal; whether it waited."""
    waited = False
    while (mark := _marks.get(conn)) is not None and not conn.closed.is_set():
        if not waited:
            log.info("actor %r is in a debugger REPL; waiting for it", conn.peer_name)
        waited = True
        with trio.move_on_after(0.5):
            await mark.idle.wait()
    return waited


# -- the dialog ------------------------------------------------------------------------


class _TermSide(Protocol):
    """What serves a proxied REPL's messages: the root's server, or a relay."""

    async def on_item(self, item: Any) -> None: ...

    async def run(self, down: MsgStream) -> None: ...


def _lock_args(uid: list[str], proxied: bool) -> dict[str, Any]:
    # ``proxied`` only when set: a plain request is what it always was.
    return {"uid": uid, "proxied": True} if proxied else {"uid": uid}


@context
async def tty_lock(ctx: Context, uid: list[str], proxied: bool = False) -> None:
    """Hold the terminal for actor ``uid`` until the requester lets it go.

    Served by every actor: the root holds its lock, any other actor relays the
    request to its parent. The requester lets go by closing its side of the
    dialog's stream, or by going away (its channel closes). A ``proxied``
    requester's REPL reads and writes through the dialog's stream meanwhile.
    """
    actor = ctx.chan.actor
    who = (uid[0], uid[1])
    if actor.is_root:
        lock = root_lock(actor)
        async with lock.hold(who, ctx.chan) as released:
            await ctx.started(True)
            if not proxied:
                await _wait_for_release(ctx, released)
                return
            with lock.serve_terminal(who[0]) as server:
                await _wait_for_release(ctx, released, server)
        return
    parent = _parent_conn(actor)
    async with (
        open_context(parent, tty_lock, _lock_args(uid, proxied)) as (up, _),
        up.open_stream() as held,
    ):
        try:
            with _mark_debugging(ctx.chan):
                await ctx.started(True)
                relay = TermRelay(held, who[0]) if proxied else None
                await _wait_for_release(ctx, _Released(), relay)
        finally:
            # Let go upward cleanly (a Stop), even when cancelled: else the
            # level above would wait for this relay's end to free the terminal.
            with trio.CancelScope(shield=True):
                await held.aclose()


async def _wait_for_release(
    ctx: Context, released: _Released, side: _TermSide | None = None
) -> None:
    """Wait until the requester lets go; ``released.cleanly`` if it did so itself.

    The requester lets go by closing its stream (a REPL that ended), by going away
    (its channel closes: it died), or by cancelling the dialog before it had the
    terminal (its ``pause()`` was cancelled while the grant was on its way: it
    never opened a REPL). While this actor itself is being cancelled (a relay, or
    the root tearing the tree down), the wait goes on, shielded, so that the REPL
    below stays covered until it ends.

    With a ``side`` (a proxied requester), the requester's messages go to
    ``side.on_item`` and ``side.run`` sends the answers down, shielded as well,
    until the requester's stream ends.
    """
    async with ctx.open_stream() as stream:
        if side is None:
            await _wait_for_end(ctx, released, stream, None)
            return
        answering = trio.CancelScope(shield=True)

        async def answer() -> None:
            with answering:
                await side.run(stream)

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(answer)
                try:
                    await _wait_for_end(ctx, released, stream, side.on_item)
                finally:
                    answering.cancel()
        except BaseExceptionGroup as group:
            raise collapse(group) from None


async def _wait_for_end(
    ctx: Context,
    released: _Released,
    stream: MsgStream,
    on_item: Callable[[Any], Awaitable[None]] | None,
) -> None:
    conn = ctx.chan
    try:
        released.cleanly = await _end_of(stream, on_item)
    except trio.Cancelled:
        if not (conn.calls_cancelled_locally or conn.actor.cancel_called):
            # The requester cancelled the dialog (its wait for the grant was
            # cancelled): it holds nothing. Not a death: the lock just goes on.
            released.cleanly = True
            raise
        with trio.CancelScope(shield=True):
            released.cleanly = await _end_of(stream, on_item)
        raise


async def _end_of(
    stream: MsgStream, on_item: Callable[[Any], Awaitable[None]] | None = None
) -> bool:
    """Wait for the end of the requester's stream: whether it ended cleanly.

    Without ``on_item`` any item ends the wait too; with it, each item goes there.
    """
    while True:
        try:
            item = await stream.receive()
        except trio.EndOfChannel:
            return True
        except (trio.BrokenResourceError, AgentreeError):
            return False
        if on_item is None:
            return True
        await on_item(item)


def _parent_conn(actor: Actor) -> Conn:
    if actor.parent_conn is None:
        raise AgentreeError(f"actor {actor.name!r} has no parent to ask for the terminal")
    return actor.parent_conn


class Hold:
    """This actor's hold on the terminal lock (see :func:`acquire_terminal`)."""

    def __init__(self) -> None:
        self._released = trio.Event()
        self._done = trio.Event()
        # The terminal of a proxied REPL (``proxy_tty``), once held; else ``None``.
        self.term: ProxyTerminal | None = None

    def release(self) -> None:
        """Let the terminal go; in the actor's trio thread; idempotent."""
        self._released.set()

    async def release_and_wait(self) -> None:
        """Let the terminal go and wait until the root has it back."""
        self.release()
        await self._done.wait()


async def acquire_terminal(actor: Actor) -> Hold:
    """Wait for the terminal lock on behalf of ``actor``.

    The hold lives in a task of the actor's service nursery, so it outlasts the
    caller's frame; it ends when released, or with the actor.
    """
    service = actor._service
    if service is None:
        raise AgentreeError(f"actor {actor.name!r} is not running")
    hold = Hold()

    async def keep(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        started = False
        try:
            if actor.is_root:
                async with root_lock(actor).hold(actor.uid):
                    task_status.started()
                    await hold._released.wait()
                return
            parent = _parent_conn(actor)
            proxied = actor.options.proxy_tty
            args = _lock_args(list(actor.uid), proxied)
            async with open_context(parent, tty_lock, args) as (ctx, _):
                # Held: let go only when the REPL does (or with this process), even
                # if the actor is being cancelled meanwhile (the REPL may still be
                # open, in a thread; or just ended, as its release is on the way).
                # So the hold ends cleanly, with a Stop the root sees at once.
                with trio.CancelScope(shield=True):
                    async with ctx.open_stream() as stream:
                        if proxied:
                            hold.term = ProxyTerminal(stream, actor.name)
                        started = True
                        task_status.started()
                        if trio.lowlevel.current_task().parent_nursery is not service:
                            # The caller was cancelled as the grant came (trio's
                            # started() then leaves this task where it was): it
                            # opens no REPL, so let go at once.
                            hold.release()
                        await hold._released.wait()
                        if hold.term is not None:
                            await hold.term.drain()
        except AgentreeError as exc:
            # Before started() the error is pause()'s; after it the REPL is already
            # open, and a lost parent is the runtime's business.
            if not started:
                raise
            log.warning("terminal lock of %r ended: %s", actor.name, exc)
        finally:
            hold._done.set()

    # A cancelled task gets no terminal (and no REPL): raise its Cancelled first.
    await trio.lowlevel.checkpoint()
    try:
        await service.start(keep)
    except RuntimeError as exc:
        if "closed" not in str(exc):
            raise
        # The service nursery is closed: the actor is stopping, its calls being
        # cancelled (a shielded post-mortem of a call's error can get here).
        raise AgentreeError(
            f"actor {actor.name!r} is stopping: no terminal for a new REPL"
        ) from None
    return hold
