"""Fuzz the receiving Channel: whatever the bytes, the outcome is typed and bounded.

Every example feeds bytes (random, or frames built from valid messages and then
mutated) to a Channel through a lockstep stream, in random chunk sizes, then closes the
stream. Each ``recv`` must return a valid message or raise a typed
:class:`agentree.AgentreeError` (``ProtocolError`` and its subclasses, or
``TransportClosed``); anything else fails the test, and so does a hang
(``trio.fail_after`` bounds each example).

Hypothesis drives a sync test; the async part runs in its own ``trio.run``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec import Raw

import agentree
from agentree._ipc import Channel
from agentree.msg import (
    Aid,
    Cancel,
    CancelAck,
    Error,
    Msg,
    Return,
    SpawnSpec,
    Start,
    StartAck,
    Started,
    Stop,
    Yield,
    decode_payload,
    encode,
)

MAX_FRAME = 4096
EXAMPLE_TIMEOUT = 5

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def _no_hypothesis_patch_files(request: pytest.FixtureRequest) -> Iterator[None]:
    """Stop hypothesis from writing a patch file for a failing example.

    To write it, hypothesis's pytest plugin imports a module that raises a
    DeprecationWarning (mypy_extensions.TypedDict) while pytest builds the teardown
    report; filterwarnings=error turns that into an INTERNALERROR that hides the
    real failure. The failing example is still printed in the test's report.
    """
    yield
    with contextlib.suppress(AttributeError):
        del request.node._hypothesis_failing_examples


@dataclass
class Outcome:
    """What the receiving side saw, in order."""

    messages: list[Msg] = field(default_factory=list)
    errors: list[agentree.AgentreeError] = field(default_factory=list)


def frame_of(body: bytes) -> bytes:
    """Prefix ``body`` with its 4-byte big-endian length.

    Args:
        body: the frame body.

    Returns:
        The frame.
    """
    return len(body).to_bytes(4, "big") + body


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    """Cut ``data`` into chunks whose sizes cycle through ``sizes``.

    Args:
        data: the bytes to cut.
        sizes: positive chunk sizes, reused cyclically; empty means one chunk.

    Returns:
        The chunks, in order, covering ``data`` exactly.
    """
    if not sizes:
        return [data] if data else []
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        chunks.append(data[pos : pos + size])
        pos += size
        i += 1
    return chunks


def check_payloads(msg: Msg) -> None:
    """Decode every lazily-carried payload of ``msg``; only typed errors may come out.

    Args:
        msg: a message the Channel returned.
    """
    for raw in (getattr(msg, "pld", None), getattr(msg, "kwargs", None)):
        if isinstance(raw, Raw):
            with contextlib.suppress(agentree.ProtocolError):
                decode_payload(raw)


async def _receive_all(chunks: list[bytes]) -> Outcome:
    """Feed ``chunks`` to a receiving Channel, then EOF; receive until it ends.

    Returns:
        The messages and typed errors seen. Any other exception propagates.
    """
    outcome = Outcome()
    raw, theirs = trio.testing.lockstep_stream_pair()
    chan = Channel(theirs, max_frame_size=MAX_FRAME)

    async def sender() -> None:
        for chunk in chunks:
            await raw.send_all(chunk)
        await raw.aclose()

    with trio.fail_after(EXAMPLE_TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sender)
            while True:
                try:
                    msg = await chan.recv()
                except (agentree.FrameTooLarge, agentree.TransportClosed) as exc:
                    # Both are terminal: the oversized header stays unread, or EOF.
                    outcome.errors.append(exc)
                    break
                except agentree.ProtocolError as exc:
                    # The bad frame was consumed: the next one is still framed right.
                    outcome.errors.append(exc)
                    continue
                check_payloads(msg)
                outcome.messages.append(msg)
            nursery.cancel_scope.cancel()
    return outcome


def receive_all(data: bytes, sizes: list[int]) -> Outcome:
    """Run :func:`_receive_all` in a fresh trio run.

    Args:
        data: the bytes the peer sends before closing.
        sizes: chunk sizes for the lockstep stream (see :func:`chunked`).

    Returns:
        What the receiving Channel saw.
    """
    outcome = trio.run(_receive_all, chunked(data, sizes))
    assert outcome.errors, "the channel must end with an error (EOF at least)"
    assert isinstance(outcome.errors[-1], agentree.FrameTooLarge | agentree.TransportClosed)
    for msg in outcome.messages:
        assert isinstance(msg, Msg)
    return outcome


# -- strategies ------------------------------------------------------------------------

uids = st.tuples(st.text(max_size=6), st.text(max_size=6))
cids = st.integers(min_value=0, max_value=2**63 - 1)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.binary(max_size=12)
)
values = st.recursive(
    leaves,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=4), kids, max_size=4)
    ),
    max_leaves=12,
)
payloads = values.map(lambda v: Raw(encode(v)))
kwargs_payloads = st.dictionaries(st.text(max_size=6), values, max_size=3).map(
    lambda v: Raw(encode(v))
)
texts = st.text(max_size=16)

messages: st.SearchStrategy[Msg] = st.one_of(
    st.builds(Aid, name=texts, uuid=texts, pid=st.integers(0, 2**31)),
    st.builds(
        SpawnSpec,
        name=texts,
        uuid=texts,
        parent_uid=uids,
        enable_modules=st.lists(texts, max_size=3),
        sys_path=st.lists(texts, max_size=3),
        loglevel=st.none() | texts,
        secret=st.binary(max_size=32),
        max_frame_size=st.integers(0, 2**40),
    ),
    st.builds(
        Start,
        cid=cids,
        ns=texts,
        kwargs=kwargs_payloads,
        kind=st.sampled_from(["func", "ctx", "gen"]),
    ),
    st.builds(StartAck, cid=cids),
    st.builds(Started, cid=cids, pld=payloads),
    st.builds(Yield, cid=cids, pld=payloads),
    st.builds(Stop, cid=cids),
    st.builds(Return, cid=cids, pld=payloads),
    st.builds(
        Error,
        cid=st.none() | cids,
        type_str=texts,
        message=texts,
        tb_str=texts,
        src_uid=uids,
        relay_path=st.lists(uids, max_size=3),
        call=texts,
        canceller=st.none() | uids,
    ),
    st.builds(Cancel, cid=cids),
    st.builds(CancelAck, cid=cids, canceller=st.none() | uids),
)
chunk_sizes = st.lists(st.integers(min_value=1, max_value=64), max_size=8)


# -- properties ------------------------------------------------------------------------


@FUZZ
@given(msgs=st.lists(messages, max_size=6), sizes=chunk_sizes)
def test_valid_frames_round_trip_in_any_chunking(msgs: list[Msg], sizes: list[int]) -> None:
    """Valid frames, however they are chunked, decode back to the same messages."""
    frames = [frame_of(encode(m)) for m in msgs]
    if any(len(f) - 4 > MAX_FRAME for f in frames):
        return
    outcome = receive_all(b"".join(frames), sizes)
    assert outcome.messages == msgs
    assert len(outcome.errors) == 1
    assert type(outcome.errors[0]) is agentree.TransportClosed


@FUZZ
@given(data=st.binary(max_size=2048), sizes=chunk_sizes)
def test_random_bytes(data: bytes, sizes: list[int]) -> None:
    """Arbitrary bytes end in messages and typed errors only."""
    receive_all(data, sizes)


@FUZZ
@given(
    body=st.binary(max_size=512),
    tail=st.binary(max_size=64),
    sizes=chunk_sizes,
)
def test_random_bodies_in_valid_frames(body: bytes, tail: bytes, sizes: list[int]) -> None:
    """A well-framed random body raises ProtocolError and the framing stays in sync."""
    outcome = receive_all(frame_of(body) + frame_of(encode(Stop(cid=7))) + tail, sizes)
    # The Stop after the random body is always found, whatever the body was.
    assert Stop(cid=7) in outcome.messages


@FUZZ
@given(msgs=st.lists(messages, min_size=1, max_size=4), cut=st.integers(1), sizes=chunk_sizes)
def test_truncated_frames(msgs: list[Msg], cut: int, sizes: list[int]) -> None:
    """A stream cut anywhere yields the whole frames before the cut, then TransportClosed."""
    frames = [frame_of(encode(m)) for m in msgs]
    if any(len(f) - 4 > MAX_FRAME for f in frames):
        return
    data = b"".join(frames)
    cut %= len(data)
    outcome = receive_all(data[:cut], sizes)
    whole, pos = 0, 0
    for f in frames:
        if pos + len(f) > cut:
            break
        pos += len(f)
        whole += 1
    assert outcome.messages == msgs[:whole]
    assert len(outcome.errors) == 1
    assert isinstance(outcome.errors[0], agentree.TransportClosed)
    if pos != cut:
        assert "middle of a frame" in str(outcome.errors[0])


@FUZZ
@given(
    msgs=st.lists(messages, min_size=1, max_size=4),
    index=st.integers(0),
    size=st.integers(MAX_FRAME + 1, 2**32 - 1),
    sizes=chunk_sizes,
)
def test_oversized_length_headers(
    msgs: list[Msg], index: int, size: int, sizes: list[int]
) -> None:
    """A header over the limit raises FrameTooLarge right after the frames before it."""
    bodies = [encode(m) for m in msgs]
    if any(len(b) > MAX_FRAME for b in bodies):
        return
    index %= len(bodies)
    data = b"".join(frame_of(b) for b in bodies[:index])
    data += size.to_bytes(4, "big") + bodies[index]
    outcome = receive_all(data, sizes)
    assert outcome.messages == msgs[:index]
    assert len(outcome.errors) == 1
    assert isinstance(outcome.errors[0], agentree.FrameTooLarge)


@FUZZ
@given(msg=messages, position=st.integers(0), value=values | texts, sizes=chunk_sizes)
def test_wrong_tags_and_fields(msg: Msg, position: int, value: object, sizes: list[int]) -> None:
    """Valid msgpack with one field (or the tag) replaced: a message or MsgTypeError.

    The body is still valid msgpack, so a failure must be the typed MsgTypeError,
    never a bare ProtocolError or anything untyped.
    """
    fields = msgspec.msgpack.decode(encode(msg))
    position %= len(fields) + 1
    if position == len(fields):
        fields.append(value)  # an extra trailing field, as from a newer peer
    else:
        fields[position] = value
    body = encode(fields)
    if len(body) > MAX_FRAME:
        return
    outcome = receive_all(frame_of(body), sizes)
    if outcome.messages:
        assert len(outcome.messages) == 1
        assert len(outcome.errors) == 1
    else:
        assert len(outcome.errors) == 2
        assert isinstance(outcome.errors[0], agentree.MsgTypeError)
    assert type(outcome.errors[-1]) is agentree.TransportClosed


@FUZZ
@given(
    msgs=st.lists(messages, min_size=1, max_size=3),
    flips=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), min_size=1, max_size=4),
    sizes=chunk_sizes,
)
def test_byte_flips(msgs: list[Msg], flips: list[tuple[int, int]], sizes: list[int]) -> None:
    """Valid frames with a few bytes overwritten (headers included) stay typed."""
    data = bytearray(b"".join(frame_of(encode(m)) for m in msgs))
    for pos, byte in flips:
        data[pos % len(data)] = byte
    receive_all(bytes(data), sizes)


@FUZZ
@given(
    # Clear of the recursion limit (1000) on both sides, so the outcome does not
    # depend on how deep the stack is when the example runs; and under MAX_FRAME.
    depth=st.integers(0, 200) | st.integers(1_100, MAX_FRAME - 50),
    kind=st.sampled_from(["start", "yield", "bare"]),
    sizes=chunk_sizes,
)
def test_deep_nesting(depth: int, kind: str, sizes: list[int]) -> None:
    """Deeply nested payloads (a few kB on the wire) never escape as RecursionError."""
    nested = b"\x91" * depth + b"\x01"
    if kind == "start":
        body = b"\x94\xa5start\x01\xa3m:f" + nested
    elif kind == "yield":
        body = b"\x93\xa5yield\x01" + nested
    else:
        body = nested
    receive_all(frame_of(body) + frame_of(encode(Stop(cid=1))), sizes)
