"""Peer implementations measured beside agentree.

Each case function takes a :class:`~_common.Config` and returns
``(samples, note)``: seconds per repetition for time rows, or round trips per
second per repetition for rate rows. Every case performs one untimed warm-up
repetition first. Worker shutdown is never inside a cold-spawn timed region.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from typing import Literal

import _killroot
import _raw
import trio
from _common import WARM_SLEEP, CaseResult, Config, Probe, Unavailable, distinct_note
from _raw_stream import stream_peer_cases
from _workloads import (
    barrier_getpid,
    echo,
    getpid,
    init_barrier,
    pipe_echo_server,
    pipe_getpid,
    pipe_ready_then_sleep,
    sleep_getpid,
)

StartMethod = Literal["spawn", "forkserver"]

_SLEEPER = "import os, sys, time; os.write(int(sys.argv[1]), b'x'); time.sleep(60)"


@dataclass(frozen=True, slots=True)
class PeerCase:
    """A peer implementation of one workload.

    Attributes:
        workload: ``Workload.key`` of the row group.
        impl: Label printed in the table.
        run: Function performing warm-up plus timed repetitions.
    """

    workload: str
    impl: str
    run: Callable[[Config], CaseResult]


def warm_forkserver() -> None:
    """Start multiprocessing's forkserver (it persists for the life of this process).

    Every forkserver-based peer shares this one server, so its one-time startup
    cost (a fresh interpreter that pre-imports ``__main__``) is paid here, untimed.
    """
    ctx = _forkserver()
    p = ctx.Process(target=getpid)
    p.start()
    p.join()


def _cold_loop(
    start: Callable[[], tuple[list[int], Callable[[], None]]], cfg: Config, expected: int
) -> CaseResult:
    """Time ``start`` (spawn + first results); run its cleanup untimed.

    Args:
        start: Spawns workers, waits for every result, returns (pids, cleanup).
        cfg: Benchmark configuration.
        expected: Number of distinct worker pids that should have answered.

    Returns:
        Seconds per timed repetition and an optional note.
    """
    samples: list[float] = []
    counts: list[int] = []
    for rep in range(cfg.repeat + 1):
        t0 = time.perf_counter()
        pids, cleanup = start()
        elapsed = time.perf_counter() - t0
        cleanup()
        if rep:
            samples.append(elapsed)
            counts.append(len(set(pids)))
    return samples, distinct_note(counts, expected)


def _ppe_cold(method: StartMethod, n: int) -> Callable[[Config], CaseResult]:
    """Build the ProcessPoolExecutor cold-spawn case.

    Args:
        method: multiprocessing start method of the pool.
        n: Number of workers (and of ``getpid`` results awaited).

    Returns:
        The case function.
    """

    def case(cfg: Config) -> CaseResult:
        ctx = _context(method)

        def start() -> tuple[list[int], Callable[[], None]]:
            if n == 1:
                ex = ProcessPoolExecutor(max_workers=1, mp_context=ctx)
                return [ex.submit(getpid).result()], ex.shutdown
            ex = ProcessPoolExecutor(
                max_workers=n,
                mp_context=ctx,
                initializer=init_barrier,
                initargs=(ctx.Barrier(n),),
            )
            futures = [ex.submit(barrier_getpid) for _ in range(n)]
            return [f.result() for f in futures], ex.shutdown

        return _cold_loop(start, cfg, n)

    return case


def _mp_process_cold(method: StartMethod, n: int) -> Callable[[Config], CaseResult]:
    """Build the ``multiprocessing.Process`` + ``Pipe`` cold-spawn case.

    Args:
        method: multiprocessing start method.
        n: Number of processes started back to back.

    Returns:
        The case function.
    """

    def case(cfg: Config) -> CaseResult:
        ctx = _context(method)

        def start() -> tuple[list[int], Callable[[], None]]:
            procs: list[multiprocessing.process.BaseProcess] = []
            conns: list[Connection] = []
            for _ in range(n):
                r, w = ctx.Pipe(duplex=False)
                p = ctx.Process(target=pipe_getpid, args=(w,))
                p.start()
                w.close()
                procs.append(p)
                conns.append(r)
            pids = [c.recv() for c in conns]

            def cleanup() -> None:
                for p in procs:
                    p.join()
                for c in conns:
                    c.close()

            return pids, cleanup

        return _cold_loop(start, cfg, n)

    return case


def _rates(batch: Callable[[int], None], cfg: Config, n: int) -> list[float]:
    """Run ``batch(n)`` once untimed and ``cfg.repeat`` times timed.

    Args:
        batch: Performs ``n`` round trips.
        cfg: Benchmark configuration.
        n: Round trips per repetition.

    Returns:
        Round trips per second of each timed repetition.
    """
    rates: list[float] = []
    for rep in range(cfg.repeat + 1):
        t0 = time.perf_counter()
        batch(n)
        elapsed = time.perf_counter() - t0
        if rep:
            rates.append(n / elapsed)
    return rates


def raw_seq(cfg: Config) -> CaseResult:
    """Raw msgspec/UDS baseline, one round trip at a time."""
    return _raw.measure(cfg.seq_calls, cfg.repeat, None), None


def raw_inflight(cfg: Config) -> CaseResult:
    """Raw msgspec/UDS baseline, ``cfg.inflight`` round trips in flight."""
    return _raw.measure(cfg.inflight_calls, cfg.repeat, cfg.inflight), None


def mp_pipe_seq(cfg: Config) -> CaseResult:
    """``multiprocessing.Pipe`` ping-pong with one forkserver worker process."""
    ctx = _forkserver()
    conn, child_conn = ctx.Pipe()
    p = ctx.Process(target=pipe_echo_server, args=(child_conn,))
    p.start()
    child_conn.close()
    try:

        def batch(n: int) -> None:
            send, recv = conn.send, conn.recv
            for i in range(n):
                send(i)
                if recv() != i:
                    raise RuntimeError("mp.Pipe: bad reply")

        return _rates(batch, cfg, cfg.seq_calls), None
    finally:
        conn.send(None)
        conn.close()
        p.join(10)
        if p.is_alive():
            p.kill()
            p.join()


def ppe_seq(cfg: Config) -> CaseResult:
    """``ProcessPoolExecutor(1)``: ``submit(echo, i).result()`` one at a time."""
    with ProcessPoolExecutor(max_workers=1, mp_context=_forkserver()) as ex:

        def batch(n: int) -> None:
            for i in range(n):
                if ex.submit(echo, i).result() != i:
                    raise RuntimeError("ppe: bad reply")

        return _rates(batch, cfg, cfg.seq_calls), None


def ppe_inflight(cfg: Config) -> CaseResult:
    """``ProcessPoolExecutor(1)`` with a sliding window of outstanding futures."""
    with ProcessPoolExecutor(max_workers=1, mp_context=_forkserver()) as ex:

        def batch(n: int) -> None:
            window = threading.BoundedSemaphore(cfg.inflight)
            futures = []
            for i in range(n):
                window.acquire()
                f = ex.submit(echo, i)
                f.add_done_callback(lambda _f: window.release())
                futures.append(f)
            concurrent.futures.wait(futures)
            if any(f.result() != i for i, f in enumerate(futures)):
                raise RuntimeError("ppe: bad reply")

        return _rates(batch, cfg, cfg.inflight_calls), None


def _forkserver() -> ForkServerContext:
    """Return multiprocessing's forkserver context."""
    return multiprocessing.get_context("forkserver")


def _context(method: StartMethod) -> SpawnContext | ForkServerContext:
    """Return the multiprocessing context for ``method``."""
    if method == "spawn":
        return multiprocessing.get_context("spawn")
    return _forkserver()


def mp_terminate_teardown(cfg: Config) -> CaseResult:
    """8 forkserver ``Process``es sleeping; time ``terminate()`` + ``join()`` of all."""
    ctx = _forkserver()
    samples: list[float] = []
    for rep in range(cfg.repeat + 1):
        procs = []
        for _ in range(cfg.many):
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=pipe_ready_then_sleep, args=(w, 60.0))
            p.start()
            w.close()
            r.recv()
            r.close()
            procs.append(p)
        t0 = time.perf_counter()
        for p in procs:
            p.terminate()
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - t0
        for p in procs:
            p.close()
        if rep:
            samples.append(elapsed)
    return samples, None


def ppe_teardown(cfg: Config) -> CaseResult:
    """Raise inside ``with ProcessPoolExecutor(8)`` holding 8 idle, warm workers."""
    samples: list[float] = []
    counts: list[int] = []
    for rep in range(cfg.repeat + 1):
        t0 = 0.0
        try:
            with ProcessPoolExecutor(max_workers=cfg.many, mp_context=_forkserver()) as ex:
                futures = [ex.submit(sleep_getpid, WARM_SLEEP) for _ in range(cfg.many)]
                counts.append(len({f.result() for f in futures}))
                t0 = time.perf_counter()
                raise Probe
        except Probe:
            elapsed = time.perf_counter() - t0
        if rep:
            samples.append(elapsed)
    return samples, distinct_note(counts, cfg.many)


def trio_process_teardown(cfg: Config) -> CaseResult:
    """Raise inside a trio nursery running 8 ``trio.run_process`` sleepers."""

    async def main() -> list[float]:
        samples: list[float] = []
        for rep in range(cfg.repeat + 1):
            r, w = os.pipe()
            t0 = 0.0
            try:
                async with trio.open_nursery() as nursery:
                    for _ in range(cfg.many):
                        nursery.start_soon(
                            partial(
                                trio.run_process,
                                [sys.executable, "-c", _SLEEPER, str(w)],
                                pass_fds=(w,),
                                stdin=subprocess.DEVNULL,
                            )
                        )
                    got = 0
                    with trio.fail_after(60):
                        while got < cfg.many:
                            await trio.lowlevel.wait_readable(r)
                            got += len(os.read(r, cfg.many))
                    t0 = time.perf_counter()
                    raise Probe
            except* Probe:
                elapsed = time.perf_counter() - t0
            finally:
                os.close(r)
                os.close(w)
            if rep:
                samples.append(elapsed)
        return samples

    return trio.run(main), None


_FS: StartMethod = "forkserver"
_SP: StartMethod = "spawn"


def _unavailable(reason: str) -> Callable[[Config], CaseResult]:
    """Build a case that reports ``reason`` as n/a instead of measuring.

    Args:
        reason: Why the case cannot run.

    Returns:
        A case function raising :class:`~_common.Unavailable`.
    """

    def case(cfg: Config) -> CaseResult:
        raise Unavailable(reason)

    return case


def _tp_cases() -> dict[tuple[str, str], Callable[[Config], CaseResult]]:
    """Return the trio_parallel cases, or n/a stand-ins if it cannot be imported.

    Returns:
        Case functions keyed by ``(workload key, impl label)``.
    """
    try:
        import _tp_peers
    except ImportError as exc:
        return dict.fromkeys(_tp_rows(), _unavailable(f"trio_parallel not importable: {exc}"))
    cases = {
        ("spawn1", "trio_parallel spawn"): _tp_peers.cold(_tp_peers.SPAWN, 1),
        ("spawn1", "trio_parallel forkserver"): _tp_peers.cold(_tp_peers.FORKSERVER, 1),
        ("spawn8", "trio_parallel spawn"): _tp_peers.cold(_tp_peers.SPAWN, 8),
        ("spawn8", "trio_parallel forkserver"): _tp_peers.cold(_tp_peers.FORKSERVER, 8),
        ("seq", "trio_parallel.run_sync"): _tp_peers.seq,
        ("inflight", "trio_parallel 64 tasks"): _tp_peers.inflight,
        ("teardown", "trio_parallel ctx exit"): _tp_peers.teardown,
    }
    assert list(cases) == _tp_rows()
    return cases


def _tp_rows() -> list[tuple[str, str]]:
    """Return the ``(workload key, impl label)`` of every trio_parallel row."""
    spawn = [(k, f"trio_parallel {m}") for k in ("spawn1", "spawn8") for m in (_SP, _FS)]
    return [
        *spawn,
        ("seq", "trio_parallel.run_sync"),
        ("inflight", "trio_parallel 64 tasks"),
        ("teardown", "trio_parallel ctx exit"),
    ]


def peer_cases() -> list[PeerCase]:
    """Build the peer registry.

    trio_parallel is optional; when it cannot be imported its rows report n/a.

    Returns:
        Every peer case, in table order within each workload.
    """
    tp = _tp_cases()
    cases: list[PeerCase] = []
    for key, n in (("spawn1", 1), ("spawn8", 8)):
        cases += [
            PeerCase(key, "ppe spawn", _ppe_cold(_SP, n)),
            PeerCase(key, "ppe forkserver", _ppe_cold(_FS, n)),
            PeerCase(key, "trio_parallel spawn", tp[key, "trio_parallel spawn"]),
            PeerCase(key, "trio_parallel forkserver", tp[key, "trio_parallel forkserver"]),
            PeerCase(key, "mp.Process+Pipe spawn", _mp_process_cold(_SP, n)),
            PeerCase(key, "mp.Process+Pipe forkserver", _mp_process_cold(_FS, n)),
        ]
    cases += [
        PeerCase("seq", "raw msgspec UDS baseline", raw_seq),
        PeerCase("seq", "mp.Pipe ping-pong", mp_pipe_seq),
        PeerCase("seq", "ppe submit().result()", ppe_seq),
        PeerCase("seq", "trio_parallel.run_sync", tp["seq", "trio_parallel.run_sync"]),
        PeerCase("inflight", "raw msgspec UDS baseline", raw_inflight),
        PeerCase("inflight", "ppe 64 outstanding futures", ppe_inflight),
        PeerCase("inflight", "trio_parallel 64 tasks", tp["inflight", "trio_parallel 64 tasks"]),
        PeerCase("teardown", "mp terminate()+join()", mp_terminate_teardown),
        PeerCase("teardown", "trio nursery run_process", trio_process_teardown),
        PeerCase("teardown", "ppe with-block exit", ppe_teardown),
        PeerCase("teardown", "trio_parallel ctx exit", tp["teardown", "trio_parallel ctx exit"]),
        PeerCase("killroot", "ppe forkserver", _killroot.ppe_case),
    ]
    cases += [PeerCase(*case) for case in stream_peer_cases()]  # type: ignore[arg-type]
    return cases


def stop_mp_helpers() -> None:
    """Stop and reap multiprocessing's fork server and resource tracker, if running.

    They would otherwise exit on their own only after this process is gone
    (re-parented, reaped by init). Uses private CPython hooks, so any missing
    attribute is simply skipped.
    """
    forkserver = getattr(multiprocessing.forkserver, "_forkserver", None)
    tracker = getattr(multiprocessing.resource_tracker, "_resource_tracker", None)
    for helper in (forkserver, tracker):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            stop()
