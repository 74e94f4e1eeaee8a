"""Calling functions in a long-lived (daemon) actor."""

from __future__ import annotations

import os

import pytest
import trio

import agentree

from . import _checks, _funcs

START_METHODS = ["forkserver", "subprocess"]


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_rpc_to_daemon(start_method: str) -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            pid = await portal.run(_funcs.getpid)
            assert pid != os.getpid()
            for i in range(5):
                assert await portal.run(_funcs.add, x=i, y=10) == i + 10
            assert await portal.run(_funcs.add_sync, x=3, y=4) == 7
            assert await portal.run(_funcs.echo, value=[1, "two", {"3": 4.0}]) == [
                1,
                "two",
                {"3": 4.0},
            ]
            # Every call is served by the same process.
            assert await portal.run(_funcs.getpid) == pid
            assert await portal.run_from_ns(_funcs.MODULE, "add", x=1, y=1) == 2
            assert await portal.cancel_actor() is True


async def test_concurrent_calls_to_one_daemon() -> None:
    count = 8
    results: dict[int, int] = {}

    async def call(portal: agentree.Portal, index: int) -> None:
        results[index] = await portal.run(_funcs.rendezvous, count=count, index=index)

    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            async with trio.open_nursery() as tn:
                for index in range(count):
                    tn.start_soon(call, portal, index)
    assert results == {index: index for index in range(count)}


async def test_calls_to_several_daemons() -> None:
    results: dict[str, int] = {}

    async def call(portal: agentree.Portal, name: str) -> None:
        results[name] = await portal.run(_funcs.getpid)

    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portals = {
                name: await an.start_actor(name, enable_modules=[_funcs.MODULE])
                for name in ("a", "b", "c")
            }
            async with trio.open_nursery() as tn:
                for name, portal in portals.items():
                    tn.start_soon(call, portal, name)
    assert len(set(results.values())) == 3
    assert os.getpid() not in results.values()


async def test_cancel_actor_ends_the_daemon() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            sibling = await an.start_actor("sibling", enable_modules=[_funcs.MODULE])
            procs = _checks.processes([await portal.run(_funcs.getpid)])
            assert await portal.cancel_actor() is True
            # The actor goes away: its channel closes, further calls fail at once and a
            # second cancel answers False.
            await portal.channel.closed.wait()
            with pytest.raises(agentree.TransportClosed):
                await portal.run(_funcs.getpid)
            assert await portal.cancel_actor() is False
            assert await sibling.run(_funcs.add, x=1, y=2) == 3
    assert not _checks.alive(procs)


async def test_cancelling_the_caller_cancels_the_remote_call() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            async with trio.open_nursery() as tn:

                async def call_then_cancel() -> None:
                    await portal.run(_funcs.wait_blocked)
                    tn.cancel_scope.cancel()

                tn.start_soon(call_then_cancel)
                await portal.run(_funcs.block_until_cancelled)
            assert tn.cancel_scope.cancelled_caught
            assert await portal.run(_funcs.wait_call_cancelled) is True
            assert await portal.run(_funcs.add, x=1, y=2) == 3


async def test_large_and_many_concurrent_payloads() -> None:
    blob = bytes(range(256)) * (8 * 1024 * 4)  # 8 MiB
    results: dict[int, bool] = {}

    async def echo(portal: agentree.Portal, index: int) -> None:
        value = bytes([index]) * (64 * 1024 + index)
        results[index] = await portal.run(_funcs.echo, value=value) == value

    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            assert await portal.run(_funcs.echo, value=blob) == blob
            async with trio.open_nursery() as tn:
                for index in range(100):
                    tn.start_soon(echo, portal, index)
    assert results == dict.fromkeys(range(100), True)


async def test_calls_do_not_share_context_variables() -> None:
    # Each served call gets its own copy of the context, as a task of its own would:
    # what one call sets is not seen by the next, whether or not it waited.
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            for fn in (_funcs.set_call_var, _funcs.set_call_var_sync) * 2:
                assert await portal.run(fn, value="leaked") == "unset"
            async with trio.open_nursery() as tn:
                results: list[str] = []

                async def wait_for_release() -> None:
                    results.append(await portal.run(_funcs.set_call_var_and_wait, value="mine"))

                tn.start_soon(wait_for_release)
                # The waiting call keeps its own value; calls served meanwhile do not
                # see it.
                assert await portal.run(_funcs.set_call_var, value="other") == "unset"
                await portal.run(_funcs.release)
            assert results == ["mine"]
            assert await portal.run(_funcs.set_call_var, value="x") == "unset"


async def test_sync_function_returning_an_awaitable() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            assert await portal.run(_funcs.awaitable_add, x=2, y=3) == 5
            assert await portal.run(_funcs.add, x=1, y=1) == 2
