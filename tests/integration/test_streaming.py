"""Streams against real processes: one-way, broadcast, backpressure, overruns, peer
death and typed payloads."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest
import trio
import trio.testing

import agentree
from agentree._streaming import DEFAULT_MSG_BUFFER_SIZE

from . import _ctx_funcs as funcs

MODULE = funcs.MODULE


async def test_open_stream_from_yields_every_item_in_order() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("gen", enable_modules=[MODULE])
            async with portal.open_stream_from(funcs.count_to, n=500) as stream:
                assert [item async for item in stream] == list(range(500))
            assert await portal.run(funcs.report, key="gen") == "exhausted"


async def test_leaving_open_stream_from_early_stops_the_generator() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("gen", enable_modules=[MODULE])
            async with portal.open_stream_from(funcs.count_to, n=10**9, key="early") as stream:
                async for item in stream:
                    if item == 20:
                        break
            with trio.fail_after(1):
                assert await portal.run(funcs.report, key="early") in {
                    "Cancelled",
                    "GeneratorExit",
                }


async def _collect_from(portal: agentree.Portal, received: list[int]) -> None:
    async with portal.open_stream_from(funcs.gen_fail_at, n=5) as stream:
        async for item in stream:
            received.append(item)


async def test_open_stream_from_error_is_boxed() -> None:
    received = []
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("gen", enable_modules=[MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await _collect_from(portal, received)
    assert received == list(range(5))
    assert info.value.boxed_type is ValueError
    assert "gen_fail_at" in info.value.tb_str


async def test_open_stream_from_needs_an_async_generator() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("gen", enable_modules=[MODULE])
            with pytest.raises(TypeError, match="not an async generator"):
                async with portal.open_stream_from(funcs.getpid):
                    pytest.fail("the block must not run")


async def test_subscribe_fans_every_item_out_to_several_local_tasks() -> None:
    n = 300
    got: dict[int, list[object]] = {}

    go = trio.Event()

    async def consume(stream: agentree.MsgStream, index: int, ready: trio.Event) -> None:
        async with stream.subscribe() as sub:
            ready.set()
            await go.wait()
            got[index] = [item async for item in sub]

    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("source", enable_modules=[MODULE])
            async with (
                portal.open_context(funcs.broadcast_source, n=n) as (ctx, _),
                ctx.open_stream() as stream,
                trio.open_nursery() as tn,
            ):
                for index in range(4):
                    ready = trio.Event()
                    tn.start_soon(consume, stream, index, ready)
                    await ready.wait()
                go.set()
                with pytest.raises(agentree.AgentreeError, match="broadcast"):
                    await stream.receive()
    expected = [{"seq": i} for i in range(n)]
    assert got == {index: expected for index in range(4)}
    # One decoded object per item, shared by every subscriber: no work per subscriber.
    assert all(got[0][i] is got[3][i] for i in range(n))


async def test_a_slow_receiver_slows_the_sender_down() -> None:
    """The sender never runs ahead of the receiver by more than the receive window."""
    window = 8
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("fast", enable_modules=[MODULE])
            async with portal.open_context(funcs.count_sends, total=200) as (ctx, _):
                async with ctx.open_stream(msg_buffer_size=window) as stream:
                    received = 0
                    async for item in stream:
                        assert item == received
                        received += 1
                        if received % 20 == 0:
                            sent = await portal.run(funcs.sent_so_far)
                            # The count goes up once a send returns: the item of a
                            # send that has not returned yet may have arrived already.
                            assert received - 1 <= sent <= received + window
                assert received == 200
            assert await ctx.wait_for_result() == 200


async def test_overrun_without_allow_overruns_is_a_clear_error() -> None:
    window = 16
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("overrunner", enable_modules=[MODULE])
            async with portal.open_context(funcs.send_until_overrun) as (ctx, _):
                async with ctx.open_stream(msg_buffer_size=window) as stream:
                    await stream.send("hello")
                    message = await portal.run(funcs.report, key="overrun")
                    # Nothing was dropped: every item sent before the overrun arrives.
                    received = [await stream.receive() for _ in range(window)]
                assert await ctx.wait_for_result() == window
    assert received == list(range(window))
    assert "receive window" in message
    assert "allow_overruns=False" in message


def test_default_buffer_size_is_documented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"`msg_buffer_size` (default {DEFAULT_MSG_BUFFER_SIZE})" in readme


async def test_100k_messages_to_a_slow_consumer_keep_memory_bounded() -> None:
    """100,000 1 KiB items (100 MiB in all) to a consumer that pauses every 500
    items: its memory stays flat, and every item arrives, in order."""
    total = 100_000
    payload = b"x" * 1024
    peak_rss = 0
    with trio.fail_after(60):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("consumer", enable_modules=[MODULE])
            async with portal.open_context(funcs.slow_consumer, every=500) as (ctx, pid):
                proc = psutil.Process(pid)
                base_rss = proc.memory_info().rss
                async with ctx.open_stream() as stream:
                    for i in range(total):
                        await stream.send((i, payload))
                        if i % 2000 == 0:
                            peak_rss = max(peak_rss, proc.memory_info().rss)
            result = await ctx.wait_for_result()
    assert result["count"] == total
    assert result["in_order"] is True
    limit = 20 * 1024 * 1024
    assert peak_rss - base_rss < limit, f"consumer RSS grew by {peak_rss - base_rss} bytes"
    assert result["peak_growth"] < limit, f"consumer peak RSS grew by {result['peak_growth']}"


async def _kill_mid_stream(portal: agentree.Portal, killed: list[float]) -> None:
    async with (
        portal.open_context(funcs.stream_forever) as (ctx, pid),
        ctx.open_stream() as stream,
    ):
        async for item in stream:
            if item == 50:
                os.kill(pid, signal.SIGKILL)
                killed.append(trio.current_time())


async def test_a_peer_killed_mid_stream_is_transport_closed_promptly() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("doomed", enable_modules=[MODULE])
            killed: list[float] = []
            with pytest.raises(agentree.TransportClosed) as info:
                await _kill_mid_stream(portal, killed)
            assert trio.current_time() - killed[0] < 1.0
            assert "doomed" in str(info.value)


async def _send_until_broken(portal: agentree.Portal, killed: list[float]) -> None:
    async with (
        portal.open_context(funcs.sleep_and_record, key="never") as (ctx, pid),
        ctx.open_stream() as stream,
    ):

        async def kill_once_blocked() -> None:
            await trio.testing.wait_all_tasks_blocked()
            os.kill(pid, signal.SIGKILL)
            killed.append(trio.current_time())

        # The child never opens its stream: the send waits for credit.
        try:
            async with trio.open_nursery() as tn:
                tn.start_soon(kill_once_blocked)
                await stream.send("stuck")
        except* agentree.TransportClosed as group:
            raise group.exceptions[0] from None


async def test_a_peer_killed_while_we_wait_to_send_is_transport_closed() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("doomed", enable_modules=[MODULE])
            killed: list[float] = []
            with pytest.raises(agentree.TransportClosed) as info:
                await _send_until_broken(portal, killed)
            assert trio.current_time() - killed[0] < 1.0
            assert "doomed" in str(info.value)


async def test_typed_payloads_round_trip() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("typed", enable_modules=[MODULE])
            async with portal.open_context(funcs.typed_echo) as (ctx, first):
                assert first == funcs.Point(0, 0)
                async with ctx.open_stream() as stream:
                    await stream.send(funcs.Point(1, 2))
                    assert await stream.receive() == funcs.Point(2, 3)


async def _typed_exchange(portal: agentree.Portal, bad: str = "", send: object = None) -> None:
    async with (
        portal.open_context(funcs.typed_echo, bad=bad) as (ctx, _),
        ctx.open_stream() as stream,
    ):
        if send is not None:
            await stream.send(send)
        await stream.receive()


@pytest.mark.parametrize("where", ["started", "stream"])
async def test_a_payload_off_spec_is_a_msg_type_error_and_the_sender_learns(where: str) -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("typed", enable_modules=[MODULE])
            with pytest.raises(agentree.MsgTypeError) as info:
                await _typed_exchange(portal, bad=where)
            learnt = await portal.run(funcs.report, key="typed")
    field, expected = ("x", "int") if where == "started" else ("y", "int")
    message = str(info.value)
    assert f"$.{field}" in message
    assert f"Expected `{expected}`" in message
    assert "Point" in message
    assert learnt["boxed"] == "agentree.MsgTypeError"
    assert f"$.{field}" in learnt["msg"]


async def test_a_payload_off_spec_from_the_parent_fails_the_child() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("typed", enable_modules=[MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await _typed_exchange(portal, send={"x": 1, "y": "no"})
            learnt = await portal.run(funcs.report, key="typed")
    assert info.value.boxed_type is agentree.MsgTypeError
    assert "Expected `int`, got `str` - at `$.y`" in info.value.message
    assert learnt["local"] == "MsgTypeError"
