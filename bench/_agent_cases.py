"""Agent-layer workloads (issue 8): agent calls against plain ``portal.run``.

The agent classes live here at module level, so that agent actors import them by
name (the bench directory is on their ``sys.path``). Other agent rows (process
mode, SIGKILL) may be added here: add the workload to ``_agent_workloads`` and its
measurement to :func:`run_agents`.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import signal
import statistics
import time
from collections.abc import Callable
from typing import Any

import trio
from _agent_workloads import labels
from _common import Config, Measurement, format_error
from _workloads import agentree_echo

import agentree

__all__ = ["EchoAgent", "KillAgent", "ProcAgent", "ThreadAgent", "run_agents"]

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


# Process-mode and SIGKILL rows (agents-proc).
PROC_CALLS = 4
PROC_CPU = 0.2
PING_GAP = 0.002


def _burn(seconds: float) -> None:
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass


class ProcAgent(agentree.Agent):
    """CPU-bound methods in worker processes, and an async ping on the agent's loop."""

    @agentree.method(mode="process", workers=1)
    def burn1(self, seconds: float) -> None:
        """Burn ``seconds`` of CPU in the one worker."""
        _burn(seconds)

    @agentree.method(mode="process", workers=2)
    def burn2(self, seconds: float) -> None:
        """Burn ``seconds`` of CPU in one of two workers."""
        _burn(seconds)

    async def ping(self) -> None:
        """Answer at once."""


class KillAgent(agentree.Agent):
    """An agent whose async method never returns."""

    async def hang(self) -> None:
        """Wait forever."""
        await trio.sleep_forever()

    async def ping(self) -> None:
        """Answer at once."""


async def _agentproc(
    cfg: Config,
    one: Measurement,
    two: Measurement,
    ping_median: Measurement,
    ping_worst: Measurement,
    ppe: tuple[Measurement, Measurement] | None,
) -> None:
    """Process mode, workers=1 against workers=2, and the agent's ping meanwhile.

    With ``ppe``, ProcessPoolExecutors of 1 and 2 workers run the same batches in the
    same repetitions: what this machine allows right now, for reference.
    """
    async with agentree.open_nursery() as an:
        ref = await an.start_agent(ProcAgent, name="proc-agent")
        methods = {1: ProcAgent.burn1, 2: ProcAgent.burn2}
        speedups: list[float] = []
        ppe_speedups: list[float] = []
        context = multiprocessing.get_context("forkserver")
        executors = {
            n: concurrent.futures.ProcessPoolExecutor(max_workers=n, mp_context=context)
            for n in (1, 2)
        }

        async def batch(workers: int, cpu: float) -> float:
            t0 = time.perf_counter()
            async with trio.open_nursery() as tn:
                for _ in range(PROC_CALLS):
                    tn.start_soon(ref.call, methods[workers], cpu)
            return time.perf_counter() - t0

        async def ppe_batch(workers: int, cpu: float) -> float:
            executor = executors[workers]
            t0 = time.perf_counter()
            await trio.to_thread.run_sync(lambda: list(executor.map(_burn, [cpu] * PROC_CALLS)))
            return time.perf_counter() - t0

        try:
            for rep in range(cfg.repeat + 1):
                if not rep:
                    # Warm the pools: every worker started (and built).
                    for warm in (batch, ppe_batch):
                        await warm(1, 0.0)
                        await warm(2, 0.0)
                # Which pool goes first alternates, so that a drift in the machine's
                # load does not favour one of them.
                runs: list[tuple[str, Callable[[int, float], Any], int]] = [
                    ("1", batch, 1),
                    ("2", batch, 2),
                ]
                if ppe is not None:
                    runs += [("ppe1", ppe_batch, 1), ("ppe2", ppe_batch, 2)]
                if rep % 2:
                    runs.reverse()
                spent = {key: await fn(n, PROC_CPU) for key, fn, n in runs}
                # The pings, in a batch of their own: they cost CPU in this process and
                # in the agent's, which the timed batches above should not pay.
                pings: list[float] = []
                done = trio.Event()

                async def pinger(pings: list[float] = pings, done: trio.Event = done) -> None:
                    while not done.is_set():
                        t0 = time.perf_counter()
                        await ref.call(ProcAgent.ping)
                        pings.append(time.perf_counter() - t0)
                        await trio.sleep(PING_GAP)

                async with trio.open_nursery() as tn:
                    tn.start_soon(pinger)
                    await batch(2, PROC_CPU)
                    done.set()
                if rep:
                    one.samples.append(spent["1"])
                    two.samples.append(spent["2"])
                    speedups.append(spent["1"] / spent["2"])
                    ping_median.samples.append(statistics.median(pings))
                    ping_worst.samples.append(max(pings))
                    if ppe is not None:
                        ppe[0].samples.append(spent["ppe1"])
                        ppe[1].samples.append(spent["ppe2"])
                        ppe_speedups.append(spent["ppe1"] / spent["ppe2"])
        finally:
            for executor in executors.values():
                executor.shutdown(cancel_futures=True)
        two.note = (
            f"speedup workers=1 / workers=2 per repetition: min {min(speedups):.2f}x, median "
            f"{statistics.median(speedups):.2f}x (target >= 1.8x)"
        )
        if ppe is not None:
            ppe[1].note = (
                f"speedup max_workers=1 / max_workers=2 per repetition (same repetitions): min "
                f"{min(ppe_speedups):.2f}x, median {statistics.median(ppe_speedups):.2f}x"
            )
        await an.cancel()


async def _agentkill(cfg: Config, kill: Measurement) -> None:
    async with agentree.open_nursery() as an:
        for rep in range(cfg.repeat + 1):
            ref = await an.start_agent(KillAgent, name=f"kill-agent-{rep}")
            crashed = trio.Event()
            caught_at: list[float] = []

            async def hang(
                ref: agentree.AgentRef[KillAgent] = ref,
                crashed: trio.Event = crashed,
                caught_at: list[float] = caught_at,
            ) -> None:
                try:
                    await ref.call(KillAgent.hang)
                except agentree.AgentCrashed:
                    caught_at.append(time.perf_counter())
                crashed.set()

            async with trio.open_nursery() as tn:
                tn.start_soon(hang)
                # Calls on one channel start in order: the hang call is in the agent now.
                await ref.call(KillAgent.ping)
                t0 = time.perf_counter()
                os.kill(ref.pid, signal.SIGKILL)
                await crashed.wait()
            if not caught_at:
                raise RuntimeError("the caller did not get AgentCrashed")
            if rep:
                kill.samples.append(caught_at[0] - t0)
        await an.cancel()


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
    proc1 = Measurement("agentproc", names["proc1"])
    proc2 = Measurement("agentproc", names["proc2"])
    ping_median = Measurement("agentping", names["ping_median"])
    ping_worst = Measurement("agentping", names["ping_worst"])
    kill = Measurement("agentkill", names["kill"])
    # The ProcessPoolExecutor reference rows, measured once (in the forkserver run).
    ppe = (
        (Measurement("agentproc", names["ppe1"]), Measurement("agentproc", names["ppe2"]))
        if method == "forkserver"
        else None
    )
    cases = {
        "agentcall": (lambda: _agentcall(cfg, plain, agent), [plain, agent]),
        "agentthread": (lambda: _agentthread(cfg, thread), [thread]),
        "agentproc": (
            lambda: _agentproc(cfg, proc1, proc2, ping_median, ping_worst, ppe),
            [proc1, proc2, ping_median, ping_worst, *(ppe or ())],
        ),
        "agentkill": (lambda: _agentkill(cfg, kill), [kill]),
    }
    # The ping rows are measured by the process-mode case.
    if "agentproc" not in keys and "agentping" in keys:
        keys = [*keys, "agentproc"]
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
