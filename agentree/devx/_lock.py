"""The terminal lock: one REPL at a time on the tree's shared terminal.

The root actor owns the lock, a FIFO queue of actors waiting for the terminal. An
actor asks for it with a context dialog, :func:`tty_lock`, opened on its parent; a
parent that is not the root relays the request to its own parent, so the request
climbs the tree to the root. The dialog *is* the hold: the lock is released when
the dialog ends, whether the REPL let go (the requester cancels the dialog) or the
requester died (its channel closed, which cancels every dialog on it).

Each actor also marks the channel a granted request came through, so that a parent
stopping that child waits for the REPL instead of killing it (the stop guard).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._context import Context, context, open_context
from .._exceptions import AgentreeError
from .._runtime import Actor, Conn
from .._streaming import MsgStream

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


@context
async def tty_lock(ctx: Context, uid: list[str]) -> None:
    """Hold the terminal for actor ``uid`` until the requester lets it go.

    Served by every actor: the root holds its lock, any other actor relays the
    request to its parent. The requester lets go by closing its side of the
    dialog's stream, or by going away (its channel closes).
    """
    actor = ctx.chan.actor
    who = (uid[0], uid[1])
    if actor.is_root:
        async with root_lock(actor).hold(who, ctx.chan) as released:
            await ctx.started(True)
            await _wait_for_release(ctx, released)
        return
    parent = _parent_conn(actor)
    async with open_context(parent, tty_lock, {"uid": uid}) as (up, _), up.open_stream() as held:
        try:
            with _mark_debugging(ctx.chan):
                await ctx.started(True)
                await _wait_for_release(ctx, _Released())
        finally:
            # Let go upward cleanly (a Stop), even when cancelled: else the
            # level above would wait for this relay's end to free the terminal.
            with trio.CancelScope(shield=True):
                await held.aclose()


async def _wait_for_release(ctx: Context, released: _Released) -> None:
    """Wait until the requester lets go; ``released.cleanly`` if it did so itself.

    The requester lets go by closing its stream (a REPL that ended), by going away
    (its channel closes: it died), or by cancelling the dialog before it had the
    terminal (its ``pause()`` was cancelled while the grant was on its way: it
    never opened a REPL). While this actor itself is being cancelled (a relay, or
    the root tearing the tree down), the wait goes on, shielded, so that the REPL
    below stays covered until it ends.
    """
    conn = ctx.chan
    async with ctx.open_stream() as stream:
        try:
            released.cleanly = await _end_of(stream)
        except trio.Cancelled:
            if not (conn.calls_cancelled_locally or conn.actor.cancel_called):
                # The requester cancelled the dialog (its wait for the grant was
                # cancelled): it holds nothing. Not a death: the lock just goes on.
                released.cleanly = True
                raise
            with trio.CancelScope(shield=True):
                released.cleanly = await _end_of(stream)
            raise


async def _end_of(stream: MsgStream) -> bool:
    """Wait for the end of the requester's stream: whether it ended cleanly."""
    try:
        await stream.receive()
    except trio.EndOfChannel:
        return True
    except (trio.BrokenResourceError, AgentreeError):
        return False
    return True


def _parent_conn(actor: Actor) -> Conn:
    if actor.parent_conn is None:
        raise AgentreeError(f"actor {actor.name!r} has no parent to ask for the terminal")
    return actor.parent_conn


class Hold:
    """This actor's hold on the terminal lock (see :func:`acquire_terminal`)."""

    def __init__(self) -> None:
        self._released = trio.Event()
        self._done = trio.Event()

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
            async with open_context(parent, tty_lock, {"uid": list(actor.uid)}) as (ctx, _):
                # Held: let go only when the REPL does (or with this process), even
                # if the actor is being cancelled meanwhile (the REPL may still be
                # open, in a thread; or just ended, as its release is on the way).
                # So the hold ends cleanly, with a Stop the root sees at once.
                with trio.CancelScope(shield=True):
                    async with ctx.open_stream():
                        started = True
                        task_status.started()
                        if trio.lowlevel.current_task().parent_nursery is not service:
                            # The caller was cancelled as the grant came (trio's
                            # started() then leaves this task where it was): it
                            # opens no REPL, so let go at once.
                            hold.release()
                        await hold._released.wait()
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
