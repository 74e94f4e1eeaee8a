"""Feedback workloads (issue 10): a feedback round trip against a plain RPC round trip.

The functions live here at module level, so that actors import them by name (the
bench directory is on their ``sys.path``).
"""

from __future__ import annotations

import time

import trio
from _common import Config, Measurement, format_error
from _feedback_workloads import labels
from _workloads import agentree_echo

import agentree

__all__ = ["ask_many", "hold_grandchild", "run_feedback"]

SLICE = 50
GRANDCHILD = "fb-grandchild"


async def ask_many(start: int, n: int) -> float:
    """Ask ``n`` questions in sequence (in the grandchild); the seconds it took."""
    t0 = time.perf_counter()
    for i in range(start, start + n):
        got = await agentree.request_feedback(i, answer=int, key=f"q{i}")
        assert got == i
    return time.perf_counter() - t0


async def hold_grandchild() -> None:
    """Keep a grandchild of the root running (in the middle actor) until cancelled."""
    async with agentree.open_nursery() as an:
        await an.start_actor(GRANDCHILD, enable_modules=[__name__, "_workloads"])
        await trio.sleep_forever()


async def _answer(req: agentree.FeedbackRequest) -> int:
    return int(req.question)


async def _feedback(cfg: Config, rpc: Measurement, feedback: Measurement) -> None:
    async with agentree.open_nursery() as an:
        mid = await an.start_actor("fb-middle", enable_modules=[__name__])
        async with trio.open_nursery() as tn:
            tn.start_soon(mid.run, hold_grandchild)
            async with agentree.wait_for_actor(GRANDCHILD) as grandchild:

                async def rpc_slice(start: int, n: int) -> float:
                    t0 = time.perf_counter()
                    for i in range(start, start + n):
                        await grandchild.run(agentree_echo, x=i)
                    return time.perf_counter() - t0

                async def feedback_slice(start: int, n: int) -> float:
                    return float(await grandchild.run(ask_many, start=start, n=n))

                for rep in range(cfg.repeat + 1):
                    spent_rpc = spent_feedback = 0.0
                    for start in range(0, cfg.seq_calls, SLICE):
                        n = min(SLICE, cfg.seq_calls - start)
                        spent_rpc += await rpc_slice(start, n)
                        spent_feedback += await feedback_slice(start, n)
                    if rep:
                        rpc.samples.append(cfg.seq_calls / spent_rpc)
                        feedback.samples.append(cfg.seq_calls / spent_feedback)
            tn.cancel_scope.cancel()
        await an.cancel()


def _run_method(cfg: Config, method: str) -> list[Measurement]:
    names = labels(method)
    rpc = Measurement("feedback", names["rpc"])
    feedback = Measurement("feedback", names["feedback"])
    rows = [rpc, feedback]

    async def main() -> None:
        async with agentree.open_root_actor(name="bench", start_method=method, feedback=[_answer]):
            try:
                with trio.fail_after(cfg.case_timeout):
                    await _feedback(cfg, rpc, feedback)
            except Exception as exc:
                for m in rows:
                    m.error = f"error: {format_error(exc)}"
                    m.samples.clear()

    try:
        trio.run(main)
    except Exception as exc:
        for m in rows:
            if m.error is None and not m.samples:
                m.error = f"error: {format_error(exc)}"
    return rows


def run_feedback(cfg: Config, methods: list[str], keys: list[str]) -> list[Measurement]:
    """Measure the feedback workload for each start method."""
    if "feedback" not in keys:
        return []
    out: list[Measurement] = []
    for method in methods:
        out += _run_method(cfg, method)
    return out
