"""Table rows of whole programs (issue 14); the cases are in ``_program_cases``.

Kept apart from ``_program_cases`` so that the harness can list the workloads
without running anything.
"""

from __future__ import annotations

from _common import Workload

__all__ = ["BASELINES", "OWN_BASELINE", "PROGRAM_FOOTNOTES", "PROGRAM_WORKLOADS"]

PLAIN_PYTHON = "plain python program"
PLAIN_TRIO = "plain trio program"
PLAIN_TRIO_AGENTREE = "plain trio program + import agentree"
BASELINES = (PLAIN_PYTHON, PLAIN_TRIO, PLAIN_TRIO_AGENTREE)

# Each impl's own baseline: the same program without the workers.
OWN_BASELINE = {
    "ppe forkserver": PLAIN_PYTHON,
    "ppe spawn": PLAIN_PYTHON,
    "trio_parallel spawn": PLAIN_TRIO,
    "agentree forkserver": PLAIN_TRIO_AGENTREE,
    "agentree forkserver (fresh)": PLAIN_TRIO_AGENTREE,
    "agentree subprocess": PLAIN_TRIO_AGENTREE,
}


def _workload(key: str, title: str) -> Workload:
    return Workload(
        key,
        title,
        "time",
        ref="ppe forkserver",
        ref_for={"agentree subprocess": "ppe spawn"},
    )


PROGRAM_WORKLOADS = [
    _workload("prog1", "program start -> result (1)"),
    _workload("prog8", "program start -> results (8)"),
    _workload("prog1exit", "program start -> exit (1)"),
    _workload("prog8exit", "program start -> exit (8)"),
]

PROGRAM_FOOTNOTES = {
    "prog1": [
        "whole programs: small generated scripts, each run as `python SCRIPT` in a fresh "
        "process; timed from just before the process is started to the moment the script "
        "holds its result(s) (it prints time.monotonic(), one clock for all processes), "
        "and, in the '-> exit' rows, to the process reaped. Every script gets getpid() "
        "from its worker(s): agentree: trio.run + open_nursery() + run_in_actor(os.getpid) "
        "(8: concurrent) + wait_for_result(); ppe: ProcessPoolExecutor(N, mp_context=m) + "
        "submit + result() (8: each task waits on a Barrier(8) passed by the initializer, so "
        "that 8 workers answer); "
        "trio_parallel: trio.run + run_sync(os.getpid) (8: CapacityLimiter(8), 8 tasks). "
        "Baselines, the same programs without workers: plain python (no import), plain "
        "trio (trio.run calling getpid inline), plain trio + import agentree. 'agentree "
        "forkserver (fresh)' forces the forkserver that imports agentree afresh "
        "(AGENTREE_FORKSERVER=fresh, the only one before issue 14). All programs of one "
        "repetition run one after the other (the order rotates), so that load changes hit "
        "all alike; overheads are medians of per-repetition differences.",
    ],
}
