"""agentree's side of the rows set beside Ray (issue 14); see ``_ray_workloads``.

The functions that actors run are in ``_workloads`` (the bench directory is on
their ``sys.path``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import _program_cases
import _ray_cases
import trio
from _common import Config, Measurement, format_error
from _ray_workloads import labels
from _workloads import echo, getpid

import agentree

__all__ = ["run_runtime"]

_ACTORS = 8
_MODULES = ["_workloads"]


_RTSTART = """
import sys, time
import trio
import agentree

async def main():
    t0 = time.perf_counter()
    async with agentree.open_nursery(start_method=sys.argv[1]) as an:
        portal = await an.start_actor("first", enable_modules=["_workloads"])
        await portal.run(_workloads.echo, x=1)
        print(repr(time.perf_counter() - t0), flush=True)
        await an.cancel()

if __name__ == "__main__":
    import _workloads
    trio.run(main)
"""


def _rtstart(cfg: Config, method: str, row: Measurement) -> None:
    """open_root_actor() to a first answer, timed inside a fresh program."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = _program_cases._env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="agentree-bench-rt-") as tmp:
        path = os.path.join(tmp, "rtstart.py")
        with open(path, "w") as f:
            f.write(_RTSTART)
        for rep in range(cfg.repeat + 1):
            proc = subprocess.run(
                [sys.executable, path, method],
                capture_output=True,
                env=env,
                timeout=cfg.case_timeout,
                check=False,
            )
            if proc.returncode != 0:
                tail = (proc.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
                raise RuntimeError(f"exit {proc.returncode}: {tail[:120]}")
            if rep:
                row.samples.append(float(proc.stdout.split()[0]))


async def _rtactor(cfg: Config, row: Measurement) -> None:
    async with agentree.open_nursery() as an:
        for rep in range(cfg.repeat + 1):
            t0 = time.perf_counter()
            portal = await an.start_actor(f"fresh{rep}", enable_modules=_MODULES)
            await portal.run(echo, x=1)
            spent = time.perf_counter() - t0
            await portal.cancel_actor()
            if rep:
                row.samples.append(spent)


async def _rtstart8(cfg: Config, row: Measurement) -> None:
    for rep in range(cfg.repeat + 1):
        t0 = time.perf_counter()
        async with agentree.open_nursery() as an:

            async def one(i: int, an: agentree.ActorNursery = an) -> None:
                portal = await an.start_actor(f"w{i}", enable_modules=_MODULES)
                await portal.run(echo, x=i)

            async with trio.open_nursery() as tn:
                for i in range(_ACTORS):
                    tn.start_soon(one, i)
            await an.cancel()
        if rep:
            row.samples.append(time.perf_counter() - t0)


async def _memory(cfg: Config, rows: dict[str, Measurement]) -> None:
    async with agentree.open_nursery() as an:
        pids = []
        for i in range(_ACTORS):
            portal = await an.start_actor(f"idle{i}", enable_modules=_MODULES)
            pids.append(await portal.run(getpid))
        await trio.sleep(0.5)
        for _ in range(cfg.repeat):
            mems = [_ray_cases._memory(pid) for pid in pids]
            rows["rtrss1"].samples.append(mems[0][0])
            rows["rtpss1"].samples.append(mems[0][1])
            rows["rtrss8"].samples.append(sum(m[0] for m in mems))
            rows["rtpss8"].samples.append(sum(m[1] for m in mems))
            await trio.sleep(0.1)
        await an.cancel()


def _orphans(cfg: Config, method: str, rows: dict[str, Measurement]) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for _ in range(cfg.repeat):
        counts, _left = _ray_cases.orphans(
            [os.path.join(here, "_killroot.py"), "agentree", method]
        )
        rows["rtorphan1"].samples.append(counts[0])
        rows["rtorphan5"].samples.append(counts[1])


async def _cases(cfg: Config, method: str, rows: dict[str, Measurement]) -> None:
    cases: list[tuple[list[str], Callable[[], Awaitable[None]]]] = [
        (["rtactor"], lambda: _rtactor(cfg, rows["rtactor"])),
        (["rtstart8"], lambda: _rtstart8(cfg, rows["rtstart8"])),
        (["rtrss1", "rtpss1", "rtrss8", "rtpss8"], lambda: _memory(cfg, rows)),
    ]
    for wanted, case in cases:
        if not any(k in rows for k in wanted):
            continue
        try:
            with trio.fail_after(cfg.case_timeout):
                async with agentree.open_root_actor(name="bench", start_method=method):
                    await case()
        except Exception as exc:
            for key in wanted:
                if key in rows:
                    rows[key].error = f"error: {format_error(exc)}"
                    rows[key].samples.clear()


def run_runtime(cfg: Config, methods: list[str], keys: list[str]) -> list[Measurement]:
    """Measure agentree's rows of the Ray comparison, for each start method."""
    out: list[Measurement] = []
    for method in methods:
        names = labels(method)
        rows = {key: Measurement(key, names[key]) for key in names if key in keys}
        if "rtstart" in rows:
            try:
                _rtstart(cfg, method, rows["rtstart"])
            except Exception as exc:
                rows["rtstart"].error = f"error: {format_error(exc)}"
                rows["rtstart"].samples.clear()
        trio.run(_cases, cfg, method, rows)
        if "rtorphan1" in rows or "rtorphan5" in rows:
            both = {
                "rtorphan1": rows.get("rtorphan1", Measurement("rtorphan1", "")),
                "rtorphan5": rows.get("rtorphan5", Measurement("rtorphan5", "")),
            }
            try:
                _orphans(cfg, method, both)
            except Exception as exc:
                for row in both.values():
                    row.error = f"error: {format_error(exc)}"
        out += rows.values()
    return out
