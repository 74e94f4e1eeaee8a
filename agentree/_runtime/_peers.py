"""Direct connections between actors: each actor's listener and its cached peers.

Every actor binds a UDS socket in the tree's private 0700 directory, named after its
uuid, so that its address is known as soon as its uid is. A child binds before it
answers its parent's handshake (so it is reachable the moment its parent registers
it); the root binds when its runtime starts. Binding is three system calls and
accepting is one task waiting for the socket: nothing else happens until a peer
connects.

A connection, accepted or made, must pass the tree's HMAC handshake (every actor
holds the tree's secret) before anything else is read; then each side sends its
``Aid``, and the connection is served like the parent's channel: the same
``enable_modules``, the same error boxing, calls in both directions. Connections
are cached per peer uid (see :func:`connect_peer`) and dropped when either side
ends; the socket file goes when its actor ends (its parent removes it if the actor
was killed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from .._exceptions import AgentreeError, AuthenticationError, TransportClosed
from .._ipc import Channel, authenticate_client, authenticate_server
from ._conn import Conn
from ._links import PEER_HANDSHAKE_TIMEOUT, Links, find_conn, swap_aids

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = [
    "PEER_HANDSHAKE_TIMEOUT",
    "Peers",
    "bind_peer_listener",
    "connect_peer",
    "find_conn",
    "serve_peers",
    "socket_path",
]

log = logging.getLogger("agentree.runtime")

Uid = tuple[str, str]

_BACKLOG = 128
# After an accept() error such as EMFILE: wait a little before accepting again.
_ACCEPT_BACKOFF = 0.1


def socket_path(tmpdir: str, uuid: str) -> str:
    """The path of the listening socket of the actor with ``uuid`` in a tree."""
    return os.path.join(tmpdir, f"{uuid[:16]}.sock")


class Peers(Links):
    """One actor's listener and its direct connections to other actors.

    Attributes:
        path: the listening socket's path (the actor's address).
        children: the channel of each child this actor spawned, by connection: the
            registry forgets a child when its channel closes.
    """

    def __init__(self, actor: Actor, sock: socket.socket, path: str) -> None:
        super().__init__(actor)
        self.path = path
        self._sock = sock
        self.children: dict[Conn, Uid] = {}

    # -- listening -------------------------------------------------------------------

    async def accept_loop(self) -> None:
        """Accept connections until the listener closes; each is admitted in a task."""
        while self._listening():
            try:
                await trio.lowlevel.wait_readable(self._sock)
            except (trio.ClosedResourceError, OSError):
                return
            if not self._listening():
                return
            try:
                sock, _ = self._sock.accept()
            except BlockingIOError:
                continue
            except OSError as exc:
                log.warning("actor %r cannot accept a connection: %s", self.actor.name, exc)
                await trio.sleep(_ACCEPT_BACKOFF)
                continue
            sock.setblocking(False)
            if not self._start(self._admit, sock):
                sock.close()
                return

    def _listening(self) -> bool:
        return not self.closed

    async def _admit(self, sock: socket.socket) -> None:
        """Authenticate a new connection and serve it; refuse it on any failure."""
        actor = self.actor
        chan = Channel.from_socket(
            sock, max_frame_size=actor.options.max_frame_size, name="peer connection"
        )
        hello = await self._greet(chan)
        if hello is None:
            return
        chan.name = f"actor {hello.name!r}"
        conn = Conn(actor, chan, (hello.name, hello.uuid))
        conn.peer_pid = hello.pid
        await self._serve(conn)

    async def _authenticate(self, chan: Channel) -> None:
        await authenticate_server(chan.stream, self.actor.options.secret)

    async def aclose(self) -> None:
        """Stop listening, remove the socket file and close every peer connection."""
        if self.closed:
            return
        self.closed = True
        self.close_listener()
        await self._close_conns()

    def close_listener(self) -> None:
        """Close the listening socket and remove its file (idempotent)."""
        self.closed = True
        if self._sock.fileno() != -1:
            with contextlib.suppress(RuntimeError):  # outside trio: nobody waits on it
                trio.lowlevel.notify_closing(self._sock)
            self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    # -- connecting ------------------------------------------------------------------

    async def _dial(self, uid: Uid, addr: str) -> Conn:
        """Connect to the UDS socket at ``addr``, pass the handshake, swap ``Aid`` messages."""
        actor = self.actor
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        tsock = trio.socket.from_stdlib_socket(sock)
        try:
            await tsock.connect(addr)
        except OSError as exc:
            tsock.close()
            raise TransportClosed(
                f"cannot connect to actor {uid[0]!r} at {addr}: {exc.strerror or exc}"
            ) from exc
        except BaseException:
            tsock.close()
            raise
        chan = Channel(
            trio.SocketStream(tsock),
            sock=sock,
            max_frame_size=actor.options.max_frame_size,
            initiator=True,
            name=f"actor {uid[0]!r}",
        )
        try:
            await authenticate_client(chan.stream, actor.options.secret)
        except BaseException:
            with trio.CancelScope(shield=True):
                await chan.aclose()
            raise
        hello = await swap_aids(chan, actor, f"actor {uid[0]!r}", AuthenticationError)
        conn = Conn(actor, chan, (hello.name, hello.uuid))
        conn.peer_pid = hello.pid
        return conn

    # -- children --------------------------------------------------------------------

    def forget_socket(self, uuid: str) -> None:
        """Remove the socket file of a child that ended (it may have been killed)."""
        tmpdir = self.actor.options.tmpdir
        if tmpdir is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(socket_path(tmpdir, uuid))


async def connect_peer(actor: Actor, uid: Uid, addr: str) -> Conn:
    """A connection from ``actor`` to the actor ``uid`` listening at ``addr``.

    An open connection to ``uid`` is reused, whichever side made it (the parent's
    channel, a child's, or an earlier peer connection); otherwise a new one is made
    and cached until either actor ends.

    Raises:
        TransportClosed: nothing listens at ``addr`` (the actor ended) or this actor
            is shutting down.
        AuthenticationError: the handshake failed.
        AgentreeError: another actor answers at ``addr``, or this actor cannot make
            direct connections (it has no listener).
    """
    conn = find_conn(actor, uid)
    if conn is not None:
        return conn
    peers = actor.peers
    if peers is None:
        raise AgentreeError(
            f"actor {actor.name!r} cannot connect to other actors: it has no listener "
            "(discovery needs the tree's private directory and secret)"
        )
    return await peers.connect(uid, addr)


def bind_peer_listener(actor: Actor) -> Peers | None:
    """Bind ``actor``'s listening socket (synchronous, cheap) and attach it.

    Connections wait in the socket's backlog until :func:`serve_peers` accepts
    them. Returns ``None`` (and the actor is not reachable) when the tree has no
    private directory or secret, or binding fails.
    """
    if actor.peers is not None:
        return actor.peers
    opts = actor.options
    if opts.tmpdir is None or not opts.secret:
        return None
    path = socket_path(opts.tmpdir, actor.uuid)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        log.warning("actor %r cannot listen at %s: %s", actor.name, path, exc)
        return None
    sock.setblocking(False)
    actor.peers = Peers(actor, sock, path)
    return actor.peers


@asynccontextmanager
async def serve_peers(actor: Actor) -> AsyncIterator[Peers | None]:
    """Accept peer connections around the block (binding first if needed).

    On exit the listener closes, its socket file is removed and every peer
    connection is closed.
    """
    peers = bind_peer_listener(actor)
    if peers is None:
        yield None
        return
    try:
        peers._start(peers.accept_loop)
        yield peers
    finally:
        await peers.aclose()
