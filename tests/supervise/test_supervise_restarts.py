"""Intensity and escalation, backoff, and calls across a crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
from trio.testing import wait_all_tasks_blocked

import agentree
from agentree.supervise import ChildCrashed, ChildRestarting, ChildStarted, GaveUp

from ._agents import Echo
from .test_supervise_basics import FAST, kill, next_of

TIMEOUT = 60


def lines(path: str) -> list[str]:
    with open(path) as f:
        return f.read().splitlines()


async def test_intensity_exceeded_gives_up_and_stops_everything() -> None:
    pids: list[int] = []
    with trio.fail_after(TIMEOUT):

        async def body() -> None:
            async with agentree.open_supervisor(
                "app", intensity=1, period=30, backoff=FAST
            ) as sup:
                a = await sup.start_agent(Echo, name="a")
                b = await sup.start_agent(Echo, name="b")
                events = sup.events()
                pids.extend([a.pid, b.pid])  # type: ignore[list-item]
                kill(b)
                await next_of(events, ChildStarted, "app/b")
                pids.append(b.pid)  # type: ignore[arg-type]
                kill(b)
                await trio.sleep_forever()

        with pytest.raises(agentree.SupervisorGaveUp) as info:
            await body()
    group = info.value
    assert isinstance(group, ExceptionGroup)
    assert len(group.exceptions) == 2
    assert all(isinstance(e, agentree.AgentCrashed) for e in group.exceptions)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_escalation_through_two_nested_supervisors() -> None:
    refs: list[agentree.SupervisedRef[Echo]] = []
    with trio.fail_after(TIMEOUT):

        async def body() -> None:
            async with agentree.open_supervisor(
                "app", intensity=1, period=30, backoff=FAST
            ) as sup:
                sibling = await sup.start_agent(Echo, name="sibling")
                refs.append(sibling)
                team = await sup.start_supervisor("team", intensity=0, period=30)
                worker = await team.start_agent(Echo, name="worker")
                events = sup.events()
                assert worker.path == "app/team/worker"
                # The inner supervisor allows no restart: it gives up, and the outer
                # one restarts it (its worker starts again, incarnation 2).
                kill(worker)
                gave_up = await next_of(events, GaveUp)
                assert isinstance(gave_up, GaveUp)
                assert gave_up.supervisor == "app/team"
                crashed = await next_of(events, ChildCrashed, "app/team")
                assert isinstance(crashed, ChildCrashed)
                assert crashed.kind == "gave_up"
                await next_of(events, ChildStarted, "app/team/worker")
                assert (await worker.call(Echo.whoami))[1] == 2
                assert await sibling.call(Echo.echo, 1) == 1
                # Again: the outer supervisor's intensity (1) is used up too.
                kill(worker)
                await trio.sleep_forever()

        with pytest.raises(agentree.SupervisorGaveUp) as info:
            await body()
    assert info.value.exceptions
    assert isinstance(info.value.exceptions[-1], agentree.SupervisorGaveUp)
    with pytest.raises(agentree.AgentUnavailable):
        await refs[0].call(Echo.echo, 1)


async def test_backoff_within_bounds_and_not_blocking_siblings() -> None:
    backoff = agentree.Backoff(min=0.5, max=0.5, jitter=0.2)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=backoff) as sup:
            slow = await sup.start_agent(Echo, name="slow")
            other = await sup.start_agent(Echo, name="other")
            events = sup.events()
            kill(slow)
            crashed = await next_of(events, ChildCrashed, "app/slow")
            restarting = await next_of(events, ChildRestarting, "app/slow")
            assert isinstance(restarting, ChildRestarting)
            assert 0.4 <= restarting.delay <= 0.6
            # The sibling answers while the crashed one backs off.
            for i in range(5):
                assert await other.call(Echo.echo, i) == i
            assert [c.phase for c in sup.which_children()] == ["backoff", "running"]
            started = await next_of(events, ChildStarted, "app/slow")
            assert started.time - crashed.time >= restarting.delay  # type: ignore[union-attr]


async def test_backoff_doubles_for_consecutive_restarts() -> None:
    backoff = agentree.Backoff(min=0.05, max=0.15, jitter=0, reset_after=30)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", intensity=10, backoff=backoff) as sup:
            ref = await sup.start_agent(Echo, name="a")
            events = sup.events()
            delays = []
            for _ in range(3):
                kill(ref)
                restarting = await next_of(events, ChildRestarting)
                delays.append(restarting.delay)  # type: ignore[union-attr]
                await next_of(events, ChildStarted)
            assert delays == [0.05, 0.1, 0.15]


async def test_sigkill_mid_call_then_queued_calls_reach_the_next_incarnation_in_order(
    tmp_path: Path,
) -> None:
    log = str(tmp_path / "log")
    backoff = agentree.Backoff(min=0.3, max=0.3, jitter=0)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=backoff) as sup:
            ref = await sup.start_agent(Echo, name="a")
            events = sup.events()
            results: list[object] = []

            async def in_flight() -> None:
                try:
                    await ref.call(Echo.nap, 30)
                except agentree.AgentCrashed as exc:
                    results.append(exc)

            async with trio.open_nursery() as tn:
                tn.start_soon(in_flight)
                await ref.call(Echo.wait_running, 1)
                kill(ref)
            [crash] = results
            assert isinstance(crash, agentree.AgentCrashed)
            assert crash.incarnation == 1
            assert crash.path == "app/a"
            assert isinstance(crash.cause, agentree.ChildExit)
            await next_of(events, ChildRestarting)
            # Calls made during the backoff wait, then arrive in order.
            order: list[str] = []

            async def queued(i: int) -> None:
                order.append(await ref.call(Echo.record, log, str(i)))

            async with trio.open_nursery() as tn:
                for i in range(20):
                    tn.start_soon(queued, i)
                    # Each call queues before the next starts.
                    await wait_all_tasks_blocked()
                    assert sup.which_children()[0].calls_queued == i + 1
            assert lines(log) == [str(i) for i in range(20)]
            assert (await ref.call(Echo.whoami))[1] == 2


async def test_idempotent_method_is_resent_exactly_once(tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            ref = await sup.start_agent(Echo, name="a")
            results: list[int] = []
            async with trio.open_nursery() as tn:

                async def call() -> None:
                    results.append(await ref.call(Echo.nap_idempotent, log, 0.5))

                tn.start_soon(call)
                await ref.call(Echo.wait_running, 1)
                kill(ref)
            assert results == [2]
            assert lines(log) == ["run 1", "run 2"]
            # Crashed again during the retry: the second failure is final.
            os.unlink(log)
            errors: list[agentree.AgentCrashed] = []

            events = sup.events()

            async def killer() -> None:
                for _ in (2, 3):
                    # Waits for the incarnation that runs the call (or its retry).
                    await ref.call(Echo.wait_running, 1)
                    kill(ref)
                    await next_of(events, ChildStarted)

            async with trio.open_nursery() as tn:
                tn.start_soon(killer)
                try:
                    await ref.call(Echo.nap_idempotent, log, 30)
                except agentree.AgentCrashed as exc:
                    errors.append(exc)
            [error] = errors
            assert error.incarnation == 3
            assert lines(log) == ["run 2", "run 3"]


async def test_fail_fast_and_max_pending() -> None:
    backoff = agentree.Backoff(min=1, max=1, jitter=0)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=backoff) as sup:
            ref = await sup.start_agent(Echo, name="a", max_pending=2)
            events = sup.events()
            kill(ref)
            await next_of(events, ChildRestarting)
            with pytest.raises(agentree.AgentRestarting):
                await ref.with_options(fail_fast=True).call(Echo.echo, 1)
            got: list[int] = []
            async with trio.open_nursery() as tn:

                async def one(i: int) -> None:
                    got.append(await ref.call(Echo.echo, i))

                tn.start_soon(one, 1)
                tn.start_soon(one, 2)
                await wait_all_tasks_blocked()
                assert sup.which_children()[0].calls_queued == 2
                with pytest.raises(agentree.AgentBusy):
                    await ref.call(Echo.echo, 3)
            assert sorted(got) == [1, 2]


async def test_waiting_call_follows_the_callers_cancel_scope() -> None:
    backoff = agentree.Backoff(min=5, max=5, jitter=0)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=backoff) as sup:
            ref = await sup.start_agent(Echo, name="a")
            events = sup.events()
            kill(ref)
            await next_of(events, ChildRestarting)
            with trio.move_on_after(0.2) as scope:
                await ref.call(Echo.echo, 1)
            assert scope.cancelled_caught
            assert sup.which_children()[0].calls_queued == 0
