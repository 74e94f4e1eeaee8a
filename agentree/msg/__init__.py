"""L1 wire: message types and the cached codec."""

from ._codec import decode_msg, decode_payload, encode, encode_into, find_unencodable
from ._types import (
    Aid,
    Cancel,
    CancelAck,
    Credit,
    Error,
    Msg,
    Return,
    SpawnSpec,
    Start,
    StartAck,
    Started,
    Stop,
    Yield,
)

__all__ = [
    "Aid",
    "Cancel",
    "CancelAck",
    "Credit",
    "Error",
    "Msg",
    "Return",
    "SpawnSpec",
    "Start",
    "StartAck",
    "Started",
    "Stop",
    "Yield",
    "decode_msg",
    "decode_payload",
    "encode",
    "encode_into",
    "find_unencodable",
]
