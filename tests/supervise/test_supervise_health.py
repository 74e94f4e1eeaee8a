"""Health: the watchdog, resource limits, recycling; and observability structs."""

from __future__ import annotations

import msgspec
import pytest
import trio

import agentree
from agentree.supervise import ChildCrashed, ChildRestarting, ChildStarted, ChildStopped

from ._agents import Echo
from .test_supervise_basics import FAST, next_of

TIMEOUT = 60


def comm_of(pid: int | None) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


async def test_watchdog_kills_a_stuck_loop_and_names_the_method() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            ref = await sup.start_agent(Echo, name="a", watchdog=0.5, heartbeat=0.1)
            events = sup.events()
            with pytest.raises(agentree.AgentCrashed) as info:
                await ref.call(Echo.hang_loop, 30)
            assert "hang_loop" in str(info.value)
            crashed = await next_of(events, ChildCrashed)
            assert isinstance(crashed, ChildCrashed)
            assert crashed.kind == "watchdog"
            assert crashed.method == "hang_loop"
            await next_of(events, ChildStarted)
            assert await ref.call(Echo.echo, 1) == 1


async def test_watchdog_spares_a_busy_but_responsive_agent() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            ref = await sup.start_agent(Echo, name="a", watchdog=2.0, heartbeat=0.05)
            # Async naps do not block the loop: pings are answered throughout.
            assert await ref.call(Echo.nap, 1.0) == 1
            assert sup.statistics().crashes_total == 0


async def test_cpu_rlimit_breach_is_a_crash_with_limit_exceeded() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            ref = await sup.start_agent(Echo, name="a", limits=agentree.Limits(cpu_seconds=1))
            events = sup.events()
            with pytest.raises(agentree.AgentCrashed) as info:
                await ref.call(Echo.burn)
            assert isinstance(info.value.cause, agentree.LimitExceeded)
            crashed = await next_of(events, ChildCrashed)
            assert isinstance(crashed, ChildCrashed)
            assert crashed.kind == "limit"
            assert "CPU" in crashed.cause
            await next_of(events, ChildStarted)
            assert await ref.call(Echo.echo, 2) == 2


async def test_rss_limit_kills_the_agent() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            ref = await sup.start_agent(
                Echo, name="a", limits=agentree.Limits(rss=120 * 2**20, check_every=0.02)
            )
            events = sup.events()

            async def grow_then_nap() -> None:
                # Killed during the growth or the nap after it.
                await ref.call(Echo.grow, 160)
                await ref.call(Echo.nap, 30)

            with pytest.raises(agentree.AgentCrashed) as info:
                await grow_then_nap()
            assert isinstance(info.value.cause, agentree.LimitExceeded)
            crashed = await next_of(events, ChildCrashed)
            assert isinstance(crashed, ChildCrashed)
            assert crashed.kind == "limit"
            assert "RSS" in crashed.cause


async def test_recycle_after_max_calls_is_not_counted() -> None:
    with trio.fail_after(TIMEOUT):
        # intensity=0: a single counted restart would give up.
        async with agentree.open_supervisor("app", intensity=0) as sup:
            ref = await sup.start_agent(Echo, name="a", recycle_after=agentree.Limits(max_calls=3))
            events = sup.events()
            incarnations = [(await ref.call(Echo.whoami))[1] for _ in range(7)]
            assert incarnations == [1, 1, 1, 2, 2, 2, 3]
            stopped = await next_of(events, ChildStopped)
            assert isinstance(stopped, ChildStopped)
            assert stopped.reason == "recycled"
            restarting = await next_of(events, ChildRestarting)
            assert isinstance(restarting, ChildRestarting)
            assert not restarting.counted
            stats = sup.statistics()
            assert stats.restarts_total == 0
            assert stats.crashes_total == 0


async def test_statistics_and_children_are_immutable_structs() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            ref = await sup.start_agent(Echo, name="a")
            async with trio.open_nursery() as tn:
                tn.start_soon(ref.call, Echo.nap, 0.5)
                await ref.call(Echo.wait_running, 1)
                stats = sup.statistics()
            assert stats.path == "app"
            assert stats.calls_running == 1
            [child] = stats.children
            assert (child.path, child.phase, child.incarnation, child.pid) == (
                "app/a",
                "running",
                1,
                ref.pid,
            )
            with pytest.raises(AttributeError):
                child.phase = "stopped"  # type: ignore[misc]
            assert msgspec.json.decode(msgspec.json.encode(stats), type=type(stats)) == stats


async def test_process_title_names_path_and_incarnation() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            ref = await sup.start_agent(Echo, name="a")
            assert comm_of(ref.pid) == "agentree[app/a#1]"[-15:]


async def test_open_files_limit_is_a_crash() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            ref = await sup.start_agent(
                Echo, name="a", limits=agentree.Limits(open_files=64, check_every=0.02)
            )
            events = sup.events()
            # Opening past the rlimit fails in the agent (EMFILE), and the watch then
            # sees an agent holding its limit: a crash.
            with pytest.raises((agentree.RemoteActorError, agentree.AgentCrashed)):
                await ref.call(Echo.open_many, 100)
            crashed = await next_of(events, ChildCrashed)
            assert isinstance(crashed, ChildCrashed)
            assert crashed.kind == "limit"
            assert "open files" in crashed.cause
