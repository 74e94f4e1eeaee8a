"""One dialog's state on this side of a connection: inbox, send credit, final message.

The connection's message loop fills it; the task that owns the dialog reads it. Stream
items and dialog-level messages share the inbox, in arrival order. Two things are
also noted out of band, because a task that only sends must learn of them without
reading the inbox: the peer's credit grants, and the dialog's final message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import trio

from ..msg import Msg

__all__ = ["Dialog"]


class Dialog:
    """Inbox and flow-control state of one dialog (RPC call, context or stream).

    Attributes:
        cid: the dialog id on its connection.
        credit: how many more stream items this side may send to the peer
            (negative while items sent ahead of the peer's first grant, with
            ``allow_overruns=False``, are not yet covered by one).
        granted: whether the peer granted any credit yet (it opened its stream).
        final: the dialog's final message (``Return``, ``Error`` or ``CancelAck``)
            once it arrived, whether or not the inbox has been read that far.
    """

    __slots__ = (
        "_closed",
        "_credit_waiters",
        "_more_waiters",
        "_on_over",
        "_queue",
        "_waiter",
        "_woken",
        "cid",
        "credit",
        "final",
        "granted",
        "on_wake",
    )

    def __init__(self, cid: int, on_wake: Callable[[], None] | None = None) -> None:
        self.cid = cid
        # Called by the owner's task when a message it waited for woke it (see put).
        self.on_wake = on_wake
        self._queue: deque[Msg] = deque()
        self._waiter: trio.lowlevel.Task | None = None
        # Further tasks waiting for a message at the same time (several tasks may
        # receive on one stream), after ``_waiter``; made on the first such wait.
        self._more_waiters: deque[trio.lowlevel.Task] | None = None
        # How many receivers were woken and have not run yet: they will look at the
        # inbox again, though they no longer wait.
        self._woken = 0
        self._closed: BaseException | None = None
        self.credit = 0
        self.granted = False
        # The tasks waiting for credit, first come first served (several tasks may
        # send on one stream); made on the first wait.
        self._credit_waiters: deque[trio.lowlevel.Task] | None = None
        self.final: Msg | None = None
        self._on_over: Callable[[], None] | None = None

    # -- inbox -----------------------------------------------------------------------

    def put(self, msg: Msg) -> bool:
        """Queue ``msg``; whether that woke the owner's task (which then calls
        ``on_wake`` first thing, before it goes on)."""
        self._queue.append(msg)
        return self._wake_receiver()

    def _wake_receiver(self) -> bool:
        """Wake the first task waiting in :meth:`get`, if any; whether one was."""
        waiter = self._waiter
        if waiter is None:
            return False
        trio.lowlevel.reschedule(waiter)
        self._woken += 1
        more = self._more_waiters
        self._waiter = more.popleft() if more else None
        return True

    def pass_on(self, msg: Msg) -> None:
        """Hand ``msg``, just taken, to the next task waiting for a message, if any.

        Several tasks may receive on one stream: the message that ends it (its
        ``Stop`` or the dialog's final message) must reach each of them, not only
        the first. Each one that gets it passes it on, to a task waiting or to one
        woken but not yet run (a message it was woken for may have gone to a task that
        did not wait); when there is neither it is dropped (it was handled already).
        """
        if self._waiter is not None or self._woken:
            self._queue.appendleft(msg)
            self._wake_receiver()

    def close(self, exc: BaseException) -> None:
        """The connection ended: fail readers (after what is queued) and senders."""
        self._closed = exc
        self._wake_all()
        self._notify_over()

    def get_nowait(self) -> Msg | None:
        """The next queued message, or ``None`` if there is none."""
        return self._queue.popleft() if self._queue else None

    def queued(self) -> int:
        """How many messages wait in the inbox."""
        return len(self._queue)

    async def get(self) -> Msg:
        """Wait for the next message (a checkpoint only when it has to wait)."""
        while not self._queue:
            if self._closed is not None:
                raise self._closed
            await self._wait_for_message()
            self._woken -= 1
            if self.on_wake is not None:
                self.on_wake()
        return self._queue.popleft()

    async def _wait_for_message(self) -> None:
        task = trio.lowlevel.current_task()
        if self._waiter is None:
            self._waiter = task
        else:
            if self._more_waiters is None:
                self._more_waiters = deque()
            self._more_waiters.append(task)

        def abort(raise_cancel: object) -> trio.lowlevel.Abort:
            more = self._more_waiters
            if self._waiter is task:
                self._waiter = more.popleft() if more else None
            elif more is not None:
                more.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    # -- out of band: credit and the final message -----------------------------------

    def grant(self, n: int) -> None:
        self.credit += n
        self.granted = True
        if self.credit > 0:
            self._wake_senders(1)

    def note_final(self, msg: Msg) -> None:
        self.final = msg
        self._wake_senders(None)
        self._notify_over()

    def on_over(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback()`` once the dialog is over (at once if it already is);
        ``None`` removes it. The owner uses it to stop waiting on anything else."""
        self._on_over = callback
        if callback is not None and self.over:
            self._notify_over()

    def _notify_over(self) -> None:
        callback, self._on_over = self._on_over, None
        if callback is not None:
            callback()

    @property
    def over(self) -> bool:
        """Whether the dialog ended (final message received or connection gone)."""
        return self.final is not None or self._closed is not None

    @property
    def closed_by(self) -> BaseException | None:
        """Why the connection under this dialog ended, if it did."""
        return self._closed

    async def take_credit(self) -> bool:
        """Wait for one unit of send credit; ``False`` if the dialog ended instead.

        Several tasks may wait at once, served in the order they came: a grant
        wakes the first, which wakes the next if credit is left, and so on; the
        dialog's end wakes them all.
        """
        woken = False
        while self.credit <= 0:
            if self.over:
                return False
            # Woken, but a sender that did not wait took the credit: still first.
            await self._wait_for_credit(first=woken)
            woken = True
        if self.over:
            return False
        self.credit -= 1
        if self.credit > 0:
            self._wake_senders(1)
        return True

    async def _wait_for_credit(self, *, first: bool) -> None:
        waiters = self._credit_waiters
        if waiters is None:
            waiters = self._credit_waiters = deque()
        task = trio.lowlevel.current_task()
        if first:
            waiters.appendleft(task)
        else:
            waiters.append(task)

        def abort(raise_cancel: object) -> trio.lowlevel.Abort:
            waiters.remove(task)
            if self.credit > 0:
                # Credit this task may have been woken for goes to the next one.
                self._wake_senders(1)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)

    def _wake_senders(self, n: int | None) -> None:
        """Wake up to ``n`` waiting senders (``None``: all of them), oldest first."""
        waiters = self._credit_waiters
        if not waiters:
            return
        if n is None or n >= len(waiters):
            self._credit_waiters = None
            for task in waiters:
                trio.lowlevel.reschedule(task)
            return
        for _ in range(n):
            trio.lowlevel.reschedule(waiters.popleft())

    def _wake_all(self) -> None:
        if self._waiter is not None:
            trio.lowlevel.reschedule(self._waiter)
            self._woken += 1
            self._waiter = None
        more, self._more_waiters = self._more_waiters, None
        for task in more or ():
            trio.lowlevel.reschedule(task)
            self._woken += 1
        self._wake_senders(None)
