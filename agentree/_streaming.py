"""MsgStream: the cancellable two-way stream inside a context dialog.

Flow control is by credit: each side grants its receive window (``msg_buffer_size``
items) when it opens its stream, and grants more as its consumer takes items. A
sender with no credit left waits (backpressure), or with ``allow_overruns=False``
raises :class:`~agentree.StreamOverrun` at once. Either way the receiver never buffers
more than its window, and nothing is dropped.

Before the peer opened its stream (no grant yet) a sender with ``allow_overruns=True``
waits for it. One with ``allow_overruns=False`` never waits: it may send
``INITIAL_WINDOW`` items ahead, which the peer's stream receives once it opens, and
the send after those raises ``StreamOverrun``. The items sent ahead count against the
window the peer grants later, so the peer still buffers at most
``max(msg_buffer_size, INITIAL_WINDOW)`` items. (If the peer's side ends without ever
opening its stream, what was sent ahead goes with it, unread.)

``stream.subscribe()`` fans every item out to several local tasks: one task pulls from
the stream and hands the same decoded object to every subscriber.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from ._exceptions import (
    AgentreeError,
    MsgEncodeError,
    MsgTypeError,
    StreamOverrun,
    TransportClosed,
)
from ._receiving import ReceiveIterator
from .msg import Credit, Stop, Yield, decode_payload

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["DEFAULT_MSG_BUFFER_SIZE", "INITIAL_WINDOW", "BroadcastReceiver", "MsgStream"]

DEFAULT_MSG_BUFFER_SIZE = 64
# How many items a sender with allow_overruns=False may send before the peer opened
# its stream (see the module docstring).
INITIAL_WINDOW = DEFAULT_MSG_BUFFER_SIZE


class MsgStream:
    """One side of a two-way stream. Get it from ``ctx.open_stream()`` or
    ``portal.open_stream_from()``; users never construct it.

    ``send``/``receive`` follow trio's channel conventions: ``receive`` raises
    ``trio.EndOfChannel`` once the peer closed its side (``async for`` just ends), and
    sending after our own ``aclose`` raises ``trio.ClosedResourceError``.
    """

    def __init__(
        self,
        ctx: Context,
        *,
        msg_buffer_size: int = DEFAULT_MSG_BUFFER_SIZE,
        allow_overruns: bool = True,
        can_send: bool = True,
    ) -> None:
        if msg_buffer_size < 1:
            raise ValueError("msg_buffer_size must be at least 1")
        self._ctx = ctx
        self._window = msg_buffer_size
        self._allow_overruns = allow_overruns
        self._send_closed = not can_send
        self._consumed = 0
        self._eof = False
        self._hub: _Hub | None = None
        # The task that a receive on this stream just woke, until its next send:
        # that send need not yield to the scheduler again (see ``send``).
        self._woken: trio.lowlevel.Task | None = None

    @property
    def ctx(self) -> Context:
        """The context this stream belongs to."""
        return self._ctx

    async def _grant_window(self) -> None:
        await self._ctx._send(Credit(cid=self._ctx.cid, n=self._window))

    # -- sending -----------------------------------------------------------------------

    async def send(self, value: Any) -> None:
        """Send one item to the peer, waiting for room in its receive window.

        A checkpoint: it checks for cancellation and yields to the scheduler, except
        when the calling task was just woken by a receive on this stream that waited
        (a reply to what just arrived), so a task that only sends still lets others
        run at every send.

        Raises:
            StreamOverrun: ``allow_overruns=False`` and the peer's window is full (or
                the peer has not opened its stream and ``INITIAL_WINDOW`` items were
                sent ahead).
            trio.ClosedResourceError: this side already closed the stream.
            trio.BrokenResourceError: the peer's side of the dialog already ended.
            RemoteActorError: the peer's side ended with an error.
            MsgEncodeError: ``value`` cannot be encoded (nothing was sent).
        """
        if self._send_closed:
            raise trio.ClosedResourceError("this side of the stream is closed for sending")
        ctx = self._ctx
        dialog = ctx._dialog
        if dialog.credit > 0 and not dialog.over:
            # The hot path: room in the peer's window.
            dialog.credit -= 1
        elif not self._allow_overruns and not dialog.over:
            if not dialog.granted and dialog.credit > -INITIAL_WINDOW:
                # The peer has not opened its stream yet: send ahead, into the initial
                # window (the debt is paid from the peer's first grant).
                dialog.credit -= 1
            else:
                raise self._overrun(dialog.granted)
        elif not await dialog.take_credit():
            ctx._raise_dialog_over("send to")
        # Every send is a schedule point, except right after a receive that waited
        # (the task has just been scheduled): a reply to what just arrived goes out
        # without one more pass of the scheduler. So between two sends of a task the
        # scheduler always runs at least once.
        woken, self._woken = self._woken, None
        try:
            await ctx._conn.chan.send(
                Yield(cid=ctx.cid, pld=value),
                schedule=woken is not trio.lowlevel.current_task(),
            )
        except MsgEncodeError as exc:
            raise MsgEncodeError(
                f"{exc} (a stream item in {ctx._ns}() with {ctx._conn.peer_name!r})"
            ) from exc
        except TransportClosed as exc:
            raise await ctx._conn.send_failed(ctx._ns, exc) from exc

    def _overrun(self, granted: bool) -> StreamOverrun:
        ctx = self._ctx
        where = f"actor {ctx._conn.peer_name!r} in {ctx._ns}()"
        if granted:
            why = f"the receive window of {where} is full"
        else:
            why = (
                f"{where} has not opened its stream, and the {INITIAL_WINDOW} items "
                "a sender may send before that are sent"
            )
        return StreamOverrun(
            f"{why}; with allow_overruns=False the send is refused instead of waiting"
        )

    async def aclose(self) -> None:
        """Close our sending side: the peer's ``async for`` ends once it drains."""
        if self._send_closed:
            await trio.lowlevel.checkpoint()
            return
        self._send_closed = True
        ctx = self._ctx
        if not ctx._dialog.over:
            with trio.CancelScope(shield=True):
                await ctx._send(Stop(cid=ctx.cid), quiet=True)

    # -- receiving ---------------------------------------------------------------------

    async def receive(self) -> Any:
        """Receive the next item.

        Raises:
            trio.EndOfChannel: the peer closed its side, or its function returned.
            RemoteActorError: the peer's side failed.
            ContextCancelled: the dialog was cancelled (by someone other than us).
            MsgTypeError: the item does not match the context's payload spec.
        """
        if self._hub is not None:
            raise AgentreeError(
                "this stream is in broadcast mode: receive through stream.subscribe()"
            )
        return await self._receive()

    async def _receive(self) -> Any:
        if self._eof:
            raise trio.EndOfChannel
        ctx = self._ctx
        dialog = ctx._dialog
        msg = ctx._stash.popleft() if ctx._stash else dialog.get_nowait()
        if msg is None:
            if ctx._final_taken():
                # wait_for_result() took the final message: nothing more comes.
                self._eof = True
                ctx._end_of_items(None)
            msg = await ctx._next()
            self._woken = trio.lowlevel.current_task()
        if type(msg) is not Yield:
            try:
                ctx._end_of_items(msg)
            except trio.EndOfChannel:
                self._eof = True
                raise
            finally:
                if msg is not None:
                    # Other tasks receiving on this stream end with it too.
                    dialog.pass_on(msg)
        try:
            value = decode_payload(msg.pld, ctx._spec)
        except MsgTypeError as exc:
            await ctx._report(exc)
            raise
        self._consumed += 1
        if self._consumed * 2 >= self._window and not dialog.over:
            # Re-grant what was consumed, half a window at a time.
            granted, self._consumed = self._consumed, 0
            await ctx._send(Credit(cid=ctx.cid, n=granted), quiet=True)
        return value

    def __aiter__(self) -> MsgStream:
        return self

    async def __anext__(self) -> Any:
        if self._hub is not None:
            await self.receive()  # raises: broadcast mode
        try:
            return await self._receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    # -- broadcast ---------------------------------------------------------------------

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[BroadcastReceiver]:
        """Receive every item from here on, alongside other local subscribers.

        The first subscription puts the stream in broadcast mode: from then on items
        reach tasks through their subscriptions, each item decoded once and handed
        to all of them. A subscriber more than ``msg_buffer_size`` items behind holds
        the others back (backpressure), so memory stays bounded.
        """
        if self._hub is None:
            self._hub = _Hub(self, self._window)
        receiver = BroadcastReceiver(self._hub)
        self._hub.subscribers.append(receiver)
        try:
            yield receiver
        finally:
            self._hub.subscribers.remove(receiver)
            self._hub.lot.unpark_all()


class _End:
    """Queued for every subscriber when the stream ended."""


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Hub:
    """Pulls from the stream on behalf of every subscriber."""

    def __init__(self, stream: MsgStream, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.subscribers: list[BroadcastReceiver] = []
        self.pulling = False
        self.lot = trio.lowlevel.ParkingLot()

    async def fill(self) -> None:
        """Get at least one more item to every subscriber (or wait for a puller)."""
        if self.pulling or any(len(s.queue) >= self.limit for s in self.subscribers):
            await self.lot.park()
            return
        self.pulling = True
        try:
            try:
                item: Any = await self.stream._receive()
            except trio.EndOfChannel:
                item = _END
            except trio.Cancelled:
                raise
            except BaseException as exc:
                item = _Failure(exc)
            for subscriber in self.subscribers:
                subscriber.queue.append(item)
        finally:
            self.pulling = False
            self.lot.unpark_all()


_END = _End()


class BroadcastReceiver(ReceiveIterator):
    """One local subscriber of a stream in broadcast mode (see ``subscribe()``)."""

    def __init__(self, hub: _Hub) -> None:
        self._hub = hub
        self.queue: deque[Any] = deque()

    async def receive(self) -> Any:
        """The next item of the stream, as every other subscriber gets it."""
        while not self.queue:
            await self._hub.fill()
        item = self.queue[0]
        if item is _END:
            raise trio.EndOfChannel
        if isinstance(item, _Failure):
            raise item.error
        self.queue.popleft()
        if len(self.queue) == self._hub.limit - 1:
            self._hub.lot.unpark_all()
        return item
