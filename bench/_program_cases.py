"""Whole programs (issue 14): a fresh ``python SCRIPT`` from its start to its result.

Each case is a small script generated into a temporary directory and run as a new
process, the way a user runs a program. The script prints ``time.monotonic()`` (one
clock for every process of the machine) once it holds its result(s); the bench
reads the clock just before starting the process and again once it has reaped it.
Every program of a repetition runs in turn, the order rotating, so that a change of
load hits all alike; overheads over a baseline are medians of the per-repetition
differences.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from _common import Config, Measurement
from _program_workloads import BASELINES, OWN_BASELINE, PLAIN_PYTHON, PLAIN_TRIO

__all__ = ["paired_overhead", "render_overheads", "run_programs"]

_REPORT = "print(repr(time.monotonic()), len(set(pids)), flush=True)"

_PLAIN_PYTHON = f"""
import os, time
if __name__ == "__main__":
    pids = [os.getpid() for _ in range({{n}})]
    {_REPORT}
"""

_PLAIN_TRIO = f"""
import os, time
import trio
{{extra}}

async def main():
    pids = [os.getpid() for _ in range({{n}})]
    {_REPORT}

if __name__ == "__main__":
    trio.run(main)
"""

_AGENTREE = f"""
import os, time
import trio
import agentree

async def main():
    pids = []
    async with agentree.open_nursery(start_method="{{method}}") as an:
        async def one(i):
            portal = await an.run_in_actor(os.getpid, name=f"w{{{{i}}}}")
            pids.append(await portal.wait_for_result())
        async with trio.open_nursery() as nursery:
            for i in range({{n}}):
                nursery.start_soon(one, i)
        {_REPORT}

if __name__ == "__main__":
    trio.run(main)
"""

_PPE = f"""
import os, time
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

_barrier = None

def _init(barrier):
    global _barrier
    _barrier = barrier

def _getpid():
    if _barrier is not None:
        _barrier.wait()  # every worker holds a task: the {{n}} pids are distinct
    return os.getpid()

def main():
    ctx = multiprocessing.get_context("{{method}}")
    extra = {{{{}}}}
    if {{n}} > 1:
        extra = dict(initializer=_init, initargs=(ctx.Barrier({{n}}),))
    with ProcessPoolExecutor({{n}}, mp_context=ctx, **extra) as ex:
        futures = [ex.submit(_getpid) for _ in range({{n}})]
        pids = [f.result() for f in futures]
        {_REPORT}

if __name__ == "__main__":
    main()
"""

_TRIO_PARALLEL = f"""
import os, time
import trio
import trio_parallel

async def main():
    pids = []
    limiter = trio.CapacityLimiter({{n}})
    async def one():
        pids.append(await trio_parallel.run_sync(os.getpid, limiter=limiter))
    async with trio.open_nursery() as nursery:
        for _ in range({{n}}):
            nursery.start_soon(one)
    {_REPORT}

if __name__ == "__main__":
    trio.run(main)
"""


def _programs(n: int) -> dict[str, tuple[str, dict[str, str]]]:
    """Each impl's script for ``n`` workers, and its extra environment."""
    progs = {
        PLAIN_PYTHON: (_PLAIN_PYTHON.format(n=n), {}),
        PLAIN_TRIO: (_PLAIN_TRIO.format(n=n, extra=""), {}),
        BASELINES[2]: (_PLAIN_TRIO.format(n=n, extra="import agentree"), {}),
        "ppe forkserver": (_PPE.format(n=n, method="forkserver"), {}),
        "ppe spawn": (_PPE.format(n=n, method="spawn"), {}),
        "agentree forkserver": (_AGENTREE.format(n=n, method="forkserver"), {}),
        "agentree forkserver (fresh)": (
            _AGENTREE.format(n=n, method="forkserver"),
            {"AGENTREE_FORKSERVER": "fresh"},
        ),
        "agentree subprocess": (_AGENTREE.format(n=n, method="subprocess"), {}),
    }
    if importlib.util.find_spec("trio_parallel") is not None:
        progs["trio_parallel spawn"] = (_TRIO_PARALLEL.format(n=n), {})
    return progs


def _env() -> dict[str, str]:
    """The scripts' environment: agentree importable as the bench imports it."""
    env = dict(os.environ)
    env.pop("AGENTREE_FORKSERVER", None)
    spec = importlib.util.find_spec("agentree")
    if spec is not None and spec.origin:
        root = os.path.dirname(os.path.dirname(spec.origin))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def _run_one(path: str, env: dict[str, str], timeout: float) -> tuple[float, float, int]:
    """Run one program: (seconds to its result, seconds to its exit, distinct pids)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    t_exit = time.monotonic()
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise RuntimeError(f"exit {proc.returncode}: {tail[0][:120]}")
    stamp, distinct = out.split()[:2]
    return float(stamp) - t0, t_exit - t0, int(distinct)


def run_programs(
    cfg: Config, keys: list[str], progress: Callable[[str], None]
) -> list[Measurement]:
    """Run the whole-program workloads among ``keys``.

    Args:
        cfg: Benchmark configuration.
        keys: Selected workload keys.
        progress: Prints a progress line.

    Returns:
        One measurement per impl and selected workload.
    """
    counts = sorted({n for n in (1, cfg.many) if f"prog{n}" in keys or f"prog{n}exit" in keys})
    out: list[Measurement] = []
    tmp = tempfile.mkdtemp(prefix="agentree-bench-prog-")
    try:
        env = _env()
        for n in counts:
            progs = _programs(n)
            paths = {}
            for i, (impl, (text, _)) in enumerate(progs.items()):
                paths[impl] = os.path.join(tmp, f"prog{n}_{i}.py")
                with open(paths[impl], "w") as f:
                    f.write(text)
            to_result = {impl: Measurement(f"prog{n}", impl) for impl in progs}
            to_exit = {impl: Measurement(f"prog{n}exit", impl) for impl in progs}
            distinct: dict[str, list[int]] = {impl: [] for impl in progs}
            impls = list(progs)
            t0 = time.perf_counter()
            for rep in range(cfg.repeat + 1):
                shift = rep % len(impls)
                for impl in impls[shift:] + impls[:shift]:
                    if to_result[impl].error:
                        continue
                    try:
                        first, whole, pids = _run_one(
                            paths[impl], {**env, **progs[impl][1]}, cfg.case_timeout
                        )
                    except Exception as exc:
                        to_result[impl].error = to_exit[impl].error = f"error: {exc}"
                        continue
                    if rep:  # the first repetition warms the page cache
                        to_result[impl].samples.append(first)
                        to_exit[impl].samples.append(whole)
                        distinct[impl].append(pids)
            for impl, seen in distinct.items():
                if seen and any(c != n for c in seen) and impl not in BASELINES:
                    to_result[
                        impl
                    ].note = (
                        f"results came from {min(seen)}-{max(seen)} distinct worker pids, not {n}"
                    )
            progress(
                f"[programs] {n} worker(s), {len(impls)} programs {time.perf_counter() - t0:5.1f}s"
            )
            if f"prog{n}" in keys:
                out += to_result.values()
            if f"prog{n}exit" in keys:
                out += to_exit.values()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def paired_overhead(row: Measurement, base: Measurement) -> float | None:
    """Median over repetitions of ``row - base`` (paired: same repetition)."""
    if not row.ok or not base.ok or len(row.samples) != len(base.samples):
        return None
    return statistics.median(r - b for r, b in zip(row.samples, base.samples, strict=True))


def render_overheads(results: list[Measurement]) -> list[str]:
    """The whole-program block: each program's overhead over each baseline.

    Args:
        results: Every measurement taken.

    Returns:
        Output lines (empty when no whole-program row was measured).
    """
    lines: list[str] = []
    for key in ("prog1", "prog8", "prog1exit", "prog8exit"):
        rows = {m.impl: m for m in results if m.workload == key}
        if not rows:
            continue
        lines.append(f"  {key}:")
        for impl, row in rows.items():
            if impl in BASELINES or not row.ok:
                continue
            parts = []
            for base in BASELINES:
                over = paired_overhead(row, rows[base]) if base in rows else None
                if over is not None:
                    own = " (own)" if OWN_BASELINE.get(impl) == base else ""
                    parts.append(f"{over * 1e3:+.0f} ms over {base}{own}")
            lines.append(f"    {impl}: {'; '.join(parts) or 'no baseline samples'}")
    if not lines:
        return []
    return [
        "whole programs, overhead over the same program without workers "
        "(medians of per-repetition differences):",
        *lines,
        "",
    ]
