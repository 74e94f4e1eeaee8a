"""Finding agents by path from any actor: siblings call each other directly."""

from __future__ import annotations

import os
import signal
import time

import pytest
import trio

import agentree

from ._agents import Basic, Crashy, Team

TIMEOUT = 30


async def test_find_and_wait_for_agents_by_path() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            assert await agentree.find_agent("nobody") is None
            started = await an.start_agent(Basic, 5, name="solo")
            found = await agentree.find_agent("solo", Basic)
            assert found is not None
            assert (found.path, found.pid, found.incarnation) == ("solo", started.pid, 1)
            assert await found.call(Basic.add, 1) == 6
            # Untyped: the class is imported by name from the registry's entry.
            untyped = await agentree.wait_for_agent("solo")
            assert await untyped.call(Basic.add, 2) == 7
            await an.cancel()


async def test_wait_for_agent_waits_until_it_starts() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an, trio.open_nursery() as tn:
            got: list[int] = []

            async def waiter() -> None:
                ref = await agentree.wait_for_agent("late", Basic)
                got.append(await ref.call(Basic.add, 1))

            tn.start_soon(waiter)
            await an.start_agent(Basic, 10, name="late")
        assert got == [11]


async def test_a_sibling_and_a_nested_agent_find_each_other() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            await an.start_agent(Basic, 40, name="sibling")
            team = await an.start_agent(Team, name="team")
            # team's actor calls its sibling over a direct connection.
            assert await team.call(Team.find, "sibling") == 41
            assert await team.call(Team.peer_of, "sibling") == "sibling"
            # ... and the root finds team's nested agent by its path.
            reader = await agentree.wait_for_agent("team/reader", Basic)
            assert await reader.call(Basic.add, 1) == 101
            assert await team.call(Team.find, "team/reader") == 101
            assert await team.call(Team.find, "nobody") is None
            await an.cancel()


async def test_calls_through_a_found_ref_fail_at_once_when_the_agent_dies() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            started = await an.start_agent(Crashy, name="mortal")
            found = await agentree.wait_for_agent("mortal", Crashy)
            assert found.pid == started.pid
            errors: list[BaseException] = []

            async def one() -> None:
                try:
                    await found.call(Crashy.hang, 3)
                except agentree.AgentreeError as exc:
                    errors.append(exc)

            async with trio.open_nursery() as tn:
                for _ in range(3):
                    tn.start_soon(one)
                await found.call(Crashy.wait_inflight)
                t0 = time.monotonic()
                os.kill(found.pid, signal.SIGKILL)
            assert time.monotonic() - t0 < 1.0
            assert len(errors) == 3
            for exc in errors:
                assert isinstance(exc, agentree.AgentCrashed), repr(exc)
                assert exc.path == "mortal"
            with pytest.raises(agentree.AgentCrashed):
                await found.call(Crashy.pull_trigger)
