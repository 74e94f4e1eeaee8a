"""Transports: UDS (default) and TCP, plus the private directory for socket files.

Parent and child talk over an ``AF_UNIX`` socketpair made before the spawn (no socket
file, nothing to authenticate). Listeners are for everything else: a UDS listener
binds inside the tree's private 0700 directory; a TCP listener authenticates every
connection with the tree's secret before handing it out.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import trio

from .._exceptions import AuthenticationError, TransportClosed
from ._auth import authenticate_client, authenticate_server
from ._channel import DEFAULT_MAX_FRAME_SIZE, Channel

__all__ = [
    "TcpAddress",
    "UdsAddress",
    "connect",
    "make_private_dir",
    "open_listener",
    "remove_private_dir",
    "socketpair",
]

TMP_PREFIX = "agentree-"
_ACCEPT_BACKLOG = 16


@dataclass(frozen=True)
class UdsAddress:
    """A Unix socket path (inside a private directory)."""

    path: str


@dataclass(frozen=True)
class TcpAddress:
    """A TCP host and port."""

    host: str
    port: int


Address = UdsAddress | TcpAddress


def make_private_dir() -> str:
    """Create a fresh ``agentree-*`` temp directory that only this user can enter."""
    path = tempfile.mkdtemp(prefix=TMP_PREFIX)
    os.chmod(path, stat.S_IRWXU)
    return path


def remove_private_dir(path: str) -> None:
    """Remove a directory made by :func:`make_private_dir` and all it holds."""
    shutil.rmtree(path, ignore_errors=True)


def socketpair() -> tuple[socket.socket, socket.socket]:
    """Make a connected UDS pair: one end for us, one to hand to a child."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setblocking(False)
    return ours, theirs


class Listener:
    """Accepts channels on one address; TCP connections must pass the handshake.

    Handshakes run concurrently, each bounded by its own timeout, so a client that
    stalls or fails never holds up the next one. Get one from :func:`open_listener`.
    """

    def __init__(
        self,
        listener: trio.SocketListener,
        address: Address,
        secret: bytes | None,
        max_frame_size: int,
    ) -> None:
        self._listener = listener
        self.address = address
        self._secret = secret
        self._max_frame_size = max_frame_size
        self._ready_send, self._ready = trio.open_memory_channel[Channel](_ACCEPT_BACKLOG)

    async def accept(self) -> Channel:
        """Wait for the next peer that completed the handshake (if one is required)."""
        return await self._ready.receive()

    async def _accept_loop(self, nursery: trio.Nursery) -> None:
        while True:
            try:
                stream = await self._listener.accept()
            except trio.ClosedResourceError:
                return
            nursery.start_soon(self._admit, stream)

    async def _admit(self, stream: trio.SocketStream) -> None:
        if self._secret is not None:
            try:
                await authenticate_server(stream, self._secret)
            except AuthenticationError:
                await trio.aclose_forcefully(stream)
                return
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
        chan = Channel(stream, max_frame_size=self._max_frame_size, name="peer")
        try:
            await self._ready_send.send(chan)
        except trio.ClosedResourceError:
            await trio.aclose_forcefully(stream)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise

    async def aclose(self) -> None:
        """Stop listening, drop peers nobody accepted, remove the socket file if any."""
        await self._listener.aclose()
        self._ready_send.close()
        while True:
            try:
                chan = self._ready.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            await trio.aclose_forcefully(chan.stream)
        if isinstance(self.address, UdsAddress):
            with suppress(FileNotFoundError):
                os.unlink(self.address.path)


@asynccontextmanager
async def open_listener(
    address: Address,
    *,
    secret: bytes | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
) -> AsyncIterator[Listener]:
    """Listen on ``address``; with a ``secret`` every peer must pass the handshake.

    TCP requires the secret; a UDS socket in the private 0700 directory may go
    without (only this user can reach it).

    A TCP port of 0 picks a free port: read the bound one from ``listener.address``.
    """
    if isinstance(address, TcpAddress):
        if not secret:
            raise ValueError("a TCP listener needs a secret for its handshake")
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        await sock.bind((address.host, address.port))
        address = TcpAddress(address.host, sock.getsockname()[1])
    else:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(address.path)
    sock.listen(128)
    listener = Listener(trio.SocketListener(sock), address, secret, max_frame_size)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(listener._accept_loop, nursery)
            try:
                yield listener
            finally:
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await listener.aclose()


async def connect(
    address: Address,
    *,
    secret: bytes | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
) -> Channel:
    """Connect to a listener, running the handshake when a ``secret`` is given.

    TCP requires the secret; a UDS listener in the private directory may go without.

    Raises:
        TransportClosed: nothing listens there.
        AuthenticationError: the handshake failed.
    """
    try:
        if isinstance(address, TcpAddress):
            stream: trio.SocketStream = await trio.open_tcp_stream(address.host, address.port)
        else:
            stream = await trio.open_unix_socket(address.path)
    except OSError as exc:
        raise TransportClosed(f"cannot connect to {address}: {exc}") from exc
    if isinstance(address, TcpAddress) and not secret:
        await stream.aclose()
        raise ValueError("a TCP connection needs the tree's secret")
    if secret:
        try:
            await authenticate_client(stream, secret)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
    return Channel(stream, max_frame_size=max_frame_size, initiator=True, name=str(address))
