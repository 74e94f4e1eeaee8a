"""One actor's direct connections of one transport: made once per peer, served, forgotten.

The UDS side (``_peers.Peers``) and the TCP side (``_tcp.TcpSide``) share this:
a connection to a peer is made once (concurrent askers wait for the first, one
lock per peer uid), served like the parent's channel until either side ends, and
closed with its actor. Each side says how to dial a peer (:meth:`Links._dial`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from .._exceptions import AgentreeError, ProtocolError, TransportClosed
from .._ipc import Channel
from ..msg import Aid
from ._conn import Conn

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = ["PEER_HANDSHAKE_TIMEOUT", "Links", "find_conn", "swap_aids"]

log = logging.getLogger("agentree.runtime")

Uid = tuple[str, str]

PEER_HANDSHAKE_TIMEOUT = 5.0


async def swap_aids(chan: Channel, actor: Actor, peer: str, too_slow: type[AgentreeError]) -> Aid:
    """Send ``actor``'s ``Aid`` on ``chan`` (authenticated) and receive the peer's.

    On any failure the channel is closed. ``peer`` names the peer in errors.

    Raises:
        ProtocolError: the peer answered with something else than its ``Aid``.
        AgentreeError: ``too_slow``, when it did not answer within
            ``PEER_HANDSHAKE_TIMEOUT``.
    """
    try:
        with trio.fail_after(PEER_HANDSHAKE_TIMEOUT):
            await chan.send(actor.aid)
            hello = await chan.recv()
        if not isinstance(hello, Aid):
            raise ProtocolError(f"{peer} answered the handshake with {type(hello).__name__}")
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            await chan.aclose()
        if isinstance(exc, trio.TooSlowError):
            raise too_slow(f"{peer} did not finish the handshake in time") from exc
        raise
    return hello


def find_conn(actor: Actor, uid: Uid) -> Conn | None:
    """An open connection of ``actor`` to ``uid``, if it has one (any kind)."""
    for conn in actor._conns:
        if conn.peer_uid == uid and not conn.closed.is_set():
            return conn
    return None


class Links:
    """Connections of one actor over one transport, cached per peer uid.

    Attributes:
        actor: the actor they belong to.
        closed: set once the actor shuts them down: nothing new is served.
    """

    # What a refused connection is called in the log.
    _kind = "connection"

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.closed = False
        self._conns: set[Conn] = set()
        self._connecting: dict[Uid, trio.Lock] = {}

    # -- accepted connections ------------------------------------------------------------

    async def _greet(self, chan: Channel) -> Aid | None:
        """The ``Aid`` of the peer on a new ``chan``, once greeted with ours.

        ``None`` when it is refused (a failed handshake, logged; the channel is
        closed) or handed over (:meth:`_hand_over`).
        """
        actor = self.actor
        try:
            await self._authenticate(chan)
            with trio.fail_after(PEER_HANDSHAKE_TIMEOUT):
                hello = await chan.recv()
                if not isinstance(hello, Aid):
                    raise ProtocolError(f"expected an Aid, got {type(hello).__name__}")
                if self._hand_over(hello, chan):
                    return None
                await chan.send(actor.aid)
        except (AgentreeError, trio.TooSlowError) as exc:
            log.warning("actor %r refused a %s: %s", actor.name, self._kind, exc)
            with trio.CancelScope(shield=True):
                await chan.aclose()
            return None
        except BaseException:
            with trio.CancelScope(shield=True):
                await chan.aclose()
            raise
        return hello

    async def _authenticate(self, chan: Channel) -> None:
        """Run the tree's handshake on an accepted ``chan`` (a hook: already done)."""

    def _hand_over(self, hello: Aid, chan: Channel) -> bool:
        """Whether ``chan``, from ``hello``, goes elsewhere (a hook: no)."""
        return False

    # -- connections made ----------------------------------------------------------------

    def _start(self, fn: Any, *args: Any) -> bool:
        """Start ``fn(*args)`` in the actor's service nursery; ``False`` if it is closing."""
        service = self.actor._service
        if service is None or self.closed:
            return False
        try:
            service.start_soon(fn, *args)
        except RuntimeError:
            return False
        return True

    async def connect(self, uid: Uid, where: str) -> Conn:
        """A connection to actor ``uid`` listening at ``where`` (made once, then cached)."""
        lock = self._connecting.get(uid)
        if lock is None:
            lock = self._connecting[uid] = trio.Lock()
        try:
            async with lock:
                conn = find_conn(self.actor, uid)
                if conn is None:
                    conn = await self._connect(uid, where)
                return conn
        finally:
            if not lock.statistics().tasks_waiting and not lock.locked():
                self._connecting.pop(uid, None)

    async def _connect(self, uid: Uid, where: str) -> Conn:
        actor = self.actor
        if self.closed:
            raise TransportClosed(f"actor {actor.name!r} is shutting down")
        conn = await self._dial(uid, where)
        if conn.peer_uid != tuple(uid):
            with trio.CancelScope(shield=True):
                await conn.chan.aclose()
            name, uuid = conn.peer_uid
            raise AgentreeError(
                f"the actor at {where} is {name!r} ({uuid}), not {uid[0]!r} ({uid[1]})"
            )
        if not self._start(self._serve, conn):
            with trio.CancelScope(shield=True):
                await conn.chan.aclose()
            conn._shut(TransportClosed(f"actor {actor.name!r} is shutting down"))
            raise TransportClosed(f"actor {actor.name!r} is shutting down")
        return conn

    async def _dial(self, uid: Uid, where: str) -> Conn:
        """Connect to ``where`` and pass the handshake: a connection to the actor there.

        Raises:
            TransportClosed: nothing listens at ``where``.
            AuthenticationError: the handshake failed.
        """
        raise NotImplementedError

    async def _serve(self, conn: Conn) -> None:
        """Serve a peer connection until it ends (shielded, like the parent's)."""
        self._conns.add(conn)
        try:
            if self.closed:
                conn._shut(TransportClosed(f"actor {self.actor.name!r} is shutting down"))
                return
            with trio.CancelScope(shield=True):
                await conn.process_messages()
        finally:
            self._conns.discard(conn)
            self._ended(conn)
            with trio.CancelScope(shield=True):
                await conn.chan.aclose()

    def _ended(self, conn: Conn) -> None:
        """``conn`` ended (a hook)."""

    async def _close_conns(self) -> None:
        """Close every connection served here."""
        with trio.CancelScope(shield=True):
            for conn in list(self._conns):
                await conn.chan.aclose()
