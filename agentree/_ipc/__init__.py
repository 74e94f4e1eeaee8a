"""L2 transport: framed msgpack channels over UDS and TCP, and the auth handshake."""

from ._auth import authenticate_client, authenticate_server, new_secret
from ._channel import DEFAULT_MAX_FRAME_SIZE, Channel
from ._transport import (
    Address,
    Listener,
    TcpAddress,
    UdsAddress,
    connect,
    make_private_dir,
    open_listener,
    remove_private_dir,
    socketpair,
)

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "Address",
    "Channel",
    "Listener",
    "TcpAddress",
    "UdsAddress",
    "authenticate_client",
    "authenticate_server",
    "connect",
    "make_private_dir",
    "new_secret",
    "open_listener",
    "remove_private_dir",
    "socketpair",
]
