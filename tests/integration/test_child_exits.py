"""Child exits: report_exits nurseries, wait_for_exit, stop_child, and ActorDied.

Every way a child can end is checked for the reason it is reported with, and every
kind of waiter on a child that dies (calls, contexts, streams, ``wait_for_result``)
gets :class:`agentree.ActorDied` naming the actor and how it died.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import time
from typing import Any

import pytest
import trio

import agentree
from agentree.testing import raises_one

from ..test_examples import run_example
from . import _checks
from . import _exit_funcs as funcs

MODULE = funcs.MODULE
START_METHODS = ["forkserver", "subprocess"]
HOWS = ["exit3", "SIGKILL", "SIGSEGV", "SIGTERM"]


def _expected(how: str) -> tuple[str, int]:
    if how == "exit3":
        return "exited", 3
    return "signaled", -int(signal.Signals[how])


async def _end_child(portal: agentree.Portal, pid: int, how: str) -> None:
    """End the child: by itself (exit code, SIGSEGV) or by a signal from outside."""
    if how in ("exit3", "SIGSEGV"):
        try:
            await portal.run(funcs.die, how=how)
        except agentree.ActorDied:
            return
        raise AssertionError("die() returned")
    os.kill(pid, signal.Signals[how])


# -- report_exits: the reason of each kind of end ---------------------------------------


@pytest.mark.parametrize("how", HOWS)
async def test_report_exits_reports_a_death_without_failing(how: str) -> None:
    reason, code = _expected(how)
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True) as an:
            victim = await an.start_actor("victim", enable_modules=[MODULE])
            survivor = await an.start_actor("survivor", enable_modules=[MODULE])
            pid = await victim.run(funcs.getpid)
            await _end_child(victim, pid, how)
            event = await an.exit_events().receive()
            assert event == agentree.ChildExit(
                name="victim", uid=victim.actor_uid, pid=pid, returncode=code, reason=reason
            )
            assert await victim.wait_for_exit() == event
            # The nursery goes on: the survivor serves, and the dead child is gone.
            assert await survivor.run(funcs.add, x=1, y=2) == 3
            assert list(an.children) == [survivor.actor_uid]
            if how != "exit3":
                assert event.signal_name == how
        rest = [e async for e in an.exit_events()]
    assert [(e.name, e.reason, e.returncode) for e in rest] == [("survivor", "stopped", 0)]


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_stop_child_is_a_clean_stop(start_method: str) -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True, start_method=start_method) as an:
            portal = await an.start_actor("daemon", enable_modules=[MODULE])
            pid = await portal.run(funcs.getpid)
            exit = await an.stop_child(portal)
            assert exit == agentree.ChildExit(
                name="daemon", uid=portal.actor_uid, pid=pid, returncode=0, reason="stopped"
            )
            assert await an.exit_events().receive() == exit
            assert await portal.wait_for_exit() == exit
            assert an.children == {}
            assert not _checks.alive(_checks.processes([pid]))
            with pytest.raises(agentree.TransportClosed):
                await portal.run(funcs.getpid)
            # Stopping it again just says how it ended.
            assert await an.stop_child(portal) == exit


async def test_stop_child_brutal_kill() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True) as an:
            portal = await an.start_actor("daemon", enable_modules=[MODULE])
            start = trio.current_time()
            exit = await an.stop_child(portal, shutdown="brutal_kill")
            assert trio.current_time() - start < 1.0
            assert (exit.reason, exit.returncode, exit.signal_name) == ("stopped", -9, "SIGKILL")


async def test_stop_child_escalates_to_sigkill() -> None:
    """A child that ignores the cancel request and SIGTERM gets SIGKILL, on schedule."""
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True, terminate_timeout=0.3) as an:
            portal = await an.start_actor("stubborn", enable_modules=[MODULE])
            async with trio.open_nursery() as tn:
                tn.start_soon(_swallow_death, portal.run(funcs.stubborn))
                await portal.run(funcs.wait_holders, count=1)
                start = trio.current_time()
                exit = await an.stop_child(portal, shutdown=0.3)
            elapsed = trio.current_time() - start
            assert (exit.reason, exit.returncode) == ("stopped", -9)
            assert 0.6 <= elapsed < 5.0


async def _swallow_death(call: Any) -> None:
    # The call ends with its actor: cancelled first if it unwinds in time.
    with pytest.raises((agentree.TransportClosed, agentree.ContextCancelled)):
        await call


async def test_stop_child_of_a_child_that_already_died() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True) as an:
            portal = await an.start_actor("daemon", enable_modules=[MODULE])
            pid = await portal.run(funcs.getpid)
            os.kill(pid, signal.SIGKILL)
            exit = await portal.wait_for_exit()
            assert (exit.reason, exit.signal_name) == ("signaled", "SIGKILL")
            assert await an.stop_child(portal) == exit


async def test_stop_child_refuses_bad_input() -> None:
    with trio.fail_after(20):
        async with (
            agentree.open_nursery(report_exits=True) as an,
            agentree.open_nursery() as other,
        ):
            portal = await an.start_actor("daemon", enable_modules=[MODULE])
            for bad in (-1.0, "soon", math.nan, True):
                with pytest.raises(ValueError, match="shutdown"):
                    await an.stop_child(portal, shutdown=bad)  # type: ignore[arg-type]
            with pytest.raises(agentree.AgentreeError, match="not a running child"):
                await other.stop_child(portal)
            assert await portal.run(funcs.add, x=1, y=1) == 2


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_lost_channel_is_killed_and_reported_lost(start_method: str) -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True, start_method=start_method) as an:
            portal = await an.start_actor("lost", enable_modules=[MODULE])
            pid = await portal.run(funcs.getpid)
            with pytest.raises(agentree.TransportClosed) as info:
                await portal.run(funcs.break_channel)
            # The process did not end: no exit to tell, so a plain TransportClosed.
            assert not isinstance(info.value, agentree.ActorDied)
            assert "still running" in str(info.value.__cause__ or info.value)
            exit = await an.exit_events().receive()
            assert (exit.name, exit.pid, exit.reason) == ("lost", pid, "lost")
            assert exit.returncode < 0
            assert not _checks.alive(_checks.processes([pid]))


async def test_run_in_actor_outcomes_are_reported() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True) as an:
            ok = await an.run_in_actor(funcs.add, name="ok", x=2, y=3)
            bad = await an.run_in_actor(funcs.raise_error, name="bad", message="boom")
            events = {}
            for _ in range(2):
                event = await an.exit_events().receive()
                events[event.name] = event
            # Both functions ended and the runtime then stopped their actors.
            assert {n: (e.reason, e.returncode) for n, e in events.items()} == {
                "ok": ("stopped", 0),
                "bad": ("stopped", 0),
            }
            assert await ok.wait_for_result() == 5
            with pytest.raises(agentree.RemoteActorError, match="boom"):
                await bad.wait_for_result()


async def test_run_in_actor_death_is_reported() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True) as an:
            portal = await an.run_in_actor(funcs.hold_then_return, name="one", value=1)
            await portal.run(funcs.wait_holders, count=1)
            with pytest.raises(agentree.ActorDied):
                await portal.run(funcs.die, how="exit3")
            event = await an.exit_events().receive()
            assert (event.reason, event.returncode) == ("exited", 3)
            with pytest.raises(agentree.ActorDied, match="exited with code 3") as info:
                await portal.wait_for_result()
            assert info.value.exit == event


# -- the default mode is unchanged --------------------------------------------------------


async def test_default_mode_still_raises_run_in_actor_errors() -> None:
    async def body() -> None:
        async with agentree.open_nursery() as an:
            with pytest.raises(agentree.AgentreeError, match="report_exits"):
                an.exit_events()
            await an.run_in_actor(funcs.raise_error, message="boom")

    with trio.fail_after(20), raises_one(agentree.RemoteActorError) as info:
        await body()
    assert "boom" in str(info.value)


async def test_default_mode_raises_actor_died_for_a_dead_run_in_actor() -> None:
    exits = []

    async def body() -> None:
        async with agentree.open_nursery() as an:
            portal = await an.run_in_actor(funcs.hold_then_return, name="one", value=1)
            pid = await portal.run(funcs.wait_holders, count=1)
            os.kill(pid, signal.SIGKILL)
            exits.append(await portal.wait_for_exit())

    with trio.fail_after(20), raises_one(agentree.ActorDied) as info:
        await body()
    assert "SIGKILL" in str(info.value)
    assert [(e.reason, e.signal_name) for e in exits] == [("signaled", "SIGKILL")]


async def test_default_mode_daemon_death_does_not_fail() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[MODULE])
            pid = await portal.run(funcs.getpid)
            os.kill(pid, signal.SIGTERM)
            exit = await portal.wait_for_exit()
            assert (exit.reason, exit.signal_name) == ("signaled", "SIGTERM")
            exit_by_stop = await an.stop_child(portal)
            assert exit_by_stop == exit


# -- ActorDied for every kind of waiter --------------------------------------------------


async def _waiters(portal: agentree.Portal, errors: dict[str, BaseException]) -> None:
    """Start one of each kind of waiter on ``portal``; each records what it raised."""

    async def record(kind: str, fn: Any) -> None:
        try:
            await fn()
        except BaseException as exc:
            errors[kind] = exc
        else:
            errors[kind] = AssertionError(f"{kind} ended without an error")

    async def call() -> None:
        await portal.run(funcs.hold)

    async def context() -> None:
        async with portal.open_context(funcs.hold_ctx) as (ctx, _):
            await ctx.wait_for_result()

    async def stream() -> None:
        async with (
            portal.open_context(funcs.hold_stream) as (ctx, _),
            ctx.open_stream() as s,
        ):
            await s.receive()

    async def gen() -> None:
        async with portal.open_stream_from(funcs.hold_gen) as s:
            async for _ in s:
                pass

    async with trio.open_nursery() as tn:
        for kind, fn in [("call", call), ("context", context), ("stream", stream), ("gen", gen)]:
            tn.start_soon(record, kind, fn)


def _check_died(exc: BaseException, name: str, pid: int, how: str) -> None:
    reason, code = _expected(how)
    assert isinstance(exc, agentree.ActorDied), repr(exc)
    assert (exc.exit.name, exc.exit.pid, exc.exit.reason, exc.exit.returncode) == (
        name,
        pid,
        reason,
        code,
    )
    message = str(exc)
    assert f"'{name}'" in message
    assert f"pid {pid}" in message
    assert (how if how != "exit3" else "exited with code 3") in message


@pytest.mark.parametrize(
    ("start_method", "how"),
    [*(("forkserver", how) for how in HOWS), ("subprocess", "SIGKILL")],
)
async def test_every_waiter_gets_actor_died(start_method: str, how: str) -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.start_actor("victim", enable_modules=[MODULE])
            pid = await portal.run(funcs.getpid)
            errors: dict[str, BaseException] = {}
            async with trio.open_nursery() as tn:
                tn.start_soon(_start_waiters_then_end, portal, pid, how, errors)
            assert sorted(errors) == ["call", "context", "gen", "stream"]
            for exc in errors.values():
                _check_died(_leaf(exc), "victim", pid, how)
            # Calls made after the death say so too.
            with pytest.raises(agentree.ActorDied):
                await portal.run(funcs.getpid)


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


async def _start_waiters_then_end(
    portal: agentree.Portal, pid: int, how: str, errors: dict[str, BaseException]
) -> None:
    async with trio.open_nursery() as tn:

        async def waiters() -> None:
            await _waiters(portal, errors)

        tn.start_soon(waiters)
        await portal.run(funcs.wait_holders, count=4)
        await _end_child(portal, pid, how)


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("how", HOWS)
async def test_wait_for_result_gets_actor_died(start_method: str, how: str) -> None:
    reason, code = _expected(how)
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True, start_method=start_method) as an:
            portal = await an.run_in_actor(funcs.hold_then_return, name="one", value=1)
            pid = await portal.run(funcs.wait_holders, count=1)
            async with trio.open_nursery() as tn:

                async def wait_result() -> None:
                    with pytest.raises(agentree.ActorDied) as info:
                        await portal.wait_for_result()
                    _check_died(info.value, "one", pid, how)

                tn.start_soon(wait_result)
                await trio.testing.wait_all_tasks_blocked()
                await _end_child(portal, pid, how)
            assert (await portal.wait_for_exit()).reason == reason
            assert (await portal.wait_for_exit()).returncode == code


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_actor_died_arrives_within_tens_of_ms(start_method: str) -> None:
    """From the SIGKILL to the caller's ActorDied: the median of 20 kills."""
    latencies = []
    with trio.fail_after(90):
        async with agentree.open_nursery(report_exits=True, start_method=start_method) as an:
            # The 20 victims start together (their interpreters start in parallel);
            # then they are killed one at a time.
            portals: list[agentree.Portal] = []

            async def start(i: int) -> None:
                portals.append(await an.start_actor(f"victim{i}", enable_modules=[MODULE]))

            async with trio.open_nursery() as starting:
                for i in range(20):
                    starting.start_soon(start, i)
            for portal in portals:
                killed_at: list[float] = []
                async with trio.open_nursery() as tn:

                    async def call(portal: agentree.Portal, killed_at: list[float]) -> None:
                        with pytest.raises(agentree.ActorDied):
                            await portal.run(funcs.hold)
                        latencies.append(time.perf_counter() - killed_at[0])

                    tn.start_soon(call, portal, killed_at)
                    pid = await portal.run(funcs.wait_holders, count=1)
                    killed_at.append(time.perf_counter())
                    os.kill(pid, signal.SIGKILL)
                assert (await an.exit_events().receive()).reason == "signaled"
    median = statistics.median(latencies)
    print(
        f"{start_method}: kill -> ActorDied: median {median * 1000:.1f} ms, "
        f"min {min(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
    )
    assert median < 0.1


async def test_cancel_actor_through_the_portal_is_a_stop() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True) as an:
            portal = await an.start_actor("daemon", enable_modules=[MODULE])
            assert await portal.cancel_actor() is True
            exit = await an.exit_events().receive()
            assert (exit.name, exit.reason, exit.returncode) == ("daemon", "stopped", 0)


async def test_an_infected_asyncio_child_death_is_actor_died() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True) as an:
            portal = await an.start_actor("aio", enable_modules=[MODULE], infect_asyncio=True)
            errors: dict[str, BaseException] = {}
            async with trio.open_nursery() as tn:
                tn.start_soon(_start_waiters_then_end, portal, 0, "exit3", errors)
            pid = (await an.exit_events().receive()).pid
            assert sorted(errors) == ["call", "context", "gen", "stream"]
            for exc in errors.values():
                _check_died(_leaf(exc), "aio", pid, "exit3")


async def test_closing_exit_events_does_not_break_the_nursery() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True) as an:
            await an.exit_events().aclose()
            portal = await an.start_actor("daemon", enable_modules=[MODULE])
            assert (await an.stop_child(portal)).reason == "stopped"


async def test_stop_child_of_a_running_run_in_actor_in_the_default_mode() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            portal = await an.run_in_actor(funcs.hold_then_return, name="one", value=1)
            await portal.run(funcs.wait_holders, count=1)
            exit = await an.stop_child(portal)
            assert (exit.reason, exit.returncode) == ("stopped", 0)
            with pytest.raises(agentree.ContextCancelled):
                await portal.wait_for_result()


async def test_a_send_to_a_dead_child_is_actor_died() -> None:
    pids = []

    async def send_after_death(portal: agentree.Portal) -> None:
        async with (
            portal.open_context(funcs.hold_stream) as (ctx, pid),
            ctx.open_stream() as stream,
        ):
            pids.append(pid)
            await portal.run(funcs.wait_holders, count=1)
            os.kill(pid, signal.SIGKILL)
            await portal.wait_for_exit()
            await stream.send("anyone there?")

    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("victim", enable_modules=[MODULE])
            with pytest.raises(agentree.ActorDied, match="SIGKILL") as info:
                await send_after_death(portal)
            assert info.value.exit.pid == pids[0]


async def test_a_stopped_child_slow_to_exit_after_its_channel_is_stopped_not_lost() -> None:
    """An infected-asyncio child waits for its executor threads after its channel
    closed: while its stop runs, that is a stop escalating, not a lost channel."""
    with trio.fail_after(30):
        async with agentree.open_nursery(report_exits=True) as an:
            portal = await an.start_actor("slow", enable_modules=[MODULE], infect_asyncio=True)
            async with trio.open_nursery() as tn:
                tn.start_soon(_swallow_death, portal.run(funcs.block_in_executor, seconds=30))
                await portal.run(funcs.wait_holders, count=1)
                exit = await an.stop_child(portal, shutdown=2.5)
            assert (exit.reason, exit.signal_name) == ("stopped", "SIGTERM")


def test_the_restart_on_crash_example() -> None:
    """The example, run as a user would (its own root, not a subreaper): the crashed
    worker's helper process dies with it."""
    out = run_example("supervision/restart_on_crash.py")
    assert out.splitlines() == [
        "job 3: the worker died (exited, code 3)",
        "exit event: worker exited, code 3",
        "its helper process died with it: True",
        "worker restarted",
        "results: [1, 4, 16, 25]",
        "the new worker answers a ping: True",
        "stopped: stopped, code 0",
    ], out


async def test_default_mode_kills_a_lost_daemon_without_failing() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("lost", enable_modules=[MODULE])
            with pytest.raises(agentree.TransportClosed):
                await portal.run(funcs.break_channel)
            exit = await portal.wait_for_exit()
            assert exit.reason == "lost"
            assert await an.stop_child(portal) == exit
            assert an.children == {}


async def test_hard_cancel_reports_stops() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True) as an:
            for i in range(3):
                await an.start_actor(f"d{i}", enable_modules=[MODULE])
            await an.cancel(hard_kill=True)
            events = [await an.exit_events().receive() for _ in range(3)]
            assert sorted((e.name, e.reason, e.returncode) for e in events) == [
                (f"d{i}", "stopped", -9) for i in range(3)
            ]
