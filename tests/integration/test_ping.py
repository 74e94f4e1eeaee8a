"""portal.ping(): answered by every actor's runtime, whatever its user code is doing."""

from __future__ import annotations

import os
import signal
from functools import partial
from pathlib import Path

import pytest
import trio
import trio.testing

import agentree

from . import _exit_funcs as funcs

MODULE = funcs.MODULE


@pytest.mark.parametrize("infect_asyncio", [False, True], ids=["trio", "asyncio"])
async def test_ping_answers(infect_asyncio: bool) -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            # No enable_modules: the ping is a runtime endpoint, served regardless.
            portal = await an.start_actor("bare", infect_asyncio=infect_asyncio)
            rtt = await portal.ping()
            assert 0 < rtt < 5
            assert 0 < await portal.ping(timeout=5) < 5


async def test_ping_from_a_child_to_its_parent() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("child", enable_modules=[MODULE])
            assert 0 < await portal.run(funcs.ping_parent) < 5


@pytest.mark.parametrize("infect_asyncio", [False, True], ids=["trio", "asyncio"])
async def test_ping_answers_with_50_calls_in_flight(infect_asyncio: bool) -> None:
    """The pings are answered while 50 calls are in flight, and the calls stay blocked.

    The calls never return, so a ping that waited behind them (or for a free slot)
    would never be answered: that the pings come back at all is the property. How
    fast they come back is the benchmarks' business (``bench/``): a wall-clock bound
    here would only measure the machine's load.
    """
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor(
                "busy", enable_modules=[MODULE], infect_asyncio=infect_asyncio
            )
            async with trio.open_nursery() as tn:
                for _ in range(50):
                    tn.start_soon(portal.run, funcs.hold)
                await portal.run(funcs.wait_holders, count=50)
                rtts = [await portal.ping() for _ in range(20)]
                # The 50 calls are still blocked (none returned): the pings went past them.
                assert await portal.run(funcs.wait_holders, count=50) > 0
                assert len(tn.child_tasks) == 50
                tn.cancel_scope.cancel()
            assert all(rtt > 0 for rtt in rtts)
            print(f"ping with 50 calls in flight: max {max(rtts) * 1000:.2f} ms")


async def test_ping_answers_while_a_user_function_streams() -> None:
    """An async user function that keeps its actor's loop busy (a stream sent as fast
    as the consumer takes it) does not hold the ping up."""
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("streamer", enable_modules=[MODULE])
            async with (
                portal.open_context(funcs.flood) as (ctx, _),
                ctx.open_stream() as stream,
            ):
                received = 0
                flowing = trio.Event()

                async def consume() -> None:
                    nonlocal received
                    async for _ in stream:
                        received += 1
                        if received == 100:
                            flowing.set()

                async with trio.open_nursery() as tn:
                    tn.start_soon(consume)
                    await flowing.wait()
                    before = received
                    rtts = [await portal.ping(timeout=5) for _ in range(20)]
                    # The stream kept flowing while the pings were answered.
                    assert received > before
                    tn.cancel_scope.cancel()
                await ctx.cancel()
            print(f"ping while streaming: max {max(rtts) * 1000:.2f} ms")
            assert all(rtt > 0 for rtt in rtts)


async def test_ping_times_out_on_a_stopped_actor() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("frozen", enable_modules=[MODULE])
            pid = await portal.run(funcs.getpid)
            os.kill(pid, signal.SIGSTOP)
            try:
                start = trio.current_time()
                with pytest.raises(agentree.ActorTooSlowError, match="frozen"):
                    await portal.ping(timeout=0.3)
                assert trio.current_time() - start < 3
            finally:
                os.kill(pid, signal.SIGCONT)
            # Thawed, it answers again.
            assert await portal.ping(timeout=5) < 5


async def test_ping_times_out_on_a_blocked_loop(tmp_path: Path) -> None:
    release = tmp_path / "release"
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("hog", enable_modules=[MODULE])
            async with trio.open_nursery() as tn:
                # Its loop is blocked until the file exists (20 s at the most).
                tn.start_soon(partial(portal.run, funcs.spin_until, path=str(release), seconds=20))
                # Its request is out (ahead of the ping's on the channel).
                await trio.testing.wait_all_tasks_blocked()
                with pytest.raises(agentree.ActorTooSlowError):
                    await portal.ping(timeout=0.3)
                release.touch()
            assert await portal.ping(timeout=5) < 5


async def test_ping_of_a_dead_child_is_actor_died() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(report_exits=True) as an:
            portal = await an.start_actor("gone", enable_modules=[MODULE])
            pid = await portal.run(funcs.getpid)
            os.kill(pid, signal.SIGKILL)
            await portal.wait_for_exit()
            with pytest.raises(agentree.ActorDied, match="SIGKILL"):
                await portal.ping(timeout=5)
