"""agentree side of every workload.

All cases of one start method run inside a single ``trio.run`` under one
``agentree.open_root_actor(...)``, so the root (and, for ``forkserver``, its
fork server) stays warm across repetitions and workloads. Importing this module
imports ``agentree``; callers treat an import failure as "agentree not
importable" and still run the peers.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import _killroot
import trio
from _common import CaseResult, Config, Measurement, Probe, descendants, format_error
from _stream_cases import STREAM_CASES
from _workloads import agentree_echo, agentree_getpid

import agentree

Case = Callable[[Config], Awaitable[CaseResult]]


def _leak_note(before: set[int]) -> str | None:
    """Describe descendant processes that appeared since ``before`` and are still alive.

    Args:
        before: Pids of descendants that existed before the case ran.

    Returns:
        A note for the footnotes, or ``None`` if nothing leaked.
    """
    leaked = [(pid, cmd) for pid, cmd in descendants() if pid not in before]
    if not leaked:
        return None
    shown = ", ".join(f"{pid} {cmd[:60]!r}" for pid, cmd in leaked[:3])
    return f"{len(leaked)} descendant process(es) still alive after nursery exit: {shown}"


async def _spawn_once(n: int) -> tuple[float, list[int]]:
    """Spawn ``n`` run_in_actor children concurrently and collect their pids.

    Args:
        n: Number of actors.

    Returns:
        Seconds from opening the actor nursery until the last result arrived
        (nursery exit, i.e. reaping, is excluded) and the pids received.
    """
    pids: list[int] = []
    t0 = time.perf_counter()
    async with agentree.open_nursery() as an:

        async def one(i: int) -> None:
            portal = await an.run_in_actor(agentree_getpid, name=f"getpid-{i}")
            pids.append(await portal.wait_for_result())

        async with trio.open_nursery() as tn:
            for i in range(n):
                tn.start_soon(one, i)
        elapsed = time.perf_counter() - t0
    return elapsed, pids


def _spawn_case(n: int) -> Case:
    """Build the cold-spawn case for ``n`` concurrent ``run_in_actor`` children.

    Args:
        n: Number of actors per repetition.

    Returns:
        The case coroutine function.
    """

    async def case(cfg: Config) -> CaseResult:
        samples: list[float] = []
        distinct: list[int] = []
        before = {pid for pid, _ in descendants()}
        for rep in range(cfg.repeat + 1):
            elapsed, pids = await _spawn_once(n)
            if rep:
                samples.append(elapsed)
                distinct.append(len(set(pids)))
        notes = []
        if any(d != n for d in distinct):
            notes.append(f"got {min(distinct)}-{max(distinct)} distinct pids, expected {n}")
        if leak := _leak_note(before):
            notes.append(leak)
        return samples, "; ".join(notes) or None

    return case


async def _rate_case(cfg: Config, n: int, inflight: int | None) -> CaseResult:
    """Measure ``portal.run(echo, x=i)`` round trips against one daemon actor.

    Args:
        cfg: Benchmark configuration.
        n: Round trips per repetition.
        inflight: ``None`` for sequential calls, else number of concurrent trio tasks.

    Returns:
        Round trips per second per timed repetition and an optional note.
    """
    rates: list[float] = []
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("echo", enable_modules=[agentree_echo.__module__])

        async def caller(calls: int) -> None:
            for i in range(calls):
                if await portal.run(agentree_echo, x=i) != i:
                    raise RuntimeError("agentree: bad echo reply")

        for rep in range(cfg.repeat + 1):
            t0 = time.perf_counter()
            if inflight is None:
                await caller(n)
            else:
                per_task, extra = divmod(n, inflight)
                async with trio.open_nursery() as tn:
                    for t in range(inflight):
                        tn.start_soon(caller, per_task + (t < extra))
            elapsed = time.perf_counter() - t0
            if rep:
                rates.append(n / elapsed)
        await portal.cancel_actor()
    return rates, None


async def _seq_case(cfg: Config) -> CaseResult:
    """Sequential round trips; see :func:`_rate_case`."""
    return await _rate_case(cfg, cfg.seq_calls, None)


async def _inflight_case(cfg: Config) -> CaseResult:
    """Round trips with ``cfg.inflight`` calls in flight; see :func:`_rate_case`."""
    return await _rate_case(cfg, cfg.inflight_calls, cfg.inflight)


async def _teardown_case(cfg: Config) -> CaseResult:
    """Time error teardown of ``cfg.many`` idle daemons.

    Each repetition starts the daemons with ``start_actor``, raises inside the
    ``open_nursery()`` block and times from the raise until the exception
    leaves the block.

    Args:
        cfg: Benchmark configuration.

    Returns:
        Seconds per timed repetition and an optional leak note.
    """
    samples: list[float] = []
    before = {pid for pid, _ in descendants()}
    for rep in range(cfg.repeat + 1):
        t0 = 0.0
        try:
            async with agentree.open_nursery() as an:
                for i in range(cfg.many):
                    await an.start_actor(f"td-{i}", enable_modules=[agentree_echo.__module__])
                t0 = time.perf_counter()
                raise Probe
        except* Probe:
            elapsed = time.perf_counter() - t0
        if rep:
            samples.append(elapsed)
    return samples, _leak_note(before)


async def _killroot_case(cfg: Config) -> CaseResult:
    """SIGKILL of a separate root with 8 actors (2 nested); see ``_killroot``.

    Args:
        cfg: Benchmark configuration.

    Returns:
        Seconds from the kill until no descendant was alive, per timed repetition.
    """
    method = agentree.current_actor().options.start_method
    argv, expected = _killroot.agentree_case(method)
    return await trio.to_thread.run_sync(_killroot.measure, argv, expected, cfg)


CASES: dict[str, Case] = {
    "spawn1": _spawn_case(1),
    "spawn8": _spawn_case(8),
    "seq": _seq_case,
    "inflight": _inflight_case,
    "teardown": _teardown_case,
    "killroot": _killroot_case,
}
CASES.update(STREAM_CASES)


def run_agentree(method: str, impl: str, cfg: Config, keys: list[str]) -> list[Measurement]:
    """Run the selected agentree cases for one start method.

    Args:
        method: agentree ``start_method`` (``"forkserver"`` or ``"subprocess"``).
        impl: Label for the table rows.
        cfg: Benchmark configuration.
        keys: Workload keys to run, in order.

    Returns:
        One measurement per key; failures are recorded in ``Measurement.error``.
    """
    results: dict[str, Measurement] = {k: Measurement(k, impl) for k in keys}

    async def main() -> None:
        async with agentree.open_root_actor(name="bench", start_method=method):
            with trio.fail_after(cfg.case_timeout):
                await _spawn_once(1)
            for key in keys:
                m = results[key]
                try:
                    with trio.fail_after(cfg.case_timeout):
                        m.samples, m.note = await CASES[key](cfg)
                except Exception as exc:
                    m.error = format_error(exc)

    try:
        trio.run(main)
    except Exception as exc:
        for m in results.values():
            if m.error is None and not m.samples:
                m.error = format_error(exc)
    return list(results.values())
