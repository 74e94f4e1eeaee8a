"""Chaos: random SIGKILLs in a three-level supervision tree while callers work.

Every call acknowledged by the agent was executed exactly once; every other call
failed with ``AgentCrashed`` (and ran at most once); nothing is left behind (the
leak fixture checks processes, sockets and temp dirs).
"""

from __future__ import annotations

import collections
import os
import random
import signal
from pathlib import Path

import pytest
import trio

import agentree
from agentree.supervise import ChildStarted

from ._agents import Echo
from .test_supervise_basics import next_of

KILLS = int(os.environ.get("AGENTREE_CHAOS_KILLS", "200"))
CALLERS = 8


def lines(path: str) -> list[str]:
    with open(path) as f:
        return f.read().splitlines()


async def test_chaos_random_sigkills_in_a_three_level_tree(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    rng = random.Random(int(os.environ.get("AGENTREE_CHAOS_SEED", "1")))
    acked: list[str] = []
    crashed: list[str] = []
    pids: set[int] = set()
    fast = agentree.Backoff(min=0, max=0.01, jitter=0.5, reset_after=1)
    with trio.fail_after(max(60, KILLS * 0.3)):
        async with agentree.open_supervisor(
            "app", intensity=10 * KILLS, period=60, backoff=fast
        ) as sup:
            refs = [await sup.start_agent(Echo, name=f"a{i}") for i in range(2)]
            mid = await sup.start_supervisor("mid", intensity=10 * KILLS, period=60)
            refs += [await mid.start_agent(Echo, name=f"b{i}") for i in range(2)]
            leaf = await mid.start_supervisor("leaf", intensity=10 * KILLS, period=60)
            refs += [await leaf.start_agent(Echo, name=f"c{i}") for i in range(2)]
            assert refs[-1].path == "app/mid/leaf/c1"
            events = sup.events()
            done = trio.Event()

            async def caller(n: int) -> None:
                i = 0
                while not done.is_set():
                    token = f"{n}-{i}"
                    i += 1
                    ref = rng.choice(refs)
                    try:
                        assert await ref.call(Echo.record, log, token) == token
                    except agentree.AgentCrashed:
                        crashed.append(token)
                    else:
                        acked.append(token)

            async def killer() -> None:
                for _ in range(KILLS):
                    ref = rng.choice(refs)
                    pid = ref.pid
                    while pid is None:  # restarting: wait for it
                        await next_of(events, ChildStarted, ref.path)
                        pid = ref.pid
                    pids.add(pid)
                    os.kill(pid, signal.SIGKILL)
                    started = await next_of(events, ChildStarted, ref.path)
                    assert started.pid != pid  # type: ignore[union-attr]
                done.set()

            async with trio.open_nursery() as tn:
                for n in range(CALLERS):
                    tn.start_soon(caller, n)
                tn.start_soon(killer)
            pids.update(r.pid for r in refs if r.pid is not None)
            crashes = sum(s.statistics().crashes_total for s in (sup, mid, leaf))
    executed = collections.Counter(lines(log))
    assert acked, "no call went through"
    assert crashed, "no call was caught by a kill"
    assert max(executed.values()) == 1, "a call ran twice"
    assert all(executed[t] == 1 for t in acked), "an acknowledged call did not run"
    assert set(executed) <= set(acked) | set(crashed)
    assert crashes == KILLS
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
