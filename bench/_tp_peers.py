"""trio_parallel peers (optional: ``pip install -e '.[bench]'``).

Importing this module imports ``trio_parallel``; :func:`_peers.peer_cases`
turns an import failure into "n/a" rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import trio
import trio_parallel
from _common import WARM_SLEEP, CaseResult, Config, Probe, distinct_note
from _workloads import echo, getpid, sleep_getpid

SPAWN = trio_parallel.WorkerType.SPAWN
FORKSERVER = trio_parallel.WorkerType.FORKSERVER


async def _collect(
    wctx: trio_parallel.WorkerContext,
    limiter: trio.CapacityLimiter,
    out: list[int],
    fn: Callable[..., int],
    *args: float,
) -> None:
    """Run ``fn(*args)`` in a trio_parallel worker and append the result to ``out``.

    Args:
        wctx: Worker context to run in.
        limiter: Limiter passed to ``run_sync``.
        out: List collecting results.
        fn: Module-level function returning an int.
        *args: Arguments for ``fn``.
    """
    out.append(await wctx.run_sync(fn, *args, limiter=limiter))


def cold(wtype: trio_parallel.WorkerType, n: int) -> Callable[[Config], CaseResult]:
    """Build the trio_parallel cold-spawn case (fresh worker context per repetition).

    Args:
        wtype: trio_parallel worker type.
        n: Number of concurrent ``run_sync`` calls (limiter of ``n`` tokens).

    Returns:
        The case function.
    """

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
            return samples, distinct_note(counts, n)

        return trio.run(main)

    return case


def _rates(cfg: Config, n: int, inflight: int | None) -> CaseResult:
    """Measure ``WorkerContext.run_sync(echo, i)`` round trips on warm workers.

    Args:
        cfg: Benchmark configuration.
        n: Round trips per repetition.
        inflight: ``None`` for sequential calls, else number of concurrent tasks.

    Returns:
        Round trips per second per repetition and an optional note.
    """

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


def seq(cfg: Config) -> CaseResult:
    """``WorkerContext.run_sync(echo, i)`` one at a time on a warm spawn worker."""
    return _rates(cfg, cfg.seq_calls, None)


def inflight(cfg: Config) -> CaseResult:
    """``cfg.inflight`` trio tasks calling ``run_sync`` with the default limiter."""
    return _rates(cfg, cfg.inflight_calls, cfg.inflight)


def teardown(cfg: Config) -> CaseResult:
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
                                _collect, wctx, limiter, pids, sleep_getpid, WARM_SLEEP
                            )
                    counts.append(len(set(pids)))
                    t0 = time.perf_counter()
                    raise Probe
            except Probe:
                elapsed = time.perf_counter() - t0
            if rep:
                samples.append(elapsed)
        return samples, distinct_note(counts, cfg.many)

    return trio.run(main)
