"""Agent-layer workloads (issue 8): agent calls against plain ``portal.run``.

The agent classes live here at module level, so that agent actors import them by
name (the bench directory is on their ``sys.path``). Other agent rows (process
mode, SIGKILL) may be added here: add the workload to ``_agent_workloads`` and its
measurement to :func:`run_agents`.
"""

from __future__ import annotations

import time

import trio
from _agent_workloads import labels
from _common import Config, Measurement, format_error
from _workloads import agentree_echo

import agentree

__all__ = ["EchoAgent", "ThreadAgent", "run_agents"]

# Calls per slice: the plain and agent rows alternate slice by slice.
SLICE = 50
THREAD_CALLS = 64
THREAD_SLEEP = 0.01


class EchoAgent(agentree.Agent):
    """An agent whose async method echoes its argument."""

    async def echo(self, x: int) -> int:
        """Return ``x``."""
        return x


class ThreadAgent(agentree.Agent):
    """An agent with 8 threads for its blocking methods."""

    max_threads = 8

    def block(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        time.sleep(seconds)


async def _agentcall(cfg: Config, plain: Measurement, agent: Measurement) -> None:
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("echo", enable_modules=[agentree_echo.__module__])
        ref = await an.start_agent(EchoAgent, name="echo-agent")

        async def plain_slice(start: int, n: int) -> float:
            t0 = time.perf_counter()
            for i in range(start, start + n):
                if await portal.run(agentree_echo, x=i) != i:
                    raise RuntimeError("bad echo reply")
            return time.perf_counter() - t0

        async def agent_slice(start: int, n: int) -> float:
            t0 = time.perf_counter()
            for i in range(start, start + n):
                if await ref.call(EchoAgent.echo, i) != i:
                    raise RuntimeError("bad agent echo reply")
            return time.perf_counter() - t0

        for rep in range(cfg.repeat + 1):
            spent_plain = spent_agent = 0.0
            for start in range(0, cfg.seq_calls, SLICE):
                n = min(SLICE, cfg.seq_calls - start)
                spent_plain += await plain_slice(start, n)
                spent_agent += await agent_slice(start, n)
            if rep:
                plain.samples.append(cfg.seq_calls / spent_plain)
                agent.samples.append(cfg.seq_calls / spent_agent)
        await an.cancel()


async def _agentthread(cfg: Config, thread: Measurement) -> None:
    async with agentree.open_nursery() as an:
        ref = await an.start_agent(ThreadAgent, name="thread-agent")
        for rep in range(cfg.repeat + 1):
            t0 = time.perf_counter()
            async with trio.open_nursery() as tn:
                for _ in range(THREAD_CALLS):
                    tn.start_soon(ref.call, ThreadAgent.block, THREAD_SLEEP)
            if rep:
                thread.samples.append(time.perf_counter() - t0)
        await an.cancel()


def _run_method(cfg: Config, method: str, keys: list[str]) -> list[Measurement]:
    names = labels(method)
    plain = Measurement("agentcall", names["plain"])
    agent = Measurement("agentcall", names["agent"])
    thread = Measurement("agentthread", names["thread"])
    cases = {
        "agentcall": (lambda: _agentcall(cfg, plain, agent), [plain, agent]),
        "agentthread": (lambda: _agentthread(cfg, thread), [thread]),
    }
    rows = [m for key in keys if key in cases for m in cases[key][1]]

    async def main() -> None:
        async with agentree.open_root_actor(name="bench", start_method=method):
            for key in keys:
                if key not in cases:
                    continue
                measure, ms = cases[key]
                try:
                    with trio.fail_after(cfg.case_timeout):
                        await measure()
                except Exception as exc:
                    for m in ms:
                        m.error = f"error: {format_error(exc)}"
                        m.samples.clear()

    try:
        trio.run(main)
    except Exception as exc:
        for m in rows:
            if m.error is None and not m.samples:
                m.error = f"error: {format_error(exc)}"
    return rows


def run_agents(cfg: Config, methods: list[str], keys: list[str]) -> list[Measurement]:
    """Measure the selected agent workloads for each start method."""
    out: list[Measurement] = []
    if "agentthread" in keys:
        ideal = THREAD_CALLS // ThreadAgent.max_threads * THREAD_SLEEP
        out.append(Measurement("agentthread", labels("")["ideal"], samples=[ideal]))
    for method in methods:
        out += _run_method(cfg, method, keys)
    return out
