"""L1 wire: message round trips, lazy payloads, typed specs and decode errors."""

from __future__ import annotations

import typing

import msgspec
import pytest
from msgspec import Raw

import agentree
from agentree import msg as wire
from agentree.msg import (
    Aid,
    Cancel,
    CancelAck,
    Credit,
    Error,
    Return,
    SpawnSpec,
    Start,
    StartAck,
    Started,
    Stop,
    Yield,
    decode_msg,
    decode_payload,
    encode,
    encode_into,
    find_unencodable,
)


def _pld(value: object) -> Raw:
    """Encode ``value`` as a lazily-carried payload.

    Args:
        value: any msgspec-encodable value.

    Returns:
        The msgpack bytes of ``value`` wrapped in :class:`msgspec.Raw`.
    """
    return Raw(encode(value))


def _nested_arrays(depth: int) -> bytes:
    """Msgpack bytes of ``depth`` nested one-element arrays around the integer 1.

    Args:
        depth: how many arrays to nest.

    Returns:
        The encoded value, e.g. ``[[[1]]]`` for a depth of 3.
    """
    return b"\x91" * depth + b"\x01"


# Every message type, with non-default values in every field that has a default.
ALL_MESSAGES: list[wire.Msg] = [
    Aid(name="planner", uuid="u-1", pid=4321),
    SpawnSpec(
        name="child",
        uuid="u-2",
        parent_uid=("root", "u-0"),
        enable_modules=["pkg.mod", "__main__"],
        sys_path=["/a", "/b"],
        main_path="/a/script.py",
        main_name="pkg.main",
        loglevel="debug",
        debug_mode=True,
        start_method="subprocess",
        forkserver_path="/tmp/fs.sock",
        tmpdir="/tmp/agentree-x",
        transport="tcp",
        secret=b"\x00\x01\xff" * 8,
        max_frame_size=1024,
        cancel_timeout=1.5,
        terminate_timeout=2.5,
        infect_asyncio=True,
    ),
    Start(cid=3, ns="pkg.mod:fn", kwargs=_pld({"x": 1, "y": [1, 2]}), kind="ctx"),
    StartAck(cid=3),
    Started(cid=3, pld=_pld("first")),
    Yield(cid=5, pld=_pld({"k": [1.5, None, True]})),
    Stop(cid=5),
    Return(cid=7, pld=_pld(None)),
    Error(
        cid=None,
        type_str="builtins.ValueError",
        message="bad",
        tb_str="Traceback...",
        src_uid=("child", "u-2"),
        relay_path=[("child", "u-2"), ("root", "u-0")],
        call="pkg.mod:fn",
        canceller=("root", "u-0"),
    ),
    Cancel(cid=9),
    CancelAck(cid=9, canceller=("root", "u-0")),
    Credit(cid=5, n=64),
]


def _msg_id(msg: wire.Msg) -> str:
    """Name a parametrized case after its message type."""
    return type(msg).__name__


def test_every_message_type_is_covered() -> None:
    """ALL_MESSAGES holds one instance of every member of the Msg union."""
    union = set(typing.get_args(wire.Msg))
    assert {type(m) for m in ALL_MESSAGES} == union
    assert len(ALL_MESSAGES) == len(union)


def test_every_struct_in_msg_is_in_the_union() -> None:
    """A message type added to agentree.msg but not to the Msg union cannot be decoded."""
    structs = {
        obj
        for name in wire.__all__
        if isinstance(obj := getattr(wire, name), type) and issubclass(obj, msgspec.Struct)
    }
    assert structs == set(typing.get_args(wire.Msg))


def test_tags_are_unique() -> None:
    """Each message type has its own wire tag."""
    tags = [msgspec.inspect.type_info(t).tag for t in typing.get_args(wire.Msg)]
    assert len(tags) == len(set(tags))


@pytest.mark.parametrize("msg", ALL_MESSAGES, ids=_msg_id)
def test_round_trip(msg: wire.Msg) -> None:
    """encode then decode_msg gives back an equal message of the same type."""
    data = encode(msg)
    out = decode_msg(data)
    assert type(out) is type(msg)
    assert out == msg
    # memoryview input (what a channel may hand over) decodes too.
    assert decode_msg(memoryview(data)) == msg


@pytest.mark.parametrize("msg", ALL_MESSAGES, ids=_msg_id)
def test_round_trip_with_defaults(msg: wire.Msg) -> None:
    """A message built with only its required fields round-trips with its defaults."""
    info = msgspec.inspect.type_info(type(msg))
    required = {f.name: getattr(msg, f.name) for f in info.fields if f.required}
    minimal = type(msg)(**required)
    assert decode_msg(encode(minimal)) == minimal


def test_encode_into_matches_encode() -> None:
    """encode_into at an offset writes the same bytes as encode, after the prefix."""
    msg = ALL_MESSAGES[2]
    buf = bytearray(b"HEAD")
    encode_into(msg, buf, 4)
    assert bytes(buf[:4]) == b"HEAD"
    assert bytes(buf[4:]) == encode(msg)


def test_messages_are_array_like_and_tagged_first() -> None:
    """Field names never travel: a message is a msgpack array led by its tag."""
    raw = msgspec.msgpack.decode(encode(Stop(cid=11)))
    assert raw == ["stop", 11]


def test_message_from_an_older_peer_gets_defaults() -> None:
    """A message missing trailing defaulted fields (an older peer) still decodes."""
    old = encode(["error", 1, "ValueError", "m", "tb", ["a", "b"]])
    msg = decode_msg(old)
    assert isinstance(msg, Error)
    assert msg.relay_path == []
    assert msg.call == ""
    assert msg.canceller is None


def test_message_from_a_newer_peer_ignores_extra_fields() -> None:
    """Extra trailing fields (a newer peer) are ignored, not rejected."""
    msg = decode_msg(encode(["stop", 1, "a new field", 5]))
    assert msg == Stop(cid=1)


# -- payloads --------------------------------------------------------------------------


def test_payload_stays_raw_until_decoded() -> None:
    """Payload fields decode to Raw; decode_payload decodes them on demand."""
    value = {"a": [1, 2, {"b": None}], "c": "d"}
    msg = decode_msg(encode(Yield(cid=1, pld=_pld(value))))
    assert isinstance(msg, Yield)
    assert isinstance(msg.pld, Raw)
    assert bytes(msg.pld) == encode(value)
    assert decode_payload(msg.pld) == value


def test_start_kwargs_stay_raw() -> None:
    """Start.kwargs is carried as Raw and decoded by the callee."""
    msg = decode_msg(encode(Start(cid=1, ns="m:f", kwargs=_pld({"n": 3}))))
    assert isinstance(msg, Start)
    assert isinstance(msg.kwargs, Raw)
    assert decode_payload(msg.kwargs, dict[str, int]) == {"n": 3}


def test_decode_payload_accepts_bytes() -> None:
    """decode_payload takes plain bytes as well as Raw."""
    assert decode_payload(encode([1, "two"])) == [1, "two"]


class Point(msgspec.Struct):
    """A payload spec for the tests."""

    x: int
    y: int


class Shape(msgspec.Struct):
    """A nested payload spec for the tests."""

    name: str
    points: list[Point]


def test_typed_payload_decodes_to_the_spec() -> None:
    """A payload that matches its Struct spec decodes into that Struct."""
    raw = _pld({"name": "tri", "points": [{"x": 1, "y": 2}]})
    assert decode_payload(raw, Shape) == Shape("tri", [Point(1, 2)])


def test_typed_payload_spec_is_reused() -> None:
    """Decoding twice against the same spec works (the decoder is cached)."""
    for _ in range(3):
        assert decode_payload(_pld({"x": 1, "y": 2}), Point) == Point(1, 2)


def test_typed_payload_wrong_type_names_the_field() -> None:
    """A field of the wrong type gives MsgTypeError naming that field."""
    with pytest.raises(agentree.MsgTypeError, match=r"\$\.y") as info:
        decode_payload(_pld({"x": 1, "y": "two"}), Point)
    assert "Point" in str(info.value)
    assert isinstance(info.value, agentree.ProtocolError)
    assert isinstance(info.value.__cause__, msgspec.ValidationError)


def test_typed_payload_nested_wrong_type_names_the_path() -> None:
    """A nested mismatch names the path down to the field."""
    raw = _pld({"name": "tri", "points": [{"x": 1, "y": 2}, {"x": "no", "y": 2}]})
    with pytest.raises(agentree.MsgTypeError, match=r"\$\.points\[1\]\.x"):
        decode_payload(raw, Shape)


def test_typed_payload_missing_field_is_named() -> None:
    """A missing required field gives MsgTypeError naming it."""
    with pytest.raises(agentree.MsgTypeError, match="`y`"):
        decode_payload(_pld({"x": 1}), Point)


def test_typed_payload_builtin_spec() -> None:
    """Builtin generic specs work as well as Structs."""
    assert decode_payload(_pld([1, 2]), list[int]) == [1, 2]
    with pytest.raises(agentree.MsgTypeError, match=r"\$\[1\]"):
        decode_payload(_pld([1, "x"]), list[int])


def test_garbage_payload_is_a_protocol_error() -> None:
    """Bytes that are not msgpack raise ProtocolError, with or without a spec."""
    for spec in (None, Point):
        with pytest.raises(agentree.ProtocolError):
            decode_payload(Raw(b"\xc1"), spec)


def test_deeply_nested_payload_is_a_protocol_error() -> None:
    """A payload nested past the recursion limit is a typed error, not RecursionError."""
    with pytest.raises(agentree.ProtocolError):
        decode_payload(_nested_arrays(100_000))


# -- decode errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xc1", id="invalid-opcode"),
        pytest.param(b"\x92\xa4stop", id="truncated"),
        pytest.param(b"\xdb\xff\xff\xff\xff", id="huge-str-length"),
        pytest.param(encode(Stop(cid=1)) + b"\x00", id="trailing-bytes"),
    ],
)
def test_garbage_is_a_protocol_error(data: bytes) -> None:
    """Bytes that are not one msgpack value raise ProtocolError (not MsgTypeError)."""
    with pytest.raises(agentree.ProtocolError) as info:
        decode_msg(data)
    assert type(info.value) is agentree.ProtocolError
    assert isinstance(info.value.__cause__, msgspec.DecodeError)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        pytest.param({"t": "stop", "cid": 1}, "array", id="map-not-array"),
        pytest.param(["nope", 1], "nope", id="unknown-tag"),
        pytest.param([7, 1], r"\$\[0\]", id="non-str-tag"),
        pytest.param([], "length", id="empty-array"),
        pytest.param(["aid", "n"], "length", id="too-short"),
        pytest.param(["aid", 1, "u", 3], r"\$\[1\]", id="wrong-field-type"),
        pytest.param(["start", 1, "m:f", {}, "bogus-kind"], r"\$\[4\]", id="bad-literal"),
        pytest.param(42, "array", id="scalar"),
        pytest.param(None, "array", id="nil"),
    ],
)
def test_wrong_shape_is_a_msg_type_error(value: object, match: str) -> None:
    """Valid msgpack of the wrong shape, or with an unknown tag, raises MsgTypeError."""
    with pytest.raises(agentree.MsgTypeError, match=match) as info:
        decode_msg(encode(value))
    assert isinstance(info.value.__cause__, msgspec.ValidationError)


def test_deeply_nested_frame_is_a_protocol_error() -> None:
    """A Start whose kwargs nest past the recursion limit is a ProtocolError.

    A peer can send this in a 100 kB frame; a RecursionError here would escape the
    connection's message loop, which only expects ProtocolError/TransportClosed.
    """
    head = b"\x94\xa5start\x01\xa3m:f"
    with pytest.raises(agentree.ProtocolError):
        decode_msg(head + _nested_arrays(100_000))


def test_invalid_utf8_in_a_message_is_a_protocol_error() -> None:
    """A str field holding invalid UTF-8 is a ProtocolError, not UnicodeDecodeError."""
    body = b"\x94\xa3aid\xa1\x80\xa0\x00"  # Aid(name="\x80"...) with a bare 0x80 byte
    with pytest.raises(agentree.ProtocolError):
        decode_msg(body)


@pytest.mark.parametrize(
    ("data", "spec"),
    [
        pytest.param(b"\xa1\x80", None, id="str"),
        pytest.param(b"\xa1\x80", str, id="str-typed"),
        pytest.param(b"\x81\xa1\x80\x01", None, id="map-key"),
        pytest.param(b"\x81\xa1\x80\x01", dict[str, int], id="map-key-typed"),
    ],
)
def test_invalid_utf8_in_a_payload_is_a_protocol_error(data: bytes, spec: object) -> None:
    """Invalid UTF-8 inside a payload is a ProtocolError, with or without a spec."""
    with pytest.raises(agentree.ProtocolError):
        decode_payload(Raw(data), spec)


# -- encode errors ---------------------------------------------------------------------


def test_find_unencodable_names_the_key() -> None:
    """find_unencodable names the one key whose value cannot be encoded."""
    err = find_unencodable({"ok": 1, "also_ok": [1, "2"], "bad": object()}, "pkg.mod:fn")
    assert isinstance(err, agentree.MsgEncodeError)
    assert isinstance(err, TypeError)
    text = str(err)
    assert "'bad'" in text
    assert "pkg.mod:fn" in text
    assert "object" in text
    assert "'ok'" not in text


def test_find_unencodable_names_the_first_bad_key() -> None:
    """With several bad keys, the first one in order is named."""
    err = find_unencodable({"a": 1, "first": 1j, "second": object()}, "f")
    assert "'first'" in str(err)


def test_find_unencodable_without_a_culprit() -> None:
    """When every value encodes alone, the error still says what failed."""
    err = find_unencodable({"a": 1}, "pkg:fn")
    assert isinstance(err, agentree.MsgEncodeError)
    assert "pkg:fn" in str(err)


def test_encode_rejects_unencodable_values() -> None:
    """msgspec's own encoder raises TypeError for unsupported values (find_unencodable's cue)."""
    with pytest.raises(TypeError):
        encode({"x": object()})
