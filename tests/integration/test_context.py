"""Contexts against real processes: results, errors both ways, cancellation, concurrency."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
import trio

import agentree

from . import _ctx_funcs as funcs

MODULE = funcs.MODULE
# Seconds within which a cancellation must reach the other side and end its task.
PROMPT = 1.0


async def test_ping_pong_round_trips_then_a_clean_close() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("echo", enable_modules=[MODULE])
            async with portal.open_context(funcs.echo_server, greeting="hello") as (ctx, first):
                assert first == "hello"
                assert ctx.side == "parent"
                assert not ctx.cancel_called
                async with ctx.open_stream() as stream:
                    for i in range(10):
                        await stream.send({"ping": i})
                        assert await stream.receive() == {"ping": i}
            assert await ctx.wait_for_result() == 10


async def test_error_in_the_child_is_boxed_in_the_parent() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("failer", enable_modules=[MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                async with portal.open_context(funcs.fail_after_started, message="bad ctx") as (
                    ctx,
                    _,
                ):
                    await ctx.wait_for_result()
            err = info.value
            assert type(err) is agentree.RemoteActorError
            assert err.boxed_type is ValueError
            assert err.message == "bad ctx"
            assert "fail_after_started" in err.tb_str
            assert err.src_uid == portal.actor_uid
            # The daemon survives a failed dialog and serves the next one.
            async with portal.open_context(funcs.echo_server) as (_, first):
                assert first == "hi"


async def test_error_before_started_is_raised_by_open_context() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("failer", enable_modules=[MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                async with portal.open_context(funcs.fail_before_started, message="early"):
                    pytest.fail("the block must not run")
            assert info.value.boxed_type is KeyError
            assert "fail_before_started" in info.value.tb_str
            start = trio.current_time()
            with pytest.raises(agentree.AgentreeError, match="without calling"):
                async with portal.open_context(funcs.return_without_started):
                    pytest.fail("the block must not run")
            # The dialog is over: nothing waits for a final message that never comes.
            assert trio.current_time() - start < PROMPT / 2


async def test_not_a_context_function_is_refused() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[MODULE])
            with pytest.raises(TypeError, match="not a context function"):
                async with portal.open_context(funcs.getpid):
                    pytest.fail("the block must not run")


async def _send_then_fail(portal: agentree.Portal) -> None:
    async with (
        portal.open_context(funcs.receive_and_record, key="seen") as (ctx, _),
        ctx.open_stream() as stream,
    ):
        await stream.send(1)
        raise RuntimeError("parent gave up")


async def test_error_in_the_parent_is_boxed_in_the_child() -> None:
    """The parent's block fails mid-stream: the child's receive raises
    RemoteActorError carrying the parent's error, and the child's task ends."""
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("receiver", enable_modules=[MODULE])
            with pytest.raises(RuntimeError, match="parent gave up"):
                await _send_then_fail(portal)
            seen = await portal.run(funcs.report, key="seen")
            assert seen == {
                "type": "RemoteActorError",
                "boxed": "RuntimeError",
                "msg": "parent gave up",
            }


async def test_ctx_cancel_ends_the_block_quietly_and_the_child_sees_cancelled() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("sleeper", enable_modules=[MODULE])
            async with portal.open_context(funcs.sleep_and_record, key="end") as (ctx, pid):
                assert pid == await portal.run(funcs.getpid)
                await ctx.cancel()
                assert ctx.cancel_called
                # Waiting on a dialog we cancelled: ContextCancelled, absorbed by
                # the block because this side asked for it.
                await ctx.wait_for_result()
                pytest.fail("wait_for_result() must raise")
            assert await portal.run(funcs.report, key="end") == "cancelled"
            with pytest.raises(agentree.ContextCancelled) as info:
                await ctx.wait_for_result()
            assert info.value.canceller == agentree.current_actor().uid


async def test_ctx_cancel_from_the_child_names_the_child() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("selfcancel", enable_modules=[MODULE])
            with pytest.raises(agentree.ContextCancelled) as info:
                async with portal.open_context(funcs.cancel_self) as (ctx, _):
                    await ctx.wait_for_result()
            assert info.value.canceller == portal.actor_uid


async def test_cancel_from_a_third_actor_names_it() -> None:
    """root -> middle -> leaf; middle holds a context with leaf; the root cancels the
    leaf through middle. Middle's context ends with ContextCancelled naming the root:
    neither side of that dialog, the actor that started the cancellation."""
    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            middle = await an.start_actor("middle", enable_modules=[MODULE])
            root_uid = agentree.current_actor().uid
            async with middle.open_context(funcs.watch_leaf) as (ctx, leaf_uid):
                assert await middle.run(funcs.cancel_leaf) is True
                outcome = await ctx.wait_for_result()
    assert outcome == {"type": "ContextCancelled", "canceller": list(root_uid)}
    assert tuple(leaf_uid) != root_uid


async def test_cancelling_the_parent_scope_mid_stream_cancels_the_child_promptly() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("streamer", enable_modules=[MODULE])
            with trio.CancelScope() as scope:
                async with (
                    portal.open_context(funcs.stream_and_record, key="end") as (ctx, _),
                    ctx.open_stream() as stream,
                ):
                    async for i in stream:
                        if i == 100:
                            start = trio.current_time()
                            scope.cancel()
            assert scope.cancelled_caught
            with trio.fail_after(PROMPT):
                assert await portal.run(funcs.report, key="end") == "cancelled"
            assert trio.current_time() - start < PROMPT


async def test_child_returns_while_the_parent_streams() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("sender", enable_modules=[MODULE])
            async with portal.open_context(funcs.send_then_return, count=50) as (ctx, _):
                async with ctx.open_stream() as stream:
                    received = [item async for item in stream]
                assert received == list(range(50))
                assert await ctx.wait_for_result() == "all sent"


async def _ping_pong(portal: agentree.Portal, index: int, rounds: int) -> int:
    async with portal.open_context(funcs.echo_server, greeting=f"g{index}") as (ctx, first):
        assert first == f"g{index}"
        async with ctx.open_stream() as stream:
            for i in range(rounds):
                await stream.send([index, i])
                assert await stream.receive() == [index, i]
    result: int = await ctx.wait_for_result()
    return result


async def test_many_concurrent_contexts_over_one_channel_and_several_actors() -> None:
    results: dict[tuple[int, int], int] = {}

    async def one(portal: agentree.Portal, actor: int, index: int) -> None:
        results[actor, index] = await _ping_pong(portal, actor * 100 + index, rounds=20)

    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            portals = [await an.start_actor(f"echo{i}", enable_modules=[MODULE]) for i in range(3)]
            async with trio.open_nursery() as tn:
                for actor, portal in enumerate(portals):
                    for index in range(10):
                        tn.start_soon(one, portal, actor, index)
    assert results == {(actor, index): 20 for actor in range(3) for index in range(10)}


async def _sleep_in_context(
    portal: agentree.Portal, fn: Callable[..., Any], **kwargs: Any
) -> None:
    async with portal.open_context(fn, **kwargs):
        await trio.sleep_forever()


async def _cancel_actor_while_sleeping(portal: agentree.Portal) -> None:
    async with (
        portal.open_context(funcs.sleep_and_record, key="k"),
        trio.open_nursery() as tn,
    ):
        tn.start_soon(portal.cancel_actor)
        await trio.sleep_forever()


async def _kill_actor_while_sleeping(portal: agentree.Portal) -> None:
    async with portal.open_context(funcs.sleep_and_record, key="k") as (_, pid):
        os.kill(pid, signal.SIGKILL)
        await trio.sleep_forever()


async def test_child_error_interrupts_a_block_that_waits_elsewhere() -> None:
    """The opener's block does not touch the dialog: the child's error still ends it."""
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("failer", enable_modules=[MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await _sleep_in_context(portal, funcs.fail_after_started, message="elsewhere")
            assert info.value.boxed_type is ValueError
            assert info.value.message == "elsewhere"


async def test_actor_cancel_interrupts_a_block_that_waits_elsewhere() -> None:
    """``cancel_actor()`` while the block sleeps: the block ends with ContextCancelled
    naming this actor, instead of sleeping on."""
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("sleeper", enable_modules=[MODULE])
            with pytest.raises(agentree.ContextCancelled) as info:
                await _cancel_actor_while_sleeping(portal)
            assert info.value.canceller == agentree.current_actor().uid


async def test_peer_death_interrupts_a_block_that_waits_elsewhere() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("doomed", enable_modules=[MODULE])
            with pytest.raises(agentree.TransportClosed):
                await _kill_actor_while_sleeping(portal)
