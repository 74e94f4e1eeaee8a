"""SIGKILL of the root: how long until none of its descendants is left.

The measuring side starts this file as a separate root process (in a new session),
reads one JSON line that says the tree is up, snapshots every live descendant of
that root from ``/proc``, sends the root SIGKILL and polls ``/proc`` until none of
those processes is alive (zombies count as gone). Polling stops after
``GIVE_UP`` seconds; what is left then is killed and reported.

Run as ``python _killroot.py agentree METHOD`` the root starts 8 agentree actors,
two of which hold a grandchild each. Run as ``python _killroot.py ppe`` it starts a
``ProcessPoolExecutor(8, forkserver)`` whose 8 workers have all started (an
initializer barrier makes each of them take one task), then idle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from _common import CaseResult, Config, descendants

GIVE_UP = 2.0
_POLL = 0.001
_WORKERS = 8
_NESTED = 2


def _alive(pids: list[int]) -> list[int]:
    """Return the pids that still name a live (non-zombie) process.

    Args:
        pids: Process ids to check.

    Returns:
        The live ones.
    """
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.rfind(b")") + 2 :].split()[0] != b"Z":
            out.append(pid)
    return out


def _once(argv: list[str], expected: int) -> tuple[float, int]:
    """Start one tree, SIGKILL its root and time until its descendants are gone.

    Args:
        argv: Arguments of this script for the root process.
        expected: How many descendants the tree must have before the kill.

    Returns:
        Seconds from the kill until no descendant was alive (``GIVE_UP`` if some
        were still alive then) and how many were left at that point.

    Raises:
        RuntimeError: The tree did not come up as expected.
    """
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), *argv],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    tree: list[int] = []
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the root exited with {proc.wait()} before its tree was up")
        json.loads(line)
        tree = [pid for pid, _ in descendants(proc.pid)]
        if len(tree) < expected:
            raise RuntimeError(f"{len(tree)} descendants, expected at least {expected}")
        t0 = time.perf_counter()
        os.kill(proc.pid, signal.SIGKILL)
        left = tree
        while left and time.perf_counter() - t0 < GIVE_UP:
            time.sleep(_POLL)
            left = _alive(left)
        return time.perf_counter() - t0, len(left)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        for pid in _alive(tree):
            os.kill(pid, signal.SIGKILL)


def measure(argv: list[str], expected: int, cfg: Config) -> CaseResult:
    """Time ``cfg.repeat`` kills (after one untimed one) of the tree ``argv`` starts.

    Args:
        argv: Arguments of this script for the root process.
        expected: How many descendants the tree has before the kill.
        cfg: Benchmark configuration.

    Returns:
        Seconds per timed repetition, and a note if anything outlived ``GIVE_UP``.
    """
    samples: list[float] = []
    worst = 0
    for rep in range(cfg.repeat + 1):
        elapsed, left = _once(argv, expected)
        worst = max(worst, left)
        if rep:
            samples.append(elapsed)
    note = None
    if worst:
        note = f"up to {worst} descendant(s) still alive {GIVE_UP:.0f} s after the kill"
    return samples, note


def ppe_case(cfg: Config) -> CaseResult:
    """ProcessPoolExecutor(8, forkserver): the forkserver and 8 busy workers."""
    return measure(["ppe"], _WORKERS + 1, cfg)


def agentree_case(method: str) -> tuple[list[str], int]:
    """Arguments and expected descendants of the agentree tree for ``method``."""
    helpers = 1 if method == "forkserver" else 0
    return ["agentree", method], _WORKERS + _NESTED + helpers


async def _agentree_root(method: str) -> None:
    """Start the agentree tree, report it, and hold it until killed."""
    import trio
    from _workloads import agentree_hold_subtree, agentree_subtree_up

    import agentree

    async with agentree.open_nursery(start_method=method) as an:
        for i in range(_WORKERS - _NESTED):
            await an.start_actor(f"daemon{i}", enable_modules=["_workloads"])
        for i in range(_NESTED):
            portal = await an.run_in_actor(agentree_hold_subtree, name=f"parent{i}")
            await portal.run(agentree_subtree_up)
        print(json.dumps({"root": os.getpid()}), flush=True)
        await trio.sleep_forever()


def _ppe_root() -> None:
    """Start the pool with every worker busy, report it, and hold it until killed."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from _workloads import barrier_getpid, init_barrier

    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        _WORKERS, mp_context=ctx, initializer=init_barrier, initargs=(ctx.Barrier(_WORKERS),)
    ) as ex:
        pids = {f.result() for f in [ex.submit(barrier_getpid) for _ in range(_WORKERS)]}
        print(json.dumps({"root": os.getpid(), "workers": len(pids)}), flush=True)
        time.sleep(3600)


if __name__ == "__main__":
    if sys.argv[1] == "agentree":
        import trio

        trio.run(_agentree_root, sys.argv[2])
    else:
        _ppe_root()
