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
        # Process mode and SIGKILL rows (agents-proc).
        "proc1": f"agentree {method} process mode workers=1",
        "proc2": f"agentree {method} process mode workers=2",
        "ping_median": f"agentree {method} async ping, median of a run",
        "ping_worst": f"agentree {method} async ping, worst of a run",
        "kill": f"agentree {method} SIGKILL -> AgentCrashed",
        "ppe1": "ppe forkserver max_workers=1 (same repetitions)",
        "ppe2": "ppe forkserver max_workers=2 (same repetitions)",
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
    Workload(
        "agentproc",
        "agent process mode 4 x 200 ms CPU",
        "time",
        ref=labels("forkserver")["proc1"],
        ref_for={
            labels("subprocess")["proc2"]: labels("subprocess")["proc1"],
            labels("")["ppe2"]: labels("")["ppe1"],
        },
    ),
    Workload(
        "agentping",
        "agent async ping while workers=2 compute",
        "time",
        ref=labels("forkserver")["ping_median"],
        ref_for={labels("subprocess")["ping_worst"]: labels("subprocess")["ping_median"]},
    ),
    Workload("agentkill", "agent SIGKILLed mid-call", "time", ref=labels("forkserver")["kill"]),
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
    "agentproc": [
        "process mode: 4 concurrent calls of a mode='process' def method that burns 200 ms of "
        "CPU (time.process_time), on workers=1 and on workers=2 (both pools warm), one after "
        "the other in each repetition (which goes first alternates); timed from the first "
        "call to the last reply. Ratio = "
        "workers=2 / workers=1; the workers=2 row's note gives the speedup workers=1 / "
        "workers=2 paired per repetition (target >= 1.8x on 2 cores). For reference, "
        "ProcessPoolExecutors of 1 and 2 workers run the same batches in the same repetitions "
        "(forkserver run only): their speedup is what the machine gave at that time.",
    ],
    "agentping": [
        "ping: in each repetition a third batch of the same 4 calls on workers=2 (not part of "
        "the timings above) runs while a task calls the agent's async ping() method in a "
        "loop (2 ms apart); per repetition the median and the worst round trip (target: "
        "answered within 5 ms).",
    ],
    "agentkill": [
        "SIGKILL mid-call: a fresh agent per repetition with one async call in flight (it "
        "awaits forever; a ping after it proves it reached the agent); timed from os.kill("
        "agent, SIGKILL) to the caller holding AgentCrashed (target: median <= 50 ms).",
    ],
}
