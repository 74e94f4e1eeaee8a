"""Table rows of checkpoints (issue 10); the cases are in ``_store_cases``.

Kept apart from ``_store_cases`` so that the harness can list the workloads without
importing agentree.
"""

from __future__ import annotations

from _common import Workload

__all__ = ["STORE_FOOTNOTES", "STORE_WORKLOADS", "labels"]


def labels(method: str) -> dict[str, str]:
    """Row labels of the checkpoint workloads for one start method."""
    return {
        "memory": f"agentree {method} MemoryStore checkpoints",
        "sqlite": f"agentree {method} SqliteStore checkpoints",
        "fsync": f"agentree {method} SqliteStore(fsync=True) checkpoints",
        "idle_ping": f"agentree {method} async ping, agent idle (median)",
        "ping_median": f"agentree {method} async ping while checkpointing (median)",
        "ping_worst": f"agentree {method} async ping while checkpointing (worst)",
    }


STORE_WORKLOADS = [
    Workload(
        "ckpt",
        "checkpoints of a 1 KiB state/s, one agent",
        "rate",
        ref=labels("forkserver")["memory"],
        ref_for={
            labels("subprocess")["sqlite"]: labels("subprocess")["memory"],
            labels("subprocess")["fsync"]: labels("subprocess")["memory"],
        },
    ),
    Workload(
        "ckptping",
        "agent ping while it checkpoints to SqliteStore",
        "time",
        ref=labels("forkserver")["idle_ping"],
        ref_for={
            labels("subprocess")["ping_median"]: labels("subprocess")["idle_ping"],
            labels("subprocess")["ping_worst"]: labels("subprocess")["idle_ping"],
        },
    ),
]

STORE_FOOTNOTES = {
    "ckpt": [
        "checkpoints: one agent runs 500 sequential `await self.checkpoint()` of a state of "
        "~1 KiB (msgpack) per repetition; each returns once the supervisor's process has "
        "written it (SqliteStore: committed in WAL mode, synchronous=NORMAL, so it survives "
        "a SIGKILL of any process; fsync=True: synchronous=FULL, also a power loss; MemoryStore: "
        "held in the supervisor's process). Target: SqliteStore >= 500/s.",
    ],
    "ckptping": [
        "ping while checkpointing: the root pings the agent every 2 ms while the agent runs "
        "500 SqliteStore checkpoints (the same as the ckpt row); median and worst ping of each "
        "repetition, against the median ping of the idle agent. Target: worst <= 5 ms.",
    ],
}
