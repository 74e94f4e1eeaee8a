"""Stream workloads: their table rows, notes, and the raw msgspec-over-UDS baseline.

Two workloads, each measured against the raw baseline in the same run:

- context ping-pong: round trips on one two-way stream. The raw peer is the same
  strictly sequential frame ping-pong as the ``seq`` row's baseline (``_raw.py``).
- one-way stream throughput for ``bytes`` payloads of 1 KiB, 64 KiB and 4 MiB: the
  raw child answers one request ``{"n": N, "size": S}`` with N frames
  ``{"cid": 1, "pld": <S bytes>}``, one ``send_all`` per frame; the parent reads and
  decodes every frame.

Run as ``python _raw_stream.py FD`` to act as the raw child. Imports no agentree.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import _raw
import trio
from _common import CaseResult, Config, Workload

RAW = "raw msgspec UDS baseline"
SIZES = {"stream1k": 1024, "stream64k": 64 * 1024, "stream4m": 4 * 1024 * 1024}
# Messages per repetition: (full run, --quick).
COUNTS = {
    "ctxpingpong": (5000, 1000),
    "stream1k": (20000, 4000),
    "stream64k": (3000, 600),
    "stream4m": (60, 15),
}

STREAM_WORKLOADS = [
    Workload("ctxpingpong", "context ping-pong round trips/s", "rate", ref=RAW),
    Workload("stream1k", "one-way stream 1 KiB msgs/s", "rate", ref=RAW),
    Workload("stream64k", "one-way stream 64 KiB msgs/s", "rate", ref=RAW),
    Workload("stream4m", "one-way stream 4 MiB msgs/s", "rate", ref=RAW),
]

STREAM_FOOTNOTES = {
    "ctxpingpong": [
        "context ping-pong: N strictly sequential round trips of a small int on one "
        "two-way stream of one open context (portal.open_context + ctx.open_stream on both "
        "sides, the child echoes). raw baseline: the seq row's frame ping-pong.",
    ],
    "stream1k": [
        "one-way stream: N bytes items of 1 KiB / 64 KiB / 4 MiB from a child to the parent, "
        "timed from the request until the parent decoded the last item. agentree: "
        "portal.open_stream_from(async generator yielding the same bytes object N times); "
        "default window (msg_buffer_size 64). raw baseline: the child sends N frames "
        "{cid, pld}, one send_all each, the parent reads and decodes each. MB/s in the notes.",
    ],
}


def count(key: str, cfg: Config) -> int:
    """Messages per repetition of workload ``key``."""
    full, quick = COUNTS[key]
    return quick if cfg.quick else full


async def _child_main(fd: int) -> None:
    """Answer each request ``{"n", "size"}`` with ``n`` frames of ``size`` bytes."""
    sock = trio.socket.from_stdlib_socket(socket.socket(fileno=fd))
    async with trio.SocketStream(sock) as stream:
        reader = _raw.FrameReader(stream)
        while (req := await reader.receive()) is not None:
            payload = b"x" * req["size"]
            for _ in range(req["n"]):
                await stream.send_all(_raw.frame({"cid": 1, "pld": payload}))


def _measure_one_way(n: int, size: int, repeat: int) -> list[float]:
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        proc = subprocess.Popen(
            [sys.executable, __file__, str(child_sock.fileno())], pass_fds=(child_sock.fileno(),)
        )
    finally:
        child_sock.close()

    async def main() -> list[float]:
        rates: list[float] = []
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(parent_sock))
        reader = _raw.FrameReader(stream)
        for rep in range(repeat + 1):
            t0 = time.perf_counter()
            await stream.send_all(_raw.frame({"n": n, "size": size}))
            for _ in range(n):
                msg = await reader.receive()
                if msg is None or len(msg["pld"]) != size:
                    raise RuntimeError("raw stream baseline: bad frame")
            elapsed = time.perf_counter() - t0
            if rep:
                rates.append(n / elapsed)
        return rates

    try:
        return trio.run(main)
    finally:
        parent_sock.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def mb_note(rates: list[float], size: int) -> str:
    """The median throughput in MB/s, for the notes."""
    mid = sorted(rates)[len(rates) // 2]
    return f"{mid * size / 1e6:,.0f} MB/s (median)"


def _raw_pingpong(cfg: Config) -> CaseResult:
    return _raw.measure(count("ctxpingpong", cfg), cfg.repeat, None), None


def _raw_one_way(key: str):  # type: ignore[no-untyped-def]
    def case(cfg: Config) -> CaseResult:
        rates = _measure_one_way(count(key, cfg), SIZES[key], cfg.repeat)
        return rates, mb_note(rates, SIZES[key])

    return case


def stream_peer_cases() -> list[tuple[str, str, object]]:
    """``(workload, impl, case)`` of the raw baselines of the stream workloads."""
    return [
        ("ctxpingpong", RAW, _raw_pingpong),
        *((key, RAW, _raw_one_way(key)) for key in SIZES),
    ]


if __name__ == "__main__":
    trio.run(_child_main, int(sys.argv[1]))
