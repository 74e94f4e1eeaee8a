"""Peer implementations measured beside agentree.

Each case function takes a :class:`~_common.Config` and returns
``(samples, note)``: seconds per repetition for time rows, or round trips per
second per repetition for rate rows. Every case performs one untimed warm-up
repetition first. Worker shutdown is never inside a cold-spawn timed region.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from multiprocessing.context import BaseContext

import _raw
import trio
import trio_parallel
from _common import Config
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

CaseResult = tuple[list[float], str | None]

_SLEEPER = "import os, sys, time; os.write(int(sys.argv[1]), b'x'); time.sleep(60)"
_WARM_SLEEP = 0.2


class _Probe(Exception):
    """Raised on purpose to trigger an error teardown."""


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
    ctx = multiprocessing.get_context("forkserver")
    p = ctx.Process(target=getpid)
    p.start()
    p.join()


def _distinct_note(pid_counts: list[int], expected: int) -> str | None:
    if all(c == expected for c in pid_counts):
        return None
    return (
        f"results came from {min(pid_counts)}-{max(pid_counts)} distinct worker pids "
        f"(not {expected}): a fast worker took several tasks while others were still starting"
    )


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
    return samples, _distinct_note(counts, expected)


def _ppe_cold(method: str, n: int) -> Callable[[Config], CaseResult]:
    def case(cfg: Config) -> CaseResult:
        ctx = multiprocessing.get_context(method)

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


def _mp_process_cold(method: str, n: int) -> Callable[[Config], CaseResult]:
    def case(cfg: Config) -> CaseResult:
        ctx = multiprocessing.get_context(method)

        def start() -> tuple[list[int], Callable[[], None]]:
            procs: list[multiprocessing.process.BaseProcess] = []
            conns = []
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


def _trio_parallel_cold(wtype: trio_parallel.WorkerType, n: int) -> Callable[[Config], CaseResult]:
    def case(cfg: Config) -> CaseResult:
        async def main() -> CaseResult:
            samples: list[float] = []
            counts: list[int] = []
            for rep in range(cfg.repeat + 1):
                pids: list[int] = []
                t0 = time.perf_counter()
                async with trio_parallel.open_worker_context(worker_type=wtype) as wctx:
                    limiter = trio.CapacityLimiter(n)
                    async with trio.open_nursery() as nursery:
                        for _ in range(n):
                            nursery.start_soon(_collect, wctx, limiter, pids, getpid)
                    elapsed = time.perf_counter() - t0
                if rep:
                    samples.append(elapsed)
                    counts.append(len(set(pids)))
            return samples, _distinct_note(counts, n)

        return trio.run(main)

    return case


async def _collect(
    wctx: trio_parallel.WorkerContext,
    limiter: trio.CapacityLimiter,
    out: list[int],
    fn: Callable[..., int],
    *args: float,
) -> None:
    out.append(await wctx.run_sync(fn, *args, limiter=limiter))


def _rates(batch: Callable[[int], None], cfg: Config, n: int) -> list[float]:
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
    ctx = multiprocessing.get_context("forkserver")
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


def _trio_parallel_rates(cfg: Config, n: int, inflight: int | None) -> CaseResult:
    async def main() -> CaseResult:
        async with trio_parallel.open_worker_context() as wctx:

            async def caller(calls: int) -> None:
                for i in range(calls):
                    if await wctx.run_sync(echo, i) != i:
                        raise RuntimeError("trio_parallel: bad reply")

            rates: list[float] = []
            for rep in range(cfg.repeat + 1):
                t0 = time.perf_counter()
                if inflight is None:
                    await caller(n)
                else:
                    per_task, extra = divmod(n, inflight)
                    async with trio.open_nursery() as nursery:
                        for t in range(inflight):
                            nursery.start_soon(caller, per_task + (t < extra))
                elapsed = time.perf_counter() - t0
                if rep:
                    rates.append(n / elapsed)
            workers = wctx.statistics().idle_workers
        limiter = trio_parallel.current_default_worker_limiter().total_tokens
        note = None
        if inflight is not None:
            note = f"default limiter = {limiter} tokens, so {workers} worker process(es) served"
        return rates, note

    return trio.run(main)


def trio_parallel_seq(cfg: Config) -> CaseResult:
    """``WorkerContext.run_sync(echo, i)`` one at a time on a warm spawn worker."""
    return _trio_parallel_rates(cfg, cfg.seq_calls, None)


def trio_parallel_inflight(cfg: Config) -> CaseResult:
    """``cfg.inflight`` trio tasks calling ``run_sync`` with the default limiter."""
    return _trio_parallel_rates(cfg, cfg.inflight_calls, cfg.inflight)


def _forkserver() -> BaseContext:
    return multiprocessing.get_context("forkserver")


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
                futures = [ex.submit(sleep_getpid, _WARM_SLEEP) for _ in range(cfg.many)]
                counts.append(len({f.result() for f in futures}))
                t0 = time.perf_counter()
                raise _Probe
        except _Probe:
            elapsed = time.perf_counter() - t0
        if rep:
            samples.append(elapsed)
    return samples, None


def trio_parallel_teardown(cfg: Config) -> CaseResult:
    """Raise inside ``open_worker_context(FORKSERVER)`` holding 8 idle, warm workers."""

    async def main() -> CaseResult:
        samples: list[float] = []
        counts: list[int] = []
        for rep in range(cfg.repeat + 1):
            t0 = 0.0
            pids: list[int] = []
            try:
                async with trio_parallel.open_worker_context(
                    worker_type=trio_parallel.WorkerType.FORKSERVER
                ) as wctx:
                    limiter = trio.CapacityLimiter(cfg.many)
                    async with trio.open_nursery() as nursery:
                        for _ in range(cfg.many):
                            nursery.start_soon(
                                _collect, wctx, limiter, pids, sleep_getpid, _WARM_SLEEP
                            )
                    counts.append(len(set(pids)))
                    t0 = time.perf_counter()
                    raise _Probe
            except _Probe:
                elapsed = time.perf_counter() - t0
            if rep:
                samples.append(elapsed)
        return samples, _distinct_note(counts, cfg.many)

    return trio.run(main)


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
                    while got < cfg.many:
                        await trio.lowlevel.wait_readable(r)
                        got += len(os.read(r, cfg.many))
                    t0 = time.perf_counter()
                    raise _Probe
            except* _Probe:
                elapsed = time.perf_counter() - t0
            finally:
                os.close(r)
                os.close(w)
            if rep:
                samples.append(elapsed)
        return samples

    return trio.run(main), None


_FS, _SP = "forkserver", "spawn"
_TP = trio_parallel.WorkerType


def peer_cases() -> list[PeerCase]:
    """Build the peer registry.

    Returns:
        Every peer case, in table order within each workload.
    """
    cases: list[PeerCase] = []
    for key, n in (("spawn1", 1), ("spawn8", 8)):
        cases += [
            PeerCase(key, "ppe spawn", _ppe_cold(_SP, n)),
            PeerCase(key, "ppe forkserver", _ppe_cold(_FS, n)),
            PeerCase(key, "trio_parallel spawn", _trio_parallel_cold(_TP.SPAWN, n)),
            PeerCase(key, "trio_parallel forkserver", _trio_parallel_cold(_TP.FORKSERVER, n)),
            PeerCase(key, "mp.Process+Pipe spawn", _mp_process_cold(_SP, n)),
            PeerCase(key, "mp.Process+Pipe forkserver", _mp_process_cold(_FS, n)),
        ]
    cases += [
        PeerCase("seq", "raw msgspec UDS baseline", raw_seq),
        PeerCase("seq", "mp.Pipe ping-pong", mp_pipe_seq),
        PeerCase("seq", "ppe submit().result()", ppe_seq),
        PeerCase("seq", "trio_parallel.run_sync", trio_parallel_seq),
        PeerCase("inflight", "raw msgspec UDS baseline", raw_inflight),
        PeerCase("inflight", "ppe 64 outstanding futures", ppe_inflight),
        PeerCase("inflight", "trio_parallel 64 tasks", trio_parallel_inflight),
        PeerCase("teardown", "mp terminate()+join()", mp_terminate_teardown),
        PeerCase("teardown", "trio nursery run_process", trio_process_teardown),
        PeerCase("teardown", "ppe with-block exit", ppe_teardown),
        PeerCase("teardown", "trio_parallel ctx exit", trio_parallel_teardown),
    ]
    return cases
