"""Agent crashes: calls in flight fail at once with AgentCrashed, never by a timeout."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
import trio

import agentree

from ._agents import Basic, CrashesWhileStarting, Crashy

TIMEOUT = 30


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _calls_in_flight(
    ref: agentree.AgentRef[Crashy], n: int, errors: list[BaseException], tn: trio.Nursery
) -> None:
    async def one() -> None:
        try:
            await ref.call(Crashy.hang, n)
        except BaseException as exc:
            errors.append(exc)
            if not isinstance(exc, agentree.AgentreeError):
                raise

    for _ in range(n):
        tn.start_soon(one)
    await ref.call(Crashy.wait_inflight)


async def test_sigkill_fails_every_call_in_flight_at_once() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Crashy, name="victim")
            errors: list[BaseException] = []
            async with trio.open_nursery() as tn:
                await _calls_in_flight(ref, 10, errors, tn)
                t0 = time.monotonic()
                os.kill(ref.pid, signal.SIGKILL)
            assert time.monotonic() - t0 < 1.0
            assert len(errors) == 10
            for exc in errors:
                assert isinstance(exc, agentree.AgentCrashed), repr(exc)
                assert exc.path == "victim"
                assert exc.incarnation == 1
                assert isinstance(exc.cause, agentree.ChildExit), repr(exc.cause)
                assert exc.cause.signal_name == "SIGKILL"
                assert exc.cause.pid == ref.pid
            # Later calls fail the same way, at once.
            with pytest.raises(agentree.AgentCrashed):
                await ref.call(Crashy.pull_trigger)


async def test_a_failing_background_task_crashes_the_agent() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Crashy, name="bg")
            errors: list[BaseException] = []
            async with trio.open_nursery() as tn:
                await _calls_in_flight(ref, 3, errors, tn)
                await ref.call(Crashy.pull_trigger)
            assert len(errors) == 3
            for exc in errors:
                assert isinstance(exc, agentree.AgentCrashed), repr(exc)
                assert isinstance(exc.cause, agentree.ChildExit), repr(exc.cause)
                assert (exc.cause.reason, exc.cause.returncode) == ("exited", 1)


async def test_crash_on_error_answers_the_caller_then_crashes() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Crashy, name="fatal")
            other = await an.start_agent(Basic, 1, name="bystander")
            errors: list[BaseException] = []
            async with trio.open_nursery() as tn:
                await _calls_in_flight(ref, 2, errors, tn)
                with pytest.raises(agentree.RemoteActorError) as info:
                    await ref.call(Crashy.fatal)
                assert info.value.boxed_type is ValueError
            assert len(errors) == 2
            for exc in errors:
                assert isinstance(exc, agentree.AgentCrashed), repr(exc)
                assert isinstance(exc.cause, agentree.ChildExit), repr(exc.cause)
                assert (exc.cause.reason, exc.cause.returncode) == ("exited", 1)
            assert not _alive(ref.pid)
            # Its siblings live on.
            assert await other.call(Basic.add, 1) == 2
            await an.cancel()


async def test_a_plain_method_error_is_not_a_crash() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Basic, 1, name="survivor")
            with pytest.raises(agentree.RemoteActorError):
                await ref.call(Basic.fail, "x")
            assert _alive(ref.pid)
            assert await ref.call(Basic.add, 1) == 2
            await an.cancel()


async def test_a_crash_during_on_start_fails_start_agent() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            with pytest.raises(agentree.AgentCrashed) as info:
                await an.start_agent(CrashesWhileStarting, name="starter")
            assert info.value.path == "starter"
            assert info.value.incarnation == 1
