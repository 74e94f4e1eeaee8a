"""Table rows of feedback (issue 10); the cases are in ``_feedback_cases``.

Kept apart from ``_feedback_cases`` so that the harness can list the workloads
without importing agentree.
"""

from __future__ import annotations

from _common import Workload

__all__ = ["FEEDBACK_FOOTNOTES", "FEEDBACK_WORKLOADS", "labels"]


def labels(method: str) -> dict[str, str]:
    """Row labels of the feedback workloads for one start method."""
    return {
        "rpc": f"agentree {method} portal.run root -> grandchild",
        "feedback": f"agentree {method} feedback grandchild -> root handler",
    }


FEEDBACK_WORKLOADS = [
    Workload(
        "feedback",
        "feedback round trips/s",
        "rate",
        ref=labels("forkserver")["rpc"],
        ref_for={labels("subprocess")["feedback"]: labels("subprocess")["rpc"]},
    ),
]

FEEDBACK_FOOTNOTES = {
    "feedback": [
        "feedback: seq-calls sequential `await agentree.request_feedback(i, answer=int, key=...)` "
        "in a grandchild of the root, answered at once by a root handler (an async function; "
        "the grandchild's first ask is relayed through the middle actor, later ones go "
        "straight to the root's level over the grandchild's feedback link, and the asker "
        "checks each answer and accepts it), against seq-calls "
        "sequential `portal.run(echo, x=i)` from the root to that grandchild (a direct "
        "connection), alternating every 50 calls; ratio = feedback / portal.run "
        "(target >= 0.33, i.e. a feedback round trip <= 3x a plain round trip).",
    ],
}
