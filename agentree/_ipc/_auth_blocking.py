"""The connecting side of the tree's HMAC handshake on a blocking socket.

For a process that must authenticate before any event loop runs: a child hosted by
Ray connects back to its parent and learns from the parent's ``SpawnSpec`` which
loop to run (trio, or asyncio hosting trio). Same protocol as
:func:`agentree._ipc.authenticate_client`.
"""

from __future__ import annotations

import hmac
import secrets
import socket

from .._exceptions import AuthenticationError
from ._auth import _MAC, _MAGIC, _NONCE, AUTH_TIMEOUT, _mac

__all__ = ["authenticate_client_blocking"]


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AuthenticationError("peer hung up during the handshake")
        data += chunk
    return bytes(data)


def authenticate_client_blocking(
    sock: socket.socket, secret: bytes, timeout: float = AUTH_TIMEOUT
) -> None:
    """Run the connecting side of the handshake on blocking ``sock``.

    Raises:
        AuthenticationError: the listener does not know the secret, stalls, or
            hangs up.
    """
    previous = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        hello = _read_exact(sock, len(_MAGIC) + _NONCE)
        if not hello.startswith(_MAGIC):
            raise AuthenticationError("peer is not an agentree listener")
        server_nonce = hello[len(_MAGIC) :]
        client_nonce = secrets.token_bytes(_NONCE)
        sock.sendall(client_nonce + _mac(secret, b"c", server_nonce, client_nonce))
        server_mac = _read_exact(sock, _MAC)
        if not hmac.compare_digest(server_mac, _mac(secret, b"s", client_nonce, server_nonce)):
            raise AuthenticationError("listener failed the handshake: wrong secret")
    except OSError as exc:
        raise AuthenticationError(f"connection failed during the handshake: {exc}") from exc
    finally:
        sock.settimeout(previous)
