"""Supervision trees across processes, and pools."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import trio
from trio.testing import wait_all_tasks_blocked

import agentree
from agentree.supervise import ChildCrashed, ChildStarted, ChildStopped

from ._agents import Echo, Talker, Team
from .test_supervise_basics import FAST, kill, next_of

TIMEOUT = 60


async def test_supervisor_inside_an_agent_restarts_its_worker() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            team = await sup.start_agent(Team, name="team")
            worker_pid = await team.call(Team.worker_pid)
            assert await team.call(Team.worker_echo, 3) == 3
            os.kill(worker_pid, signal.SIGKILL)
            # The team's own supervisor restarts its worker; the team lives on.
            new_pid = await team.call(Team.wait_worker_incarnation, 2)
            assert new_pid != worker_pid
            assert await team.call(Team.worker_echo, 4) == 4
            assert sup.statistics().crashes_total == 0


async def test_a_crashed_agent_takes_its_subtree_before_its_restart() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            events = sup.events()
            team = await sup.start_agent(Team, name="team")
            worker_pid = await team.call(Team.worker_pid)
            kill(team)  # type: ignore[arg-type]
            await next_of(events, ChildCrashed, "app/team")
            started = await next_of(events, ChildStarted, "app/team")
            assert isinstance(started, ChildStarted)
            assert started.incarnation == 2
            # The old worker (a grandchild) was gone before the new team started.
            with pytest.raises(ProcessLookupError):
                os.kill(worker_pid, 0)
            assert await team.call(Team.worker_echo, 5) == 5


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return False


async def test_user_subprocess_of_a_crashed_agent_is_gone_before_the_restart() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            ref = await sup.start_agent(Echo, name="a")
            sleeper = await ref.call(Echo.spawn_sleeper)
            assert alive(sleeper)
            events = sup.events()
            kill(ref)
            await next_of(events, ChildStarted, "app/a")
            assert not alive(sleeper)


async def test_pool_by_key_is_sticky_and_call_spreads() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            pool = await sup.start_pool(Echo, name="pool", size=3)
            assert [m.path for m in pool.members] == ["app/pool/0", "app/pool/1", "app/pool/2"]
            for key in ("alpha", "beta", 7, ("x", 1)):
                pids = {(await pool.by_key(key).call(Echo.whoami))[0] for _ in range(5)}
                assert len(pids) == 1
            # least_busy: concurrent calls land on every member.
            pids_seen: set[int] = set()

            async def one() -> None:
                await pool.call(Echo.nap, 0.2)

            async with trio.open_nursery() as tn:
                for _ in range(6):
                    tn.start_soon(one)
                await wait_all_tasks_blocked()
                assert sup.statistics().calls_running == 6
                pool_info = [c for c in sup.which_children() if c.name == "pool"]
                assert pool_info
                assert pool_info[0].kind == "pool"
                for member in pool.members:
                    assert member._slot.calls_running() == 2
                    pids_seen.add(member.pid)  # type: ignore[arg-type]
            assert len(pids_seen) == 3


async def test_pool_map_yields_in_input_order_with_bounded_work() -> None:
    done: list[tuple[int, int | None]] = []
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            pool = await sup.start_pool(Echo, name="pool", size=2)
            results = []
            peak = 0
            async with pool.map(
                Echo.echo, range(40), max_in_flight=4, progress=lambda d, t: done.append((d, t))
            ) as items:
                async for value in items:
                    results.append(value)
                    peak = max(peak, sup.statistics().calls_running)
            assert results == list(range(40))
            assert peak <= 4
            assert done[-1] == (40, 40)


async def test_pool_member_crash_is_restarted_alone() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            pool = await sup.start_pool(Echo, name="pool", size=2)
            events = sup.events()
            other_pid = pool.members[1].pid
            kill(pool.members[0])
            started = await next_of(events, ChildStarted, "app/pool/0")
            assert isinstance(started, ChildStarted)
            assert started.incarnation == 2
            assert pool.members[1].pid == other_pid
            assert [await pool.members[i].call(Echo.echo, i) for i in range(2)] == [0, 1]


async def test_context_through_a_supervised_ref_never_moves_incarnation() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            ref = await sup.start_agent(Talker, name="talker")
            async with ref.open_context(Talker.talk, "hi") as (ctx, first):
                assert first == "hi from #1"
                async with ctx.open_stream() as stream:
                    await stream.send(2)
                    assert await stream.receive() == 4
            assert await ctx.wait_for_result() == "done"
            events = sup.events()

            async def crash_in_dialog() -> None:
                async with (
                    ref.open_context(Talker.talk, "hi") as (ctx, _),
                    ctx.open_stream() as stream,
                ):
                    await stream.send(-1)
                    await stream.receive()

            with pytest.raises(agentree.AgentCrashed) as info:
                await crash_in_dialog()
            assert info.value.incarnation == 1
            await next_of(events, ChildStarted, "app/talker")
            async with ref.open_context(Talker.talk, "again") as (ctx, first):
                assert first == "again from #2"


async def test_auto_shutdown_of_a_nested_supervisor() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            job = await sup.start_supervisor(
                "job", auto_shutdown="any_significant", restart="transient"
            )
            helper = await job.start_agent(Echo, name="helper")
            main = await job.start_agent(Echo, name="main", restart="transient", significant=True)
            events = sup.events()
            with pytest.raises(agentree.AgentCrashed):
                await main.call(Echo.exit_with, 0)
            # The significant child ended cleanly: the job stops its other children and
            # ends; it is transient, so its supervisor lets it go.
            stopped = await next_of(events, ChildStopped, "app/job")
            assert isinstance(stopped, ChildStopped)
            assert stopped.reason == "exited"
            with pytest.raises(agentree.AgentUnavailable):
                await helper.call(Echo.echo, 1)
            assert [c.phase for c in sup.which_children()] == ["stopped"]


async def test_terminate_and_restart_a_nested_supervisor() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            team = await sup.start_supervisor("team")
            worker = await team.start_agent(Echo, name="worker")
            team_events = team.events()
            await sup.terminate_child("team")
            with pytest.raises(agentree.AgentUnavailable):
                await worker.call(Echo.echo, 1)
            await sup.restart_child("team")
            assert (await worker.call(Echo.whoami))[1] == 2
            stopped = await next_of(team_events, ChildStopped, "app/team/worker")
            assert isinstance(stopped, ChildStopped)
            assert stopped.reason == "shutdown"
        # The nested supervisor's own stream ends with the top one.
        assert [e async for e in team_events]


async def test_ping_reaches_the_running_incarnation(tmp_path: Path) -> None:
    release = tmp_path / "release"
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            ref = await sup.start_agent(Echo, name="a")
            assert await ref.ping() >= 0
            events = sup.events()
            kill(ref)
            await next_of(events, ChildStarted, "app/a")
            # Not the dead first incarnation: the ref resolves the running one.
            assert await ref.ping(timeout=10) >= 0
            async with trio.open_nursery() as tn:
                tn.start_soon(ref.call, Echo.hang_loop_until, str(release), 20.0)
                # While this round trip waits, the hang_loop call goes out; the agent
                # serves calls in order, so its loop is blocked once echo returns.
                await ref.call(Echo.echo, 0)
                with pytest.raises(agentree.ActorTooSlowError):
                    await ref.ping(timeout=0.2)
                release.touch()
