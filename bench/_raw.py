"""Raw baseline: two trio processes exchanging length-prefixed msgpack frames.

The parent creates a ``socket.socketpair(AF_UNIX)``, starts this file as a child
with ``subprocess.Popen(..., pass_fds=...)`` and keeps the other end. Both sides
run trio and wrap their end in a ``trio.SocketStream``. A frame is a 4-byte
big-endian length followed by a msgspec-msgpack body. The child echoes every
request ``{"cid": n, "fn": "echo", "kwargs": {"x": v}}`` as
``{"cid": n, "result": v}``, one frame at a time, until EOF.

This is the floor any trio-over-UDS RPC layer (agentree included) can reach.
Run as ``python _raw.py FD`` to act as the child.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import msgspec
import trio

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder()
_HEADER = 4
_RECV_SIZE = 65536


def frame(msg: Any) -> bytes:
    """Encode ``msg`` as one length-prefixed msgpack frame.

    Args:
        msg: Any msgspec-encodable object.

    Returns:
        The frame bytes.
    """
    body = _ENCODER.encode(msg)
    return len(body).to_bytes(_HEADER, "big") + body


class FrameReader:
    """Incrementally split a byte stream into frames."""

    def __init__(self, stream: trio.SocketStream) -> None:
        """Wrap ``stream``.

        Args:
            stream: Stream to read frames from.
        """
        self._stream = stream
        self._buf = bytearray()

    async def receive(self) -> Any | None:
        """Receive and decode the next frame.

        Returns:
            The decoded message, or ``None`` on clean EOF.
        """
        buf = self._buf
        while True:
            if len(buf) >= _HEADER:
                size = int.from_bytes(buf[:_HEADER], "big")
                end = _HEADER + size
                if len(buf) >= end:
                    msg = _DECODER.decode(memoryview(buf)[_HEADER:end])
                    del buf[:end]
                    return msg
            chunk = await self._stream.receive_some(_RECV_SIZE)
            if not chunk:
                return None
            buf += chunk


async def _child_main(fd: int) -> None:
    """Serve echo requests on the inherited socket ``fd`` until EOF.

    Args:
        fd: File descriptor of the child's end of the socketpair.
    """
    sock = trio.socket.from_stdlib_socket(socket.socket(fileno=fd))
    async with trio.SocketStream(sock) as stream:
        reader = FrameReader(stream)
        while (msg := await reader.receive()) is not None:
            await stream.send_all(frame({"cid": msg["cid"], "result": msg["kwargs"]["x"]}))


class RawPeer:
    """Parent side of the raw baseline: owns the child process and the stream."""

    def __init__(self) -> None:
        """Start the child process; the socket is wrapped later inside trio."""
        self._parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, str(child_sock.fileno())],
                pass_fds=(child_sock.fileno(),),
            )
        finally:
            child_sock.close()
        self._next_cid = 0

    def close(self) -> None:
        """Close our end (the child exits on EOF) and reap the child."""
        self._parent_sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def stream(self) -> trio.SocketStream:
        """Wrap the parent end for trio; call inside ``trio.run``.

        Returns:
            A ``trio.SocketStream`` over the parent's end of the socketpair.
        """
        return trio.SocketStream(trio.socket.from_stdlib_socket(self._parent_sock))

    async def sequential(self, stream: trio.SocketStream, reader: FrameReader, n: int) -> None:
        """Perform ``n`` strictly sequential round trips.

        Args:
            stream: Parent stream from :meth:`stream`.
            reader: Frame reader over ``stream``.
            n: Number of round trips.

        Raises:
            RuntimeError: If the child answers wrongly or goes away.
        """
        for i in range(n):
            cid = self._next_cid
            self._next_cid += 1
            await stream.send_all(frame({"cid": cid, "fn": "echo", "kwargs": {"x": i}}))
            msg = await reader.receive()
            if msg is None or msg["cid"] != cid or msg["result"] != i:
                raise RuntimeError(f"raw baseline: bad reply {msg!r}")

    async def pipelined(
        self, stream: trio.SocketStream, reader: FrameReader, n: int, inflight: int
    ) -> None:
        """Perform ``n`` round trips from ``inflight`` concurrent trio tasks.

        Requests are serialized through one send lock; a single reader task
        matches replies to waiting callers by ``cid``.

        Args:
            stream: Parent stream from :meth:`stream`.
            reader: Frame reader over ``stream``.
            n: Total number of round trips.
            inflight: Number of concurrent caller tasks.

        Raises:
            RuntimeError: If the child answers wrongly or goes away.
        """
        send_lock = trio.StrictFIFOLock()
        waiting: dict[int, list[Any]] = {}

        async def read_replies() -> None:
            while (msg := await reader.receive()) is not None:
                slot = waiting.pop(msg["cid"])
                slot[1] = msg["result"]
                slot[0].set()
            raise RuntimeError("raw baseline: child closed the stream")

        async def call(x: int) -> Any:
            cid = self._next_cid
            self._next_cid += 1
            slot: list[Any] = [trio.Event(), None]
            waiting[cid] = slot
            data = frame({"cid": cid, "fn": "echo", "kwargs": {"x": x}})
            async with send_lock:
                await stream.send_all(data)
            await slot[0].wait()
            return slot[1]

        async def caller(calls: int) -> None:
            for i in range(calls):
                if await call(i) != i:
                    raise RuntimeError("raw baseline: bad pipelined reply")

        per_task, extra = divmod(n, inflight)
        async with trio.open_nursery() as outer:
            outer.start_soon(read_replies)
            async with trio.open_nursery() as callers:
                for t in range(inflight):
                    callers.start_soon(caller, per_task + (t < extra))
            outer.cancel_scope.cancel()


def measure(n: int, repeat: int, inflight: int | None) -> list[float]:
    """Measure round trips per second against a fresh raw child.

    One untimed warm-up batch precedes the ``repeat`` timed batches; all batches
    use the same child and stream.

    Args:
        n: Round trips per repetition.
        repeat: Number of timed repetitions.
        inflight: ``None`` for sequential calls, else number of concurrent callers.

    Returns:
        Round trips per second for each repetition.
    """
    peer = RawPeer()
    try:

        async def main() -> list[float]:
            rates: list[float] = []
            stream = peer.stream()
            reader = FrameReader(stream)
            for rep in range(repeat + 1):
                t0 = time.perf_counter()
                if inflight is None:
                    await peer.sequential(stream, reader, n)
                else:
                    await peer.pipelined(stream, reader, n, inflight)
                elapsed = time.perf_counter() - t0
                if rep:
                    rates.append(n / elapsed)
            return rates

        return trio.run(main)
    finally:
        peer.close()


if __name__ == "__main__":
    trio.run(_child_main, int(sys.argv[1]))
