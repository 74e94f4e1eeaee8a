"""The Channel: length-prefixed msgpack frames over one trio stream.

A frame is a 4-byte big-endian body length followed by the msgpack body of one
:data:`agentree.msg.Msg`. Every OS-level failure of the stream is translated here, in
one place, into :class:`~agentree.TransportClosed` (raised ``from`` the original).
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator
from typing import Any

import trio

from .._exceptions import FrameTooLarge, MsgEncodeError, TransportClosed
from ..msg import Msg, decode_msg, encode_into

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "Channel"]

DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024
_HEADER = 4
_READ_SIZE = 64 * 1024
# Frames with at least this much left to read get a buffer of their own.
_LARGE_READ = 1024 * 1024
# How long a started frame may take to write: generous next to local socket speeds.
_WRITE_GRACE = 10.0
_WRITE_MIN_RATE = 10 * 1024 * 1024

_Bytes = bytes | bytearray | memoryview


def _write_timeout(size: int) -> float:
    return _WRITE_GRACE + size / _WRITE_MIN_RATE


class _Batch:
    """Frames queued while another task writes, sent together in one write."""

    __slots__ = ("done", "error", "frames")

    def __init__(self) -> None:
        self.frames: list[bytearray] = []
        self.done = trio.Event()
        self.error: BaseException | None = None


class Channel:
    """A message channel to one peer over a trio stream.

    One task writes at a time (trio streams allow one sender); frames sent meanwhile
    are batched into the next write. Receives must come from one task at a time (the
    connection's message loop).

    Args:
        stream: the connected byte stream (UDS, TCP, or in-memory for tests).
        max_frame_size: the largest frame body accepted or sent, in bytes.
        initiator: ``True`` on the side that started the connection (the child or
            the connecting side). The two sides allocate dialog ids of opposite
            parity, so an id names one dialog on both sides.
        name: a label for errors and logs (usually the peer actor's name).
        sock: the plain socket under ``stream``, when this side made it. Reads and
            writes then try it directly first, skipping trio's generic stream layers
            (the hot path of every call); they fall back to ``stream`` to wait.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        initiator: bool = False,
        name: str = "peer",
        sock: socket.socket | None = None,
    ) -> None:
        self.stream = stream
        self._sock = sock
        self.max_frame_size = max_frame_size
        self.name = name
        self._writing = False
        self._batch: _Batch | None = None
        self._rbuf = bytearray()
        # How much one read asks for: at least _READ_SIZE, and the size of the last
        # frame, so that a stream of frames larger than _READ_SIZE gets one whole
        # frame per read (no copy through the read buffer) instead of two pieces.
        self._read_size = _READ_SIZE
        self._cids = itertools.count(1 if initiator else 2, 2)
        self._closed = False
        self._eof = False

    @classmethod
    def from_socket(cls, sock: socket.socket, **kwargs: Any) -> Channel:
        """Make a channel over a connected stdlib socket (which it then owns)."""
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        return cls(stream, sock=sock, **kwargs)

    def next_cid(self) -> int:
        """Allocate a new dialog id, unique on this channel for both sides."""
        return next(self._cids)

    @property
    def buffered(self) -> bool:
        """Whether received bytes wait in the buffer (the next frame may be whole)."""
        return bool(self._rbuf)

    @property
    def closed(self) -> bool:
        """Whether this side closed the channel or saw the peer's end of file."""
        return self._closed or self._eof

    def _frame(self, msg: Msg | Any) -> bytearray:
        buf = bytearray(_HEADER)
        try:
            encode_into(msg, buf, _HEADER)
        except (TypeError, ValueError, OverflowError) as exc:
            raise MsgEncodeError(f"cannot encode {type(msg).__name__} message: {exc}") from exc
        size = len(buf) - _HEADER
        if size > self.max_frame_size:
            raise FrameTooLarge(
                f"{type(msg).__name__} message to {self.name} is {size} bytes, over the "
                f"maximum frame size of {self.max_frame_size} bytes; nothing was sent"
            )
        buf[:_HEADER] = size.to_bytes(_HEADER, "big")
        return buf

    async def send(self, msg: Msg, *, schedule: bool = True, shield: bool = False) -> None:
        """Encode and send one message.

        Messages sent while another task is writing are batched: they go out together
        in one write as soon as the current one finishes, in the order they were sent.

        Args:
            msg: the message.
            schedule: whether a send that completes at once still yields to the
                scheduler (trio's usual checkpoint). The runtime passes ``False``
                when its very next step waits anyway (a call then waits for its
                reply; a served call's task ends after its reply), which saves one
                pass of the scheduler on the path of every call.
            shield: send even if the calling task is cancelled (a dialog's final
                message). A write that completes at once costs no cancel scope;
                one that has to wait is bounded by the channel's write timeout.

        Raises:
            MsgEncodeError: the message holds a value msgspec cannot encode.
            FrameTooLarge: the encoded message is over ``max_frame_size``.
            TransportClosed: the channel or the peer is gone.
        """
        frame = self._frame(msg)
        if shield:
            if not self._writing:
                rest = self._write_nowait(frame)
                if rest is None:
                    return
                with trio.CancelScope(shield=True):
                    await self._write_rest(rest)
                return
            with trio.CancelScope(shield=True):
                await self._join_batch(frame)
            return
        if self._writing:
            await self._join_batch(frame)
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        rest = self._write_nowait(frame)
        if rest is None:
            if schedule:
                await trio.lowlevel.cancel_shielded_checkpoint()
            return
        await self._write_rest(rest)

    async def _write_rest(self, rest: _Bytes) -> None:
        """Finish a frame the socket did not take at once, then what queued meanwhile."""
        self._writing = True
        try:
            await self._send_slow(rest)
            while self._batch is not None:
                batch, self._batch = self._batch, None
                try:
                    await self._send_bytes(b"".join(batch.frames))
                except BaseException as exc:
                    batch.error = exc
                    raise
                finally:
                    batch.done.set()
        finally:
            self._writing = False
            if self._batch is not None:
                # The write failed: nobody will send what is queued.
                self._batch.error = TransportClosed(f"channel to {self.name} broke")
                self._batch.done.set()
                self._batch = None

    def _write_nowait(self, data: _Bytes) -> _Bytes | None:
        """Write what the socket takes at once; return the rest (``None``: all sent)."""
        if self._closed:
            raise TransportClosed(f"channel to {self.name} is closed")
        if self._sock is None:
            return data
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            return data
        except OSError as exc:
            self._closed = True
            raise TransportClosed(f"channel to {self.name} broke while sending: {exc}") from exc
        if sent == len(data):
            return None
        return memoryview(data)[sent:]

    async def _join_batch(self, frame: bytearray) -> None:
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
        batch.frames.append(frame)
        # Once queued the frame goes out even if we are cancelled while waiting.
        await batch.done.wait()
        if batch.error is not None:
            raise TransportClosed(f"channel to {self.name} broke while sending") from (batch.error)

    async def _send_bytes(self, data: _Bytes) -> None:
        rest = self._write_nowait(data)
        if rest is None:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        await self._send_slow(rest)

    async def _send_slow(self, data: _Bytes) -> None:
        # A frame is written whole or not at all: cancelling a half-written frame would
        # corrupt the channel for every dialog on it. So the write is shielded, and
        # bounded instead; a peer that stops reading for that long breaks the channel.
        timeout = _write_timeout(len(data))
        with trio.CancelScope(shield=True, deadline=trio.current_time() + timeout) as scope:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                self._closed = True
                raise TransportClosed(
                    f"channel to {self.name} broke while sending: {exc}"
                ) from exc
        if scope.cancelled_caught:
            self._closed = True
            await trio.aclose_forcefully(self.stream)
            raise TransportClosed(
                f"{self.name} did not read a {len(data)}-byte frame within {timeout:.1f} s; "
                "the channel is closed"
            )

    async def recv(self) -> Msg:
        """Receive and decode one message.

        Raises:
            TransportClosed: the peer closed the channel or the stream failed.
            FrameTooLarge: the peer announced a frame over ``max_frame_size``.
            ProtocolError: the frame is not a valid message (``MsgTypeError`` when it
                is msgpack of the wrong shape).
        """
        return decode_msg(await self.recv_frame())

    async def recv_frame(self) -> bytes | bytearray | memoryview:
        """Receive one raw frame body (the unit that :meth:`recv` decodes)."""
        buf = self._rbuf
        if not buf:
            # The common case: one read brings exactly one whole frame. Hand out a
            # view of it (the bytes are immutable, so a lazily decoded payload may
            # keep referring to them) instead of copying it through the buffer.
            data = await self._receive_some(self._read_size)
            size = len(data) - _HEADER
            if size >= 0 and int.from_bytes(data[:_HEADER], "big") == size:
                if size > self.max_frame_size:
                    raise FrameTooLarge(
                        f"{self.name} announced a {size}-byte frame, over the maximum "
                        f"frame size of {self.max_frame_size} bytes"
                    )
                self._read_size = max(_READ_SIZE, min(len(data), _LARGE_READ))
                if isinstance(data, bytes):
                    return memoryview(data)[_HEADER:]
                return bytes(data[_HEADER:])
            if not data:
                self._eof = True
                raise TransportClosed(f"{self.name} closed the channel")
            buf += data
        while True:
            if len(buf) >= _HEADER:
                size = int.from_bytes(buf[:_HEADER], "big")
                if size > self.max_frame_size:
                    raise FrameTooLarge(
                        f"{self.name} announced a {size}-byte frame, over the maximum "
                        f"frame size of {self.max_frame_size} bytes"
                    )
                end = _HEADER + size
                if len(buf) >= end:
                    frame = bytes(memoryview(buf)[_HEADER:end])
                    del buf[:end]
                    self._read_size = max(_READ_SIZE, min(end, _LARGE_READ))
                    return frame
                want = end - len(buf)
                if want >= _LARGE_READ and self._sock is not None:
                    return await self._recv_large(size)
            else:
                want = _HEADER - len(buf)
            data = await self._receive_some(max(want, self._read_size))
            if not data:
                self._eof = True
                if buf:
                    raise TransportClosed(
                        f"{self.name} closed the channel in the middle of a frame "
                        f"({len(buf)} bytes of a frame received)"
                    )
                raise TransportClosed(f"{self.name} closed the channel")
            buf += data

    async def _recv_large(self, size: int) -> bytearray:
        """Read the rest of a large frame straight into a buffer of its own, instead
        of growing, copying and shifting the read buffer."""
        assert self._sock is not None
        buf = self._rbuf
        frame = bytearray(size)
        got = len(buf) - _HEADER
        frame[:got] = memoryview(buf)[_HEADER:]
        header = bytes(buf[:_HEADER])
        buf.clear()
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            with memoryview(frame) as view:
                while got < size:
                    try:
                        n = self._sock.recv_into(view[got:])
                    except BlockingIOError:
                        await trio.lowlevel.wait_readable(self._sock)
                        continue
                    except OSError as exc:
                        raise TransportClosed(f"channel to {self.name} broke: {exc}") from exc
                    if not n:
                        self._eof = True
                        raise TransportClosed(
                            f"{self.name} closed the channel in the middle of a frame "
                            f"({got} of {size} bytes received)"
                        )
                    got += n
        except trio.ClosedResourceError as exc:
            raise TransportClosed(f"channel to {self.name} is closed") from exc
        except BaseException:
            # Keep what arrived, so that a later receive goes on from there.
            buf[:] = header + frame[:got]
            raise
        await trio.lowlevel.cancel_shielded_checkpoint()
        return frame

    async def _receive_some(self, max_bytes: int) -> bytes | bytearray:
        if self._closed:
            raise TransportClosed(f"channel to {self.name} is closed")
        if self._sock is not None:
            await trio.lowlevel.checkpoint_if_cancelled()
            waited = False
            while True:
                try:
                    data = self._sock.recv(max_bytes)
                except BlockingIOError:
                    try:
                        await trio.lowlevel.wait_readable(self._sock)
                    except trio.ClosedResourceError as exc:
                        raise TransportClosed(f"channel to {self.name} is closed") from exc
                    waited = True
                    continue
                except OSError as exc:
                    raise TransportClosed(f"channel to {self.name} broke: {exc}") from exc
                if not waited:
                    # Data was there at once: still let other tasks run, as a trio
                    # checkpoint would. After a wait the task has just been
                    # scheduled, so a second pass of the scheduler buys nothing.
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return data
        try:
            return await self.stream.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise TransportClosed(f"channel to {self.name} broke: {exc}") from exc

    async def __aiter__(self) -> AsyncIterator[Msg]:
        """Yield messages until the peer closes the channel cleanly."""
        while True:
            try:
                msg = await self.recv()
            except TransportClosed:
                if self._eof and not self._rbuf:
                    return
                raise
            yield msg

    async def aclose(self) -> None:
        """Close the channel; further sends and receives raise ``TransportClosed``."""
        self._closed = True
        await self.stream.aclose()
