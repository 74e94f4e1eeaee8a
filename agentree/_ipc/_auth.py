"""Mutual HMAC challenge-response on a fresh connection, with a per-tree secret.

Both sides prove they hold the tree's secret without sending it: each sends a random
nonce and answers the other's with ``HMAC-SHA256(secret, role + nonce_a + nonce_b)``.
A peer that fails, stalls or hangs up gets :class:`~agentree.AuthenticationError`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import trio

from .._exceptions import AuthenticationError

__all__ = ["AUTH_TIMEOUT", "authenticate_client", "authenticate_server", "new_secret"]

AUTH_TIMEOUT = 5.0
_MAGIC = b"AGTR1"
_NONCE = 32
_MAC = 32


def new_secret() -> bytes:
    """Return a fresh random secret for one tree."""
    return secrets.token_bytes(32)


def _mac(secret: bytes, role: bytes, first: bytes, second: bytes) -> bytes:
    return hmac.new(secret, role + first + second, hashlib.sha256).digest()


async def _read_exact(stream: trio.abc.Stream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        try:
            chunk = await stream.receive_some(size - len(data))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise AuthenticationError(f"connection failed during the handshake: {exc}") from exc
        if not chunk:
            raise AuthenticationError("peer hung up during the handshake")
        data += chunk
    return bytes(data)


async def _send(stream: trio.abc.Stream, data: bytes) -> None:
    try:
        await stream.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        raise AuthenticationError(f"connection failed during the handshake: {exc}") from exc


async def authenticate_server(
    stream: trio.abc.Stream,
    secret: bytes,
    timeout: float = AUTH_TIMEOUT,  # noqa: ASYNC109  (the handshake's own deadline)
) -> None:
    """Run the listening side of the handshake.

    Raises:
        AuthenticationError: the client does not know the secret, or stalls.
    """
    with trio.move_on_after(timeout) as scope:
        server_nonce = secrets.token_bytes(_NONCE)
        await _send(stream, _MAGIC + server_nonce)
        reply = await _read_exact(stream, _NONCE + _MAC)
        client_nonce, client_mac = reply[:_NONCE], reply[_NONCE:]
        expected = _mac(secret, b"c", server_nonce, client_nonce)
        if not hmac.compare_digest(client_mac, expected):
            raise AuthenticationError("peer failed the handshake: wrong secret")
        await _send(stream, _mac(secret, b"s", client_nonce, server_nonce))
    if scope.cancelled_caught:
        raise AuthenticationError(f"handshake not completed within {timeout} s")


async def authenticate_client(
    stream: trio.abc.Stream,
    secret: bytes,
    timeout: float = AUTH_TIMEOUT,  # noqa: ASYNC109  (the handshake's own deadline)
) -> None:
    """Run the connecting side of the handshake.

    Raises:
        AuthenticationError: the server does not know the secret, or stalls.
    """
    with trio.move_on_after(timeout) as scope:
        hello = await _read_exact(stream, len(_MAGIC) + _NONCE)
        if not hello.startswith(_MAGIC):
            raise AuthenticationError("peer is not an agentree listener")
        server_nonce = hello[len(_MAGIC) :]
        client_nonce = secrets.token_bytes(_NONCE)
        await _send(stream, client_nonce + _mac(secret, b"c", server_nonce, client_nonce))
        server_mac = await _read_exact(stream, _MAC)
        if not hmac.compare_digest(server_mac, _mac(secret, b"s", client_nonce, server_nonce)):
            raise AuthenticationError("listener failed the handshake: wrong secret")
    if scope.cancelled_caught:
        raise AuthenticationError(f"handshake not completed within {timeout} s")
