"""Table rows of the agent layer (issue 8); the cases are in ``_agent_cases``.

Kept apart from ``_agent_cases`` so that the harness can list the workloads without
importing agentree.
"""

from __future__ import annotations

from _common import Workload

__all__ = ["AGENT_FOOTNOTES", "AGENT_WORKLOADS", "labels"]


def labels(method: str) -> dict[str, str]:
    """Row labels of the agent workloads for one start method."""
    return {
        "plain": f"agentree {method} portal.run",
        "agent": f"agentree {method} agent async call",
        "ideal": "ideal (64 x 10 ms / 8 threads)",
        "thread": f"agentree {method} agent thread mode",
    }


AGENT_WORKLOADS = [
    Workload(
        "agentcall",
        "agent async call round trips/s",
        "rate",
        ref="agentree forkserver portal.run",
        ref_for={"agentree subprocess agent async call": "agentree subprocess portal.run"},
    ),
    Workload("agentthread", "agent 64 x 10 ms, 8 threads", "time", ref=labels("")["ideal"]),
]

AGENT_FOOTNOTES = {
    "agentcall": [
        "agent async call: seq-calls sequential `await ref.call(Echo.echo, i)` to an agent "
        "whose async method returns its argument, against `portal.run(echo, x=i)` to a plain "
        "start_actor daemon, both measured in the same run, alternating every 50 calls (so "
        "load changes hit both alike); ratio = agent / portal.run (target >= 0.90).",
    ],
    "agentthread": [
        "thread mode: an agent with max_threads=8; 64 concurrent calls of a def method that "
        "does time.sleep(0.01); timed from the first call to the last reply. The reference "
        "row is the ideal 8 rounds x 10 ms = 80 ms (target <= 1.3x).",
    ],
}
