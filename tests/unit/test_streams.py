"""Contexts and streams in one process: two actors' connections over a memory stream.

The served side runs a real actor runtime (its service nursery serves the calls);
the opener is a bare actor with a portal on its connection. No process is spawned,
so these exercise the dialog logic itself: flow control, overruns, stop, broadcast.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

import agentree
from agentree._ipc import Channel
from agentree._portal import Portal
from agentree._runtime import Actor, Conn, Dialog, actor_runtime
from agentree._streaming import DEFAULT_MSG_BUFFER_SIZE
from agentree.msg import Yield, decode_payload, encode

TIMEOUT = 5
_SEEN: dict[str, Any] = {}


@asynccontextmanager
async def served_portal(*, over_socket: bool = False) -> AsyncIterator[Portal]:
    """A portal to an in-process actor that serves this module's functions.

    Args:
        over_socket: connect the two over a socket pair (whose writes complete at
            once), not over memory streams (whose writes always wait).
    """
    if over_socket:
        ours, theirs = socket.socketpair()
        left, right = Channel.from_socket(ours), Channel.from_socket(theirs, initiator=True)
    else:
        left_stream, right_stream = trio.testing.memory_stream_pair()
        left, right = Channel(left_stream), Channel(right_stream, initiator=True)
    opener = Actor("opener")
    server = Actor("server", enable_modules={__name__})
    try:
        async with actor_runtime(server), trio.open_nursery() as tn:
            server_conn = Conn(server, right, opener.uid)
            opener_conn = Conn(opener, left, server.uid)
            tn.start_soon(server_conn.process_messages)
            tn.start_soon(opener_conn.process_messages)
            yield Portal(opener_conn)
            tn.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await left.aclose()
            await right.aclose()


@agentree.context
async def echo(ctx: agentree.Context) -> int:
    await ctx.started("ready")
    count = 0
    async with ctx.open_stream() as stream:
        async for item in stream:
            await stream.send(item)
            count += 1
    return count


@agentree.context
async def overrun(ctx: agentree.Context) -> int:
    await ctx.started(None)
    sent = 0
    async with ctx.open_stream(allow_overruns=False) as stream:
        try:
            while True:
                await stream.send(sent)
                sent += 1
        except agentree.StreamOverrun:
            return sent


@agentree.context
async def count_sends(ctx: agentree.Context, total: int) -> int:
    await ctx.started(None)
    _SEEN["sent"] = 0
    async with ctx.open_stream() as stream:
        for i in range(total):
            await stream.send(i)
            _SEEN["sent"] = i + 1
    return total


@agentree.context
async def wait_for_stop(ctx: agentree.Context) -> str:
    """Open the stream and read until the opener ends it."""
    await ctx.started(None)
    async with ctx.open_stream() as stream:
        async for _ in stream:
            pass
    return "stopped"


class Item(msgspec.Struct):
    name: str
    size: int


@agentree.context(pld_spec=Item)
async def typed(ctx: agentree.Context, bad: bool) -> None:
    await ctx.started({"name": "x", "size": "big"} if bad else Item("x", 1))


async def test_echo_dialog_in_process() -> None:
    with trio.fail_after(TIMEOUT):
        async with served_portal() as portal:
            async with portal.open_context(echo) as (ctx, first):
                assert first == "ready"
                async with ctx.open_stream() as stream:
                    for i in range(100):
                        await stream.send(i)
                        assert await stream.receive() == i
            assert await ctx.wait_for_result() == 100


async def test_every_send_lets_other_tasks_run_but_a_reply_after_a_wait() -> None:
    """A task that only sends yields to the scheduler at every send; a send right
    after a receive that waited (the task was just scheduled) need not."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    with trio.fail_after(TIMEOUT):
        async with served_portal(over_socket=True) as portal:
            async with portal.open_context(echo) as (ctx, _), ctx.open_stream() as stream:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(ticker)
                    seen = []
                    for i in range(10):
                        await stream.send(i)
                        seen.append(ticks)
                    # One pass of the scheduler per send; within a pass the order of
                    # the two tasks is random, so count over all the sends.
                    assert seen[-1] - seen[0] >= len(seen) - 2
                    assert [await stream.receive() for _ in range(10)] == list(range(10))
                    nursery.cancel_scope.cancel()
                # Ping-pong: every reply still arrives, in order.
                for i in range(50):
                    await stream.send(i)
                    assert await stream.receive() == i
            assert await ctx.wait_for_result() == 60


async def test_overrun_after_exactly_one_window() -> None:
    with trio.fail_after(TIMEOUT):
        async with (
            served_portal() as portal,
            portal.open_context(overrun) as (ctx, _),
            ctx.open_stream(msg_buffer_size=5) as stream,
        ):
            assert await ctx.wait_for_result() == 5
            # The five items before the overrun were all kept for the stream.
            assert [await stream.receive() for _ in range(5)] == list(range(5))
            with pytest.raises(trio.EndOfChannel):
                await stream.receive()


async def test_sender_waits_for_credit() -> None:
    """A receiver that stops reading holds the sender at one window exactly."""
    with trio.fail_after(TIMEOUT):
        async with served_portal() as portal:
            async with (
                portal.open_context(count_sends, total=100) as (ctx, _),
                ctx.open_stream(msg_buffer_size=10) as stream,
            ):
                assert await stream.receive() == 0
                await trio.testing.wait_all_tasks_blocked()
                assert _SEEN["sent"] == 10
                received = [0] + [item async for item in stream]
            assert received == list(range(100))
            assert await ctx.wait_for_result() == 100


async def test_leaving_the_block_without_a_stream_ends_the_peers_stream() -> None:
    with trio.fail_after(TIMEOUT):
        async with served_portal() as portal:
            async with portal.open_context(wait_for_stop) as (ctx, _):
                pass
            assert await ctx.wait_for_result() == "stopped"


@pytest.mark.parametrize("bad", [False, True])
async def test_typed_started_value(bad: bool) -> None:
    with trio.fail_after(TIMEOUT):
        async with served_portal() as portal:
            if not bad:
                async with portal.open_context(typed, bad=False) as (_, first):
                    assert first == Item("x", 1)
                return
            with pytest.raises(
                agentree.MsgTypeError, match=r"Expected `int`, got `str` - at `\$.size`"
            ):
                async with portal.open_context(typed, bad=True):
                    pytest.fail("the block must not run")


async def test_broadcast_backpressure_and_end() -> None:
    """A lagging subscriber holds the others back (bounded), then everyone gets all."""
    got: dict[str, list[int]] = {"fast": [], "slow": []}
    release = trio.Event()

    async def fast(sub: agentree.BroadcastReceiver) -> None:
        async for item in sub:
            got["fast"].append(item)

    async def slow(sub: agentree.BroadcastReceiver) -> None:
        await release.wait()
        async for item in sub:
            got["slow"].append(item)

    window = 4
    with trio.fail_after(TIMEOUT):
        async with (
            served_portal() as portal,
            portal.open_context(count_sends, total=50) as (ctx, _),
            ctx.open_stream(msg_buffer_size=window) as stream,
            stream.subscribe() as sub_fast,
            stream.subscribe() as sub_slow,
            trio.open_nursery() as tn,
        ):
            tn.start_soon(fast, sub_fast)
            tn.start_soon(slow, sub_slow)
            await trio.testing.wait_all_tasks_blocked()
            # The slow subscriber's queue is full: the fast one is held back.
            assert len(got["fast"]) == window
            release.set()
    assert got == {"fast": list(range(50)), "slow": list(range(50))}


async def test_dialog_credit() -> None:
    dialog = Dialog(1)
    assert not dialog.granted
    result: list[bool] = []

    async def take() -> None:
        result.append(await dialog.take_credit())

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            tn.start_soon(take)
            await trio.testing.wait_all_tasks_blocked()
            assert result == []
            dialog.grant(2)
        assert result == [True]
        assert dialog.credit == 1
        assert dialog.granted
        dialog.note_final(Yield(cid=1, pld=msgspec.Raw(encode(None))))
        assert await dialog.take_credit() is False


def test_default_window_and_spec_errors() -> None:
    assert DEFAULT_MSG_BUFFER_SIZE == 64
    raw = msgspec.Raw(encode({"name": 1, "size": 2}))
    with pytest.raises(agentree.MsgTypeError, match=r"Expected `str`, got `int` - at `\$.name`"):
        decode_payload(raw, Item)


def test_context_needs_an_async_function() -> None:
    def sync(ctx: agentree.Context) -> None:
        return None

    with pytest.raises(TypeError, match="async function"):
        agentree.context(sync)


async def test_large_frames_over_a_socket_arrive_whole_even_after_a_cancelled_receive() -> None:
    """A frame of several MiB is read into a buffer of its own; a receive cancelled
    in the middle of it keeps what arrived, and the next receive completes it."""
    ours, theirs = socket.socketpair()
    channel = Channel.from_socket(ours)
    payload = bytes(range(256)) * (3 * 4096)  # 3 MiB
    body = encode(Yield(cid=7, pld=msgspec.Raw(encode(payload))))
    data = len(body).to_bytes(4, "big") + body
    peer = trio.SocketStream(trio.socket.from_stdlib_socket(theirs))
    half = len(data) // 2
    got: list[Any] = []

    async def receive_into(scope_box: list[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            scope_box.append(scope)
            got.append(await channel.recv())

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            box: list[trio.CancelScope] = []
            tn.start_soon(receive_into, box)
            await peer.send_all(data[:half])
            await trio.testing.wait_all_tasks_blocked()
            box[0].cancel()
        assert got == []
        async with trio.open_nursery() as tn:
            tn.start_soon(peer.send_all, data[half:])
            msg = await channel.recv()
        assert isinstance(msg, Yield)
        assert msg.cid == 7
        assert decode_payload(msg.pld) == payload
        await peer.aclose()
        with pytest.raises(agentree.TransportClosed):
            await channel.recv()
        await channel.aclose()
