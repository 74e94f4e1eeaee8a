"""Checkpoint workloads (issue 10): checkpoint rates, and the agent's ping meanwhile.

The agent class lives here at module level, so that agent actors import it by name
(the bench directory is on their ``sys.path``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import msgspec
import trio
from _common import Config, Measurement, format_error
from _store_workloads import labels

import agentree

__all__ = ["CkptAgent", "Doc", "run_store"]

CHECKPOINTS = 500
STATE_BYTES = 1024
PING_GAP = 0.002


class Doc(msgspec.Struct):
    """A state of about ``STATE_BYTES`` bytes once encoded."""

    step: int = 0
    text: str = ""


class CkptAgent(agentree.Agent, state=Doc):
    """An agent that checkpoints in a loop and answers pings."""

    async def save_many(self, n: int, size: int) -> None:
        """Take ``n`` checkpoints of a state carrying ``size`` bytes of text."""
        self.state.text = "x" * size
        for i in range(n):
            self.state.step = i
            await self.checkpoint()

    async def ping(self) -> None:
        """Answer at once."""


async def _rate(cfg: Config, ref: agentree.SupervisedRef[CkptAgent], m: Measurement) -> None:
    n = 20 if cfg.quick else CHECKPOINTS
    for rep in range(cfg.repeat + 1):
        t0 = time.perf_counter()
        await ref.call(CkptAgent.save_many, n, STATE_BYTES)
        if rep:
            m.samples.append(n / (time.perf_counter() - t0))


async def _pings(
    cfg: Config,
    ref: agentree.SupervisedRef[CkptAgent],
    idle: Measurement,
    median: Measurement,
    worst: Measurement,
) -> None:
    n = 20 if cfg.quick else CHECKPOINTS

    async def ping_once() -> float:
        t0 = time.perf_counter()
        await ref.call(CkptAgent.ping)
        return time.perf_counter() - t0

    for rep in range(cfg.repeat + 1):
        quiet = [await ping_once() for _ in range(50)]
        during: list[float] = []
        async with trio.open_nursery() as tn:
            done = trio.Event()

            async def save(done: trio.Event = done) -> None:
                await ref.call(CkptAgent.save_many, n, STATE_BYTES)
                done.set()

            tn.start_soon(save)
            while not done.is_set():
                during.append(await ping_once())
                await trio.sleep(PING_GAP)
        if rep:
            idle.samples.append(statistics.median(quiet))
            median.samples.append(statistics.median(during))
            worst.samples.append(max(during))


async def _memory(cfg: Config, m: Measurement) -> None:
    async with agentree.open_supervisor("bench", store=agentree.MemoryStore()) as sup:
        ref = await sup.start_agent(CkptAgent, name="mem")
        await _rate(cfg, ref, m)


async def _sqlite(
    cfg: Config,
    rate: Measurement | None,
    pings: tuple[Measurement, ...],
    *,
    fsync: bool = False,
) -> None:
    with tempfile.TemporaryDirectory(prefix="agentree-bench-") as tmp:
        store = agentree.SqliteStore(Path(tmp) / "bench.db", fsync=fsync)
        async with agentree.open_supervisor("bench", store=store) as sup:
            ref = await sup.start_agent(CkptAgent, name="sql")
            if rate is not None:
                await _rate(cfg, ref, rate)
            if pings:
                await _pings(cfg, ref, *pings)


def _run_method(cfg: Config, method: str, keys: list[str]) -> list[Measurement]:
    names = labels(method)
    memory = Measurement("ckpt", names["memory"])
    sqlite = Measurement("ckpt", names["sqlite"])
    fsync = Measurement("ckpt", names["fsync"])
    idle = Measurement("ckptping", names["idle_ping"])
    median = Measurement("ckptping", names["ping_median"])
    worst = Measurement("ckptping", names["ping_worst"])
    rows: list[Measurement] = []
    if "ckpt" in keys:
        rows += [memory, sqlite, fsync]
    if "ckptping" in keys:
        rows += [idle, median, worst]

    async def main() -> None:
        async with agentree.open_root_actor(name="bench", start_method=method):
            cases = []
            if "ckpt" in keys:
                cases.append((lambda: _memory(cfg, memory), [memory]))
                cases.append((lambda: _sqlite(cfg, sqlite, ()), [sqlite]))
                cases.append((lambda: _sqlite(cfg, fsync, (), fsync=True), [fsync]))
            if "ckptping" in keys:
                pings = (idle, median, worst)
                cases.append((lambda: _sqlite(cfg, None, pings), list(pings)))
            for measure, ms in cases:
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


def run_store(cfg: Config, methods: list[str], keys: list[str]) -> list[Measurement]:
    """Measure the selected checkpoint workloads for each start method."""
    out: list[Measurement] = []
    for method in methods:
        out += _run_method(cfg, method, keys)
    return out
