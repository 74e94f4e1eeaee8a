"""Ray's side of the comparison (issue 14), run as a process of its own.

``python _ray_cases.py bench KEYS REPEAT SEQ INFLIGHT`` measures the Ray rows of the
workloads in KEYS (comma-separated) and prints one JSON object per row; ``python
_ray_cases.py driver`` is the driver that the SIGKILL rows kill. The harness runs
this only when ``ray`` is importable (the ``bench-ray`` extra); Ray listens on
127.0.0.1 only and sends no usage stats. Whatever Ray process this started is
stopped by pid at the end; ``ray stop --force`` (which stops every Ray of this
user, not only ours) only if one of ours survived SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from _common import descendants, ray_temp_dir
from _killroot import _alive

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
# Without it, Ray replaces a loopback node address by the machine's own (its
# multi-node default); with it Ray's node address, hence its servers, stay on
# 127.0.0.1.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

THREAD_CALLS = 64
THREAD_SLEEP = 0.01
_ACTORS = 8
_MARKS = (1.0, 5.0)
_GONE_TIMEOUT = 30.0


def _init() -> None:
    import ray

    ray.init(
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        num_cpus=2,
        log_to_driver=False,
        configure_logging=False,
        _temp_dir=ray_temp_dir(),
    )


def _actor_class() -> Any:
    import ray

    @ray.remote(num_cpus=0, max_concurrency=8)
    class Echo:
        def __init__(self) -> None:
            self.hanging = threading.Event()

        def ping(self) -> int:
            return os.getpid()

        def echo(self, x: int) -> int:
            return x

        def block(self, seconds: float) -> None:
            time.sleep(seconds)

        def hang(self) -> None:
            self.hanging.set()
            time.sleep(3600)

        def is_hanging(self) -> bool:
            return self.hanging.is_set()

    return Echo


def _memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of process ``pid`` in MiB."""
    rss = pss = 0.0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    return rss, pss


def _wait_gone(pids: list[int], timeout: float = _GONE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.001)


class _Rows:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def add(self, key: str, impl: str, value: float) -> None:
        self.rows.setdefault(key, {"workload": key, "impl": impl, "samples": []})
        self.rows[key]["samples"].append(value)

    def fail(self, keys: list[str], impls: dict[str, str], exc: BaseException) -> None:
        for key in keys:
            self.rows[key] = {
                "workload": key,
                "impl": impls[key],
                "samples": [],
                "error": f"error: {type(exc).__name__}: {str(exc)[:120]}",
            }


def _bench(keys: list[str], repeat: int, seq: int, inflight: int, impls: dict[str, str]) -> None:
    import ray

    out = _Rows()
    if "rtstart" in keys:
        for rep in range(min(repeat, 3) + 1):
            t0 = time.perf_counter()
            _init()
            spent = time.perf_counter() - t0
            ray.shutdown()
            if rep:
                out.add("rtstart", impls["rtstart"], spent)
    _init()
    echo_cls = _actor_class()
    cases: dict[str, Callable[[], None]] = {}

    def rtactor() -> None:
        for rep in range(repeat + 1):
            t0 = time.perf_counter()
            actor = echo_cls.remote()
            pid = ray.get(actor.ping.remote())
            spent = time.perf_counter() - t0
            ray.kill(actor)
            _wait_gone([pid])
            if rep:
                out.add("rtactor", impls["rtactor"], spent)

    def rtstart8() -> None:
        for rep in range(repeat + 1):
            t0 = time.perf_counter()
            actors = [echo_cls.remote() for _ in range(_ACTORS)]
            pids = ray.get([a.ping.remote() for a in actors])
            for actor in actors:
                ray.kill(actor)
            _wait_gone(pids)
            if rep:
                out.add("rtstart8", impls["rtstart8"], time.perf_counter() - t0)

    def memory() -> None:
        actors = [echo_cls.remote() for _ in range(_ACTORS)]
        pids = ray.get([a.ping.remote() for a in actors])
        time.sleep(0.5)
        for _ in range(repeat):
            mems = [_memory(pid) for pid in pids]
            out.add("rtrss1", impls["rtrss1"], mems[0][0])
            out.add("rtpss1", impls["rtpss1"], mems[0][1])
            out.add("rtrss8", impls["rtrss8"], sum(m[0] for m in mems))
            out.add("rtpss8", impls["rtpss8"], sum(m[1] for m in mems))
            time.sleep(0.1)
        for actor in actors:
            ray.kill(actor)
        _wait_gone(pids)

    def calls() -> None:
        actor = echo_cls.remote()
        pid = ray.get(actor.ping.remote())
        for rep in range(repeat + 1):
            if "seq" in keys:
                t0 = time.perf_counter()
                for i in range(seq):
                    ray.get(actor.echo.remote(i))
                if rep:
                    out.add("seq", impls["seq"], seq / (time.perf_counter() - t0))
            if "inflight" in keys:
                t0 = time.perf_counter()
                for start in range(0, inflight, 64):
                    ray.get(
                        [actor.echo.remote(i) for i in range(start, min(start + 64, inflight))]
                    )
                if rep:
                    out.add("inflight", impls["inflight"], inflight / (time.perf_counter() - t0))
            if "agentthread" in keys:
                t0 = time.perf_counter()
                ray.get([actor.block.remote(THREAD_SLEEP) for _ in range(THREAD_CALLS)])
                if rep:
                    out.add("agentthread", impls["agentthread"], time.perf_counter() - t0)
        ray.kill(actor)
        _wait_gone([pid])

    def agentkill() -> None:
        for rep in range(repeat + 1):
            actor = echo_cls.remote()
            pid = ray.get(actor.ping.remote())
            ref = actor.hang.remote()
            while not ray.get(actor.is_hanging.remote()):
                time.sleep(0.001)
            t0 = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            try:
                ray.get(ref)
            except ray.exceptions.RayActorError:
                spent = time.perf_counter() - t0
            else:
                raise RuntimeError("the call returned after its actor was SIGKILLed")
            _wait_gone([pid])
            if rep:
                out.add("agentkill", impls["agentkill"], spent)

    def supkill() -> None:
        actor = echo_cls.options(max_restarts=-1).remote()
        for rep in range(repeat + 1):
            pid = ray.get(actor.ping.remote())
            t0 = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            while True:
                try:
                    ray.get(actor.ping.remote())
                except ray.exceptions.RayActorError:
                    time.sleep(0.001)
                    continue
                break
            if rep:
                out.add("supkill", impls["supkill"], time.perf_counter() - t0)
        ray.kill(actor, no_restart=True)

    cases = {
        "rtactor": rtactor,
        "rtstart8": rtstart8,
        "rtrss1": memory,
        "calls": calls,
        "agentkill": agentkill,
        "supkill": supkill,
    }
    groups = {
        "rtactor": ["rtactor"],
        "rtstart8": ["rtstart8"],
        "rtrss1": ["rtrss1", "rtpss1", "rtrss8", "rtpss8"],
        "calls": ["seq", "inflight", "agentthread"],
        "agentkill": ["agentkill"],
        "supkill": ["supkill"],
    }
    try:
        for name, case in cases.items():
            wanted = [k for k in groups[name] if k in keys]
            if not wanted:
                continue
            try:
                case()
            except Exception as exc:
                out.fail(wanted, impls, exc)
    finally:
        ray.shutdown()
    for row in out.rows.values():
        print(json.dumps(row), flush=True)


def _driver() -> None:
    """Start Ray and 8 actors, report, and wait to be killed."""
    import ray

    _init()
    echo_cls = _actor_class()
    actors = [echo_cls.remote() for _ in range(_ACTORS)]
    pids = ray.get([a.ping.remote() for a in actors])
    print(json.dumps({"root": os.getpid(), "actors": pids}), flush=True)
    time.sleep(3600)


def orphans(argv: list[str], cwd: str | None = None) -> tuple[list[int], list[int]]:
    """Start a driver (``python ARGV...``), SIGKILL it, count its processes left.

    Returns:
        How many of the driver's descendants were alive at each of ``_MARKS``
        seconds after the kill, and the pids still alive at the end (killed by pid
        before returning).
    """
    proc = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, start_new_session=True, cwd=cwd
    )
    tree: list[int] = []
    counts: list[int] = []
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the driver exited with {proc.wait()} before it was up")
        report = json.loads(line)
        tree = sorted({pid for pid, _ in descendants(proc.pid)} | set(report.get("actors", [])))
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for mark in _MARKS:
            time.sleep(max(0.0, t0 + mark - time.monotonic()))
            counts.append(len(_alive(tree)))
        return counts, _alive(tree)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        for pid in _alive(tree):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(tree, 5.0)


def ray_orphans(repeat: int) -> list[dict[str, Any]]:
    """The Ray rows of the driver-SIGKILL workloads."""
    from _ray_workloads import RAY

    rows: dict[str, dict[str, Any]] = {
        k: {"workload": k, "impl": RAY[k], "samples": []} for k in ("rtorphan1", "rtorphan5")
    }
    for _ in range(repeat):
        counts, left = orphans([os.path.abspath(__file__), "driver"])
        rows["rtorphan1"]["samples"].append(counts[0])
        rows["rtorphan5"]["samples"].append(counts[1])
        if _alive(left):
            subprocess.run(["ray", "stop", "--force"], capture_output=True, check=False)
    return list(rows.values())


if __name__ == "__main__":
    if sys.argv[1] == "driver":
        _driver()
    else:
        from _ray_workloads import RAY

        _bench(
            sys.argv[2].split(","),
            int(sys.argv[3]),
            int(sys.argv[4]),
            int(sys.argv[5]),
            RAY,
        )
