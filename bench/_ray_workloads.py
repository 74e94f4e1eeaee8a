"""Table rows that set agentree beside Ray (issue 14).

The Ray side is in ``_ray_cases`` (run in a process of its own: a Ray driver starts
threads, and its cluster's processes must not mix with the rest of the bench); the
agentree side of the new rows is in ``_runtime_cases``. Ray also gets a row in some
existing workloads (sequential calls, 64 in flight, blocking calls in threads,
SIGKILL mid-call, restart after SIGKILL). Kept apart so that the harness can list
the workloads without importing either.
"""

from __future__ import annotations

from _common import Kind, Workload

__all__ = ["RAY", "RAY_FOOTNOTES", "RAY_ROWS_IN", "RAY_WORKLOADS", "labels"]

# Ray's row label in each workload that has one.
RAY = {
    "rtstart": "ray.init()",
    "rtactor": "ray actor: .remote() + first call",
    "rtstart8": "ray 8 actors up + ray.kill, processes gone",
    "rtorphan1": "ray: driver SIGKILLed",
    "rtorphan5": "ray: driver SIGKILLed",
    "rtrss1": "ray idle actor",
    "rtpss1": "ray idle actor",
    "rtrss8": "ray 8 idle actors",
    "rtpss8": "ray 8 idle actors",
    "seq": "ray actor .remote() + ray.get",
    "inflight": "ray 64 refs per ray.get",
    "agentthread": "ray actor max_concurrency=8",
    "agentkill": "ray SIGKILL -> ActorDiedError",
    "supkill": "ray max_restarts SIGKILL -> next call answered",
}
# The existing workloads that get a Ray row.
RAY_ROWS_IN = ("seq", "inflight", "agentthread", "agentkill", "supkill")


def labels(method: str) -> dict[str, str]:
    """agentree's row labels in the new workloads, for one start method."""
    return {
        "rtstart": f"agentree {method} open_root_actor() + first actor answer",
        "rtactor": f"agentree {method} start_actor + first call",
        "rtstart8": f"agentree {method} 8 start_actor + nursery exit",
        "rtorphan1": f"agentree {method}: root SIGKILLed",
        "rtorphan5": f"agentree {method}: root SIGKILLed",
        "rtrss1": f"agentree {method} idle actor",
        "rtpss1": f"agentree {method} idle actor",
        "rtrss8": f"agentree {method} 8 idle actors",
        "rtpss8": f"agentree {method} 8 idle actors",
    }


def _workload(key: str, title: str, kind: Kind) -> Workload:
    return Workload(
        key,
        title,
        kind,
        ref=labels("forkserver")[key],
        ref_for={labels("subprocess")[key]: labels("subprocess")[key]},
    )


RAY_WORKLOADS = [
    _workload("rtstart", "runtime start", "time"),
    _workload("rtactor", "fresh actor in a warm runtime", "time"),
    _workload("rtstart8", "start + teardown of 8 actors", "time"),
    _workload("rtorphan1", "processes alive 1 s after root kill", "count"),
    _workload("rtorphan5", "processes alive 5 s after root kill", "count"),
    _workload("rtrss1", "RSS of an idle actor", "mem"),
    _workload("rtpss1", "PSS of an idle actor", "mem"),
    _workload("rtrss8", "RSS of 8 idle actors", "mem"),
    _workload("rtpss8", "PSS of 8 idle actors", "mem"),
]

RAY_FOOTNOTES = {
    "rtstart": [
        "Ray: ray 2.x with RAY_USAGE_STATS_ENABLED=0, ray.init(include_dashboard=False, "
        "_node_ip_address='127.0.0.1', num_cpus=2) "
        "with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 (else Ray swaps 127.0.0.1 for the "
        "machine's address; with it every Ray server listens on 127.0.0.1 only), in a "
        "driver process of its own; every "
        "actor has num_cpus=0 (8 fit on 2 cores). Without `pip install -e '.[bench-ray]'` the "
        "Ray rows say n/a. runtime start: ray.init() (a fresh local cluster each time; "
        "shutdown untimed; at most 3 repetitions) against open_nursery() (which opens the "
        "root) until a first start_actor() answers a call, timed inside a fresh program "
        "that imported agentree (as a program starts: its forkserver is a copy of it).",
    ],
    "rtactor": [
        "fresh actor: in a warm runtime, from creating the actor to the answer of its first "
        "call (Ray: Actor.options(num_cpus=0).remote() + ray.get(a.ping.remote()); agentree: "
        "start_actor + portal.run); its stop is untimed.",
    ],
    "rtstart8": [
        "8 actors: in a warm runtime, 8 actors created at once, each answers a call, then "
        "all are stopped and their processes gone (Ray: ray.kill each, then /proc polled "
        "until the 8 worker pids are gone; agentree: the open_nursery() block exits, which "
        "reaps them).",
    ],
    "rtorphan1": [
        "root killed: a driver (Ray: ray.init + 8 actors; agentree: 8 actors, 2 of them with "
        "a child actor) in a session of its own; every descendant listed from /proc, the "
        "driver SIGKILLed, and how many of them are alive 1 s and 5 s later (zombies count "
        "as gone). Whatever is left is then killed by pid.",
    ],
    "rtrss1": [
        "memory: Rss and Pss from /proc/PID/smaps_rollup of idle actor processes (8: the "
        "sum), after one call each. PSS divides shared pages among the processes that "
        "share them (agentree's actors share most of theirs with their forkserver), so it "
        "is the fair figure for a sum.",
    ],
}
