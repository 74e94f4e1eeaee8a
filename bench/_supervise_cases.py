"""Supervision workloads (issue 9): a supervisor's overhead, and crash and restart times.

The agent class lives here at module level, so that agent actors import it by name
(the bench directory is on their ``sys.path``).
"""

from __future__ import annotations

import os
import signal
import time

import trio
from _common import Config, Measurement, format_error
from _supervise_workloads import labels

import agentree

__all__ = ["SupAgent", "run_supervise"]

SLICE = 50


class SupAgent(agentree.Agent):
    """An agent that echoes, hangs, and answers pings."""

    async def echo(self, x: int) -> int:
        """Return ``x``."""
        return x

    async def hang(self) -> None:
        """Wait forever."""
        await trio.sleep_forever()

    async def ping(self) -> None:
        """Answer at once."""


async def _supcall(cfg: Config, plain: Measurement, supervised: Measurement) -> None:
    async with (
        agentree.open_nursery() as an,
        agentree.open_supervisor("bench") as sup,
    ):
        bare = await an.start_agent(SupAgent, name="bare")
        ref = await sup.start_agent(SupAgent, name="echo")

        async def timed(target: agentree.AgentRef[SupAgent], start: int, n: int) -> float:
            t0 = time.perf_counter()
            for i in range(start, start + n):
                if await target.call(SupAgent.echo, i) != i:
                    raise RuntimeError("bad echo reply")
            return time.perf_counter() - t0

        for rep in range(cfg.repeat + 1):
            spent_plain = spent_sup = 0.0
            for start in range(0, cfg.seq_calls, SLICE):
                n = min(SLICE, cfg.seq_calls - start)
                spent_plain += await timed(bare, start, n)
                spent_sup += await timed(ref, start, n)
            if rep:
                plain.samples.append(cfg.seq_calls / spent_plain)
                supervised.samples.append(cfg.seq_calls / spent_sup)
        await an.cancel()


async def _supkill(cfg: Config, crash: Measurement, restart: Measurement) -> None:
    backoff = agentree.Backoff(min=0, max=0, jitter=0)
    async with agentree.open_supervisor(
        "bench", intensity=10 * (cfg.repeat + 1), period=60, backoff=backoff
    ) as sup:
        ref = await sup.start_agent(SupAgent, name="victim")
        for rep in range(cfg.repeat + 1):
            # The next incarnation is up (a call waits for it while it restarts).
            await ref.call(SupAgent.ping)
            caught_at: list[float] = []

            async def hang(caught_at: list[float] = caught_at) -> None:
                try:
                    await ref.call(SupAgent.hang)
                except agentree.AgentCrashed:
                    caught_at.append(time.perf_counter())

            async with trio.open_nursery() as tn:
                tn.start_soon(hang)
                # Calls on one channel start in order: the hang call is in the agent now.
                await ref.call(SupAgent.ping)
                pid = ref.pid
                assert pid is not None
                t0 = time.perf_counter()
                os.kill(pid, signal.SIGKILL)
                # The next call, made at once: it waits for the next incarnation (or,
                # sent before the death was seen, fails like the call in flight).
                while True:
                    try:
                        await ref.call(SupAgent.ping)
                    except agentree.AgentCrashed:
                        continue
                    break
                answered = time.perf_counter()
            if not caught_at:
                raise RuntimeError("the caller did not get AgentCrashed")
            if rep:
                crash.samples.append(caught_at[0] - t0)
                restart.samples.append(answered - t0)


def _run_method(cfg: Config, method: str, keys: list[str]) -> list[Measurement]:
    names = labels(method)
    plain = Measurement("supcall", names["plain"])
    supervised = Measurement("supcall", names["supervised"])
    crash = Measurement("supkill", names["crash"])
    restart = Measurement("supkill", names["restart"])
    cases = {
        "supcall": (lambda: _supcall(cfg, plain, supervised), [plain, supervised]),
        "supkill": (lambda: _supkill(cfg, crash, restart), [crash, restart]),
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


def run_supervise(cfg: Config, methods: list[str], keys: list[str]) -> list[Measurement]:
    """Measure the selected supervision workloads for each start method."""
    out: list[Measurement] = []
    for method in methods:
        out += _run_method(cfg, method, keys)
    return out
