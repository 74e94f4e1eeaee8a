"""L2 Channel: framing, size limits, EOF and encode errors, over in-memory streams."""

from __future__ import annotations

from functools import partial

import pytest
import trio
import trio.testing
from msgspec import Raw

import agentree
from agentree._ipc import DEFAULT_MAX_FRAME_SIZE, Channel
from agentree.msg import Aid, Error, Msg, Start, Stop, Yield, encode

TIMEOUT = 5


def frame_of(msg: Msg | object) -> bytes:
    """Build the wire frame of one message by hand: 4-byte big-endian length + body.

    Args:
        msg: the message (or any encodable value, for malformed frames).

    Returns:
        The frame bytes, as the peer's Channel would send them.
    """
    body = encode(msg)
    return len(body).to_bytes(4, "big") + body


def payload(value: object) -> Raw:
    """Wrap ``value`` as a lazily-decoded payload.

    Args:
        value: any msgspec-encodable value.

    Returns:
        ``msgspec.Raw`` of its msgpack encoding.
    """
    return Raw(encode(value))


def channel_pair(**kwargs: object) -> tuple[Channel, Channel]:
    """Two connected Channels over an in-memory stream pair.

    Args:
        **kwargs: passed to both Channels (e.g. ``max_frame_size``).

    Returns:
        ``(initiator side, listening side)``.
    """
    left, right = trio.testing.memory_stream_pair()
    return (
        Channel(left, initiator=True, **kwargs),  # type: ignore[arg-type]
        Channel(right, **kwargs),  # type: ignore[arg-type]
    )


def raw_pair(**kwargs: object) -> tuple[trio.abc.Stream, Channel]:
    """A raw byte stream feeding a receiving Channel, in lockstep.

    Lockstep means each ``send_all`` is handed over as its own chunk: the Channel
    never sees two chunks glued together, so tests control the split points exactly.

    Args:
        **kwargs: passed to the Channel.

    Returns:
        ``(raw sending stream, receiving Channel)``.
    """
    raw, theirs = trio.testing.lockstep_stream_pair()
    return raw, Channel(theirs, **kwargs)  # type: ignore[arg-type]


async def feed(stream: trio.abc.Stream, chunks: list[bytes], *, close: bool = False) -> None:
    """Send ``chunks`` one ``send_all`` each, then optionally close the stream.

    Args:
        stream: the raw sending stream.
        chunks: the byte chunks, in order.
        close: whether to close the stream afterwards (the peer sees EOF).
    """
    for chunk in chunks:
        await stream.send_all(chunk)
    if close:
        await stream.aclose()


async def receive_rest(chan: Channel, *, use_iter: bool) -> list[Msg]:
    """Receive from ``chan`` with ``async for`` (until EOF) or with one ``recv``.

    Args:
        chan: the receiving Channel.
        use_iter: iterate until the end instead of receiving one message.

    Returns:
        The messages received.
    """
    if use_iter:
        return [msg async for msg in chan]
    return [await chan.recv()]


MESSAGES: list[Msg] = [
    Aid(name="a", uuid="u", pid=1),
    Start(cid=1, ns="pkg.mod:fn", kwargs=payload({"x": [1, 2, 3], "y": "why"})),
    Yield(cid=1, pld=payload("é" * 20)),
    Stop(cid=1),
    Error(cid=None, type_str="ValueError", message="m", tb_str="tb", src_uid=("a", "u")),
]
STREAM = b"".join(frame_of(m) for m in MESSAGES)


# -- ordering and framing --------------------------------------------------------------


async def test_many_messages_in_order() -> None:
    """Many messages sent one by one arrive intact and in order."""
    left, right = channel_pair()
    count = 2000
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:

            async def sender() -> None:
                for i in range(count):
                    await left.send(Yield(cid=i, pld=payload({"i": i, "pad": "x" * (i % 50)})))

            nursery.start_soon(sender)
            for i in range(count):
                msg = await right.recv()
                assert isinstance(msg, Yield)
                assert msg.cid == i
    assert not left.closed
    assert not right.closed


async def test_both_directions() -> None:
    """Both sides send and receive on the same pair."""
    left, right = channel_pair()
    with trio.fail_after(TIMEOUT):
        await left.send(Stop(cid=1))
        await right.send(Stop(cid=2))
        assert await right.recv() == Stop(cid=1)
        assert await left.recv() == Stop(cid=2)


async def test_frame_split_at_every_byte_boundary() -> None:
    """A byte stream cut in two at any offset decodes to the same messages."""
    for cut in range(1, len(STREAM)):
        raw, chan = raw_pair()
        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(feed, raw, [STREAM[:cut], STREAM[cut:]])
                got = [await chan.recv() for _ in MESSAGES]
        assert got == MESSAGES, f"cut at {cut}"


async def test_frames_in_one_byte_chunks() -> None:
    """Frames delivered one byte per chunk decode, and EOF then ends the channel."""
    raw, chan = raw_pair()
    chunks = [STREAM[i : i + 1] for i in range(len(STREAM))]
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(feed, raw, chunks, close=True))
            got = [msg async for msg in chan]
    assert got == MESSAGES


async def test_several_frames_in_one_chunk() -> None:
    """Several whole frames arriving in a single chunk all decode."""
    raw, chan = raw_pair()
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(feed, raw, [STREAM * 3], close=True))
            got = [msg async for msg in chan]
    assert got == MESSAGES * 3


async def test_recv_frame_returns_the_body() -> None:
    """recv_frame hands back exactly one frame body, without decoding it."""
    raw, chan = raw_pair()
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed, raw, [frame_of(Stop(cid=4)) + frame_of(Stop(cid=5))])
            assert await chan.recv_frame() == encode(Stop(cid=4))
            assert await chan.recv() == Stop(cid=5)


async def test_empty_frame_is_a_protocol_error() -> None:
    """A zero-length frame is malformed, not an EOF and not a hang."""
    raw, chan = raw_pair()
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed, raw, [b"\x00\x00\x00\x00"])
            with pytest.raises(agentree.ProtocolError):
                await chan.recv()


async def test_bad_frame_body_keeps_framing_in_sync() -> None:
    """A frame with a bad body raises, and the next frame still decodes."""
    raw, chan = raw_pair()
    data = frame_of(["no-such-tag", 1]) + b"\x00\x00\x00\x01\xc1" + frame_of(Stop(cid=9))
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed, raw, [data])
            with pytest.raises(agentree.MsgTypeError):
                await chan.recv()
            with pytest.raises(agentree.ProtocolError):
                await chan.recv()
            assert await chan.recv() == Stop(cid=9)


async def test_concurrent_senders_do_not_interleave() -> None:
    """Sends from many tasks at once produce whole frames (the send lock)."""
    raw_left, raw_right = trio.testing.lockstep_stream_pair()
    left, right = Channel(raw_left, initiator=True), Channel(raw_right)
    senders, per_sender = 8, 20
    big = "x" * 20_000
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:

            async def sender(n: int) -> None:
                for i in range(per_sender):
                    await left.send(Yield(cid=n, pld=payload([i, big])))

            for n in range(senders):
                nursery.start_soon(sender, n)
            seen: dict[int, list[int]] = {n: [] for n in range(senders)}
            for _ in range(senders * per_sender):
                msg = await right.recv()
                assert isinstance(msg, Yield)
                index, pad = agentree.msg.decode_payload(msg.pld)
                assert pad == big
                seen[msg.cid].append(index)
    assert seen == {n: list(range(per_sender)) for n in range(senders)}


# -- frame size limits -----------------------------------------------------------------


def test_default_max_frame_size() -> None:
    """The default maximum frame size is 64 MiB (DESIGN §4)."""
    assert DEFAULT_MAX_FRAME_SIZE == 64 * 1024 * 1024
    left, _ = channel_pair()
    assert left.max_frame_size == DEFAULT_MAX_FRAME_SIZE


async def test_oversized_outgoing_message_sends_nothing() -> None:
    """An outgoing message over the limit raises FrameTooLarge; nothing reaches the peer."""
    left, right = channel_pair(max_frame_size=64)
    with trio.fail_after(TIMEOUT):
        with pytest.raises(agentree.FrameTooLarge) as info:
            await left.send(Yield(cid=1, pld=payload("x" * 100)))
        assert isinstance(info.value, agentree.ProtocolError)
        assert "64" in str(info.value)
        # The channel keeps working, and the first thing the peer sees is the next send.
        await left.send(Stop(cid=2))
        assert await right.recv() == Stop(cid=2)
        await left.aclose()
        with pytest.raises(agentree.TransportClosed):
            await right.recv()
    assert not right._rbuf


async def test_frame_at_exactly_the_limit_passes() -> None:
    """A body of exactly max_frame_size bytes is sent and received; one more is not."""
    probe = Yield(cid=1, pld=payload("x" * 50))
    limit = len(encode(probe))
    left, right = channel_pair(max_frame_size=limit)
    with trio.fail_after(TIMEOUT):
        await left.send(probe)
        assert await right.recv() == probe
        with pytest.raises(agentree.FrameTooLarge):
            await left.send(Yield(cid=1, pld=payload("x" * 51)))


async def test_oversized_incoming_header_raises_without_waiting_for_the_body() -> None:
    """A length header over the limit raises FrameTooLarge at once."""
    for size in (65, 2**31, 2**32 - 1):
        raw, chan = raw_pair(max_frame_size=64)
        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(feed, raw, [size.to_bytes(4, "big")])
                with pytest.raises(agentree.FrameTooLarge, match=str(size)):
                    await chan.recv()


async def test_oversized_incoming_header_default_limit() -> None:
    """A 4 GiB header is refused by a channel with the default limit too."""
    raw, chan = raw_pair()
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(feed, raw, [b"\xff\xff\xff\xff"])
            with pytest.raises(agentree.FrameTooLarge):
                await chan.recv()


# -- EOF and closing -------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 3, 4, 5, len(frame_of(MESSAGES[1])) - 1])
async def test_peer_closing_mid_frame_is_transport_closed(cut: int) -> None:
    """EOF inside a header or body raises TransportClosed, in recv and in async for."""
    cut_frame = frame_of(MESSAGES[1])[:cut]
    for use_iter in (False, True):
        raw, chan = raw_pair()
        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                chunks = [frame_of(Stop(cid=1)), cut_frame]
                nursery.start_soon(partial(feed, raw, chunks, close=True))
                assert await chan.recv() == Stop(cid=1)
                with pytest.raises(agentree.TransportClosed, match="middle of a frame"):
                    await receive_rest(chan, use_iter=use_iter)
        assert chan.closed


async def test_clean_eof_ends_async_for() -> None:
    """After the peer closes between frames, async for ends without an error."""
    left, right = channel_pair()
    with trio.fail_after(TIMEOUT):
        for msg in MESSAGES:
            await left.send(msg)
        await left.aclose()
        got = [msg async for msg in right]
    assert got == MESSAGES
    assert right.closed
    assert left.closed


async def test_clean_eof_recv_raises_transport_closed() -> None:
    """recv (unlike async for) reports a clean EOF as TransportClosed."""
    left, right = channel_pair()
    with trio.fail_after(TIMEOUT):
        await left.aclose()
        with pytest.raises(agentree.TransportClosed):
            await right.recv()
        # And again: EOF is sticky, not a hang.
        with pytest.raises(agentree.TransportClosed):
            await right.recv()


async def test_use_after_aclose_is_transport_closed() -> None:
    """Sending or receiving on a channel we closed raises TransportClosed."""
    left, _right = channel_pair()
    await left.aclose()
    assert left.closed
    with trio.fail_after(TIMEOUT):
        with pytest.raises(agentree.TransportClosed):
            await left.send(Stop(cid=1))
        with pytest.raises(agentree.TransportClosed):
            await left.recv()


async def test_send_to_a_closed_peer_is_transport_closed() -> None:
    """A stream failure while sending is translated, raised from the original."""
    left, right = channel_pair()
    await right.aclose()
    with trio.fail_after(TIMEOUT), pytest.raises(agentree.TransportClosed) as info:
        await left.send(Stop(cid=1))
    assert isinstance(info.value.__cause__, trio.BrokenResourceError)


# -- encode errors ---------------------------------------------------------------------


async def test_unencodable_message_raises_msg_encode_error() -> None:
    """An unencodable value raises MsgEncodeError (a TypeError); the channel goes on."""
    left, right = channel_pair()
    with trio.fail_after(TIMEOUT):
        with pytest.raises(agentree.MsgEncodeError) as info:
            await left.send(Yield(cid=1, pld=object()))  # type: ignore[arg-type]
        assert isinstance(info.value, TypeError)
        assert isinstance(info.value, agentree.AgentreeError)
        assert isinstance(info.value.__cause__, TypeError)
        assert "Yield" in str(info.value)
        await left.send(Stop(cid=3))
        assert await right.recv() == Stop(cid=3)
    assert not left.closed


# -- dialog ids ------------------------------------------------------------------------


def test_next_cid_parity() -> None:
    """Initiator and listener allocate cids of opposite parity, never colliding."""
    left, right = channel_pair()
    mine = [left.next_cid() for _ in range(100)]
    theirs = [right.next_cid() for _ in range(100)]
    assert {c % 2 for c in mine} == {1}
    assert {c % 2 for c in theirs} == {0}
    assert len(set(mine)) == len(mine)
    assert len(set(theirs)) == len(theirs)
    assert not set(mine) & set(theirs)
    assert all(c > 0 for c in mine + theirs)
