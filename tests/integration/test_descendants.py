"""No descendant outlives its actor: what an actor's user code started dies with it.

Three kinds of descendant (a ``subprocess.Popen``, a ``multiprocessing.Process``, a
double-forked daemon), an actor that stops normally or is SIGKILLed, with both
start methods. The forkserver, sibling actors and their descendants, and the root's
own processes are left alone.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import psutil
import pytest
import trio

import agentree
from agentree._spawn._forkcopy import FORKSERVER_NAME

from . import _checks
from . import _exit_funcs as funcs

MODULE = funcs.MODULE
START_METHODS = ["forkserver", "subprocess"]
REPO = Path(__file__).resolve().parents[2]
GONE_WITHIN = 5.0
# Generous: a normal stop (whose end kills the actor's descendants) must not be
# escalated to SIGTERM on a loaded machine, or its exit would not read "stopped, 0".
CANCEL_TIMEOUT = 10.0


async def _assert_gone(procs: list[psutil.Process]) -> None:
    with trio.move_on_after(GONE_WITHIN):
        await _checks.wait_gone(procs)
    left = _checks.alive(procs)
    assert not left, f"still running {GONE_WITHIN} s after their actor ended: {left}"


def _forkserver() -> list[psutil.Process]:
    return [
        p
        for p in _checks.descendants()
        if p.name() == FORKSERVER_NAME or any("_forkserver" in part for part in p.cmdline())
    ]


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("end", ["stop", "sigkill"])
async def test_descendants_die_with_their_actor(start_method: str, end: str) -> None:
    with trio.fail_after(40):
        async with agentree.open_nursery(
            report_exits=True, start_method=start_method, cancel_timeout=CANCEL_TIMEOUT
        ) as an:
            forkserver = _forkserver()
            assert len(forkserver) == (start_method == "forkserver"), forkserver
            victim = await an.start_actor("victim", enable_modules=[MODULE])
            sibling = await an.start_actor("sibling", enable_modules=[MODULE])
            victim_pid = await victim.run(funcs.getpid)
            procs = _checks.processes(await victim.run(funcs.start_descendants))
            kept = _checks.processes(await sibling.run(funcs.start_descendants))
            assert len(_checks.alive(procs)) == 3
            assert len(_checks.alive(kept)) == 3
            if end == "stop":
                exit = await an.stop_child(victim)
                assert (exit.reason, exit.returncode) == ("stopped", 0)
            else:
                os.kill(victim_pid, signal.SIGKILL)
                exit = await victim.wait_for_exit()
                assert (exit.reason, exit.signal_name) == ("signaled", "SIGKILL")
            await _assert_gone(procs)
            # Nobody else was touched: the sibling and what it started, the forkserver.
            assert _checks.alive(kept) == kept
            assert await sibling.run(funcs.add, x=1, y=2) == 3
            assert _checks.alive(forkserver) == forkserver
            late = await an.start_actor("late", enable_modules=[MODULE])
            assert await late.ping(timeout=5) < 5
            events = [await an.exit_events().receive()]
        events += [e async for e in an.exit_events()]
    # The victim ended first; the block's end stopped the others: nothing else was
    # reported wrong.
    assert (events[0].name, events[0].reason) == ("victim", exit.reason)
    assert sorted((e.name, e.reason, e.returncode) for e in events[1:]) == [
        ("late", "stopped", 0),
        ("sibling", "stopped", 0),
    ], events
    # The block's end stopped the sibling normally: its descendants went with it.
    await _assert_gone(kept)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_nested_actor_killed_its_descendants_die(start_method: str) -> None:
    """A leaf under a middle actor is SIGKILLed: its orphans go to its subreaper
    (the forkserver, or the middle actor), which kills them; the middle actor's
    own processes are left alone."""
    with trio.fail_after(40):
        async with agentree.open_nursery(
            start_method=start_method, cancel_timeout=CANCEL_TIMEOUT
        ) as an:
            middle = await an.start_actor("middle", enable_modules=[MODULE])
            middle_own = _checks.processes(await middle.run(funcs.start_descendants))
            leaf_pid, *pids = await middle.run(funcs.spawn_leaf)
            procs = _checks.processes(pids)
            assert len(_checks.alive(procs)) == 3
            os.kill(leaf_pid, signal.SIGKILL)
            assert await middle.run(funcs.wait_leaf_exit) == {
                "reason": "signaled",
                "returncode": -9,
            }
            await _assert_gone(procs)
            assert len(_checks.alive(middle_own)) == 3
        await _assert_gone(middle_own)


async def test_the_roots_own_processes_are_the_users_business() -> None:
    """With the subprocess start method the root is its children's subreaper, yet
    what the root's own code starts is never killed, during or after the tree."""
    own = await trio.lowlevel.open_process(["sleep", "1000"])
    try:
        with trio.fail_after(40):
            async with agentree.open_nursery(
                start_method="subprocess", cancel_timeout=CANCEL_TIMEOUT
            ) as an:
                victim = await an.start_actor("victim", enable_modules=[MODULE])
                victim_pid = await victim.run(funcs.getpid)
                procs = _checks.processes(await victim.run(funcs.start_descendants))
                os.kill(victim_pid, signal.SIGKILL)
                await victim.wait_for_exit()
                await _assert_gone(procs)
                assert own.poll() is None
            assert own.poll() is None
    finally:
        own.kill()
        await own.wait()


async def test_descendants_that_ignore_sigterm_are_killed() -> None:
    with trio.fail_after(40):
        async with agentree.open_nursery(report_exits=True, cancel_timeout=CANCEL_TIMEOUT) as an:
            portal = await an.start_actor("victim", enable_modules=[MODULE])
            pid = await portal.run(funcs.start_stubborn_descendant)
            procs = _checks.processes([pid])
            exit = await an.stop_child(portal)
            assert exit.reason == "stopped"
            await _assert_gone(procs)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_descendants_of_an_actor_that_exits_by_itself_die(start_method: str) -> None:
    """``os._exit(0)`` in user code skips the actor's own clean-up: its subreaper
    kills the orphans all the same."""
    with trio.fail_after(40):
        async with agentree.open_nursery(
            report_exits=True, start_method=start_method, cancel_timeout=CANCEL_TIMEOUT
        ) as an:
            victim = await an.start_actor("victim", enable_modules=[MODULE])
            procs = _checks.processes(await victim.run(funcs.start_descendants))
            with pytest.raises(agentree.ActorDied, match="exited with code 0"):
                await victim.run(funcs.die, how="exit0")
            exit = await an.exit_events().receive()
            assert (exit.reason, exit.returncode) == ("exited", 0)
            await _assert_gone(procs)


@pytest.mark.parametrize("end", ["stop", "sigkill"])
async def test_descendants_of_an_infected_asyncio_actor_die(end: str) -> None:
    with trio.fail_after(40):
        async with agentree.open_nursery(report_exits=True, cancel_timeout=CANCEL_TIMEOUT) as an:
            victim = await an.start_actor("victim", enable_modules=[MODULE], infect_asyncio=True)
            pid = await victim.run(funcs.getpid)
            procs = _checks.processes(await victim.run(funcs.start_descendants))
            if end == "stop":
                assert (await an.stop_child(victim)).reason == "stopped"
            else:
                os.kill(pid, signal.SIGKILL)
                assert (await victim.wait_for_exit()).reason == "signaled"
            await _assert_gone(procs)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_a_root_that_is_no_subreaper(start_method: str) -> None:
    """Outside pytest (a subreaper itself): the root becomes one for the subprocess
    start method only, while its runtime runs, and the orphans die either way."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with trio.fail_after(40):
        result = await trio.run_process(
            [sys.executable, str(REPO / "tests/integration/scripts/orphans.py"), start_method],
            capture_stdout=True,
            env=env,
            cwd=str(REPO),
        )
    assert json.loads(result.stdout) == {
        "gone": True,
        "during": start_method == "subprocess",
        "after": False,
    }
