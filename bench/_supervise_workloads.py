"""Table rows of supervision (issue 9); the cases are in ``_supervise_cases``.

Kept apart from ``_supervise_cases`` so that the harness can list the workloads
without importing agentree.
"""

from __future__ import annotations

from _common import Workload

__all__ = ["SUPERVISE_FOOTNOTES", "SUPERVISE_WORKLOADS", "labels"]


def labels(method: str) -> dict[str, str]:
    """Row labels of the supervision workloads for one start method."""
    return {
        "plain": f"agentree {method} unsupervised agent call",
        "supervised": f"agentree {method} supervised agent call",
        "crash": f"agentree {method} supervised SIGKILL -> AgentCrashed",
        "restart": f"agentree {method} supervised SIGKILL -> next call answered",
    }


SUPERVISE_WORKLOADS = [
    Workload(
        "supcall",
        "supervised agent call round trips/s",
        "rate",
        ref=labels("forkserver")["plain"],
        ref_for={labels("subprocess")["supervised"]: labels("subprocess")["plain"]},
    ),
    Workload(
        "supkill",
        "supervised agent SIGKILLed",
        "time",
        ref=labels("forkserver")["crash"],
        ref_for={labels("subprocess")["restart"]: labels("subprocess")["crash"]},
    ),
]

SUPERVISE_FOOTNOTES = {
    "supcall": [
        "supervised call: seq-calls sequential `await ref.call(Echo.echo, i)` to an agent "
        "started by a supervisor (a ref resolved per call) against the same agent class "
        "started with `an.start_agent` (no supervisor), alternating every 50 calls; ratio = "
        "supervised / unsupervised (target >= 0.90, i.e. overhead <= 10%).",
    ],
    "supkill": [
        "SIGKILL under a supervisor (one_for_one, Backoff(min=0)): one agent, one async call "
        "in flight each repetition. crash: from os.kill(agent, SIGKILL) to the caller holding "
        "AgentCrashed (target: median <= 20 ms). next call: from the same os.kill to the first "
        "successful call made right after it (the call waits for the next incarnation; target: "
        "median <= 60 ms). For scale, Ray 2.60 on this machine: ActorDiedError after 9-12 ms, "
        "an actor with max_restarts answers again after 1.4-1.7 s.",
    ],
}
