"""The one cached codec: msgpack encoder and decoders for the message union.

Encoders and decoders are built once and reused (building them is the costly
part). Payloads travel as :class:`msgspec.Raw` and are decoded lazily, against a
payload spec when the dialog declares one.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .._exceptions import MsgEncodeError, MsgTypeError, ProtocolError
from ._types import Msg

__all__ = [
    "decode_msg",
    "decode_payload",
    "encode",
    "encode_into",
    "find_unencodable",
]

_encoder = msgspec.msgpack.Encoder()
_msg_decoder = msgspec.msgpack.Decoder(Msg)
_any_decoder: msgspec.msgpack.Decoder[Any] = msgspec.msgpack.Decoder()
_typed_decoders: dict[Any, msgspec.msgpack.Decoder[Any]] = {}

# What msgspec raises for bytes that are not (sane) msgpack: besides DecodeError,
# invalid UTF-8 in a string and nesting too deep to decode.
_MALFORMED = (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError)

encode = _encoder.encode
encode_into = _encoder.encode_into


def decode_msg(data: bytes | bytearray | memoryview) -> Msg:
    """Decode one frame body into a message.

    Raises:
        MsgTypeError: the body is msgpack but not a valid message.
        ProtocolError: the body is not msgpack at all.
    """
    try:
        msg: Msg = _msg_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise MsgTypeError(f"invalid message: {exc}") from exc
    except _MALFORMED as exc:
        raise ProtocolError(f"malformed frame: {exc!r}") from exc
    return msg


def decode_payload(raw: msgspec.Raw | bytes, spec: Any = None) -> Any:
    """Decode a lazily-carried payload, against ``spec`` when given.

    Raises:
        MsgTypeError: the payload does not match ``spec``; the message names the
            offending field and the expected type.
    """
    if spec is None:
        decoder = _any_decoder
    else:
        decoder = _typed_decoders.get(spec) or _typed_decoders.setdefault(
            spec, msgspec.msgpack.Decoder(spec)
        )
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise MsgTypeError(f"payload does not match {_spec_name(spec)}: {exc}") from exc
    except _MALFORMED as exc:
        raise ProtocolError(f"malformed payload: {exc!r}") from exc


def _spec_name(spec: Any) -> str:
    return getattr(spec, "__name__", None) or repr(spec)


def find_unencodable(values: dict[str, Any], what: str) -> MsgEncodeError:
    """Build the error for a dict of values that failed to encode as a whole.

    Encodes each value alone to find the culprit, so the error names it. Only the
    error path pays for this.
    """
    for key, value in values.items():
        try:
            _encoder.encode(value)
        except (TypeError, ValueError, OverflowError) as exc:
            return MsgEncodeError(
                f"argument {key!r} of {what} cannot be sent: {type(value).__name__} "
                f"value is not encodable by msgspec ({exc})"
            )
    return MsgEncodeError(f"arguments of {what} cannot be encoded")
