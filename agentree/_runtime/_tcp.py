"""An actor's TCP side, for trees that span hosts: its listener and who came in on it.

An actor listens on TCP when it is the root of a tree opened with
``open_root_actor(bind=(host, port))``, when a program asks to join it (the root
then asks it to listen, see :func:`locate`), or when it spawns a child through Ray
(the child connects back). Every connection must first pass the tree's HMAC
handshake (``agentree._ipc._auth``): nothing of an unauthenticated peer is decoded.
Then the peer sends its ``Aid``, and one of three things follows:

- the ``Aid`` names a child this actor is spawning remotely (a Ray-hosted child): the
  channel goes to that spawn, which sends the ``SpawnSpec`` (see ``_spawn._ray``);
- otherwise this actor answers with its own ``Aid`` and serves the connection like
  any peer's. A program that calls the ``join`` endpoint on it becomes a *joined
  child*: registered in the tree under its name (so discovery finds it), asked to
  cancel when this actor ends, and dropped from the registry when its connection
  ends. A program that does not is a plain client (``agentree.connect``).

Actors that can only be reached over TCP (joined programs, Ray-hosted actors, the
default-way descendants of those, see :func:`tcp_interface`, and any actor asked to
by :func:`locate`) listen here too and register that address with their host id
(``set_tcp``); :func:`connect_registered` picks UDS or TCP for an asker from a
registry entry, and locates an actor on another host that does not listen yet.

Every TCP channel carries the kernel heartbeat of ``agentree._ipc._heartbeat``: a
peer that vanishes (cable cut, host down) is noticed within ``LOST_PEER_DEADLINE``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from .._exceptions import AgentreeError, AuthenticationError, TransportClosed
from .._ipc import Channel, TcpAddress, authenticate_client, open_listener
from .._ipc._heartbeat import set_heartbeat
from .._ipc._hostid import host_id
from ..msg import Aid
from ._conn import Conn
from ._hooks import register_endpoint, register_runtime_hook
from ._links import Links, swap_aids
from ._peers import PEER_HANDSHAKE_TIMEOUT, connect_peer, find_conn
from ._registry import RegistryEntry, _note, registry_call
from ._state import current_actor, serving_peer

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = [
    "JOIN_NS",
    "LISTEN_NS",
    "LOCATE_NS",
    "TcpSide",
    "connect_registered",
    "connect_tcp_peer",
    "expect_child",
    "format_tcp",
    "listen_soon",
    "listen_tcp",
    "locate",
    "open_tcp_channel",
    "parse_tcp",
    "tcp_interface",
    "tcp_side",
    "wants_tcp",
]

log = logging.getLogger("agentree.runtime")

Uid = tuple[str, str]

_NS = "agentree._runtime._tcp:"
JOIN_NS = _NS + "join"
LOCATE_NS = _NS + "locate"
_WILDCARDS = ("", "0.0.0.0", "::")


def format_tcp(host: str, port: int) -> str:
    """``"host:port"`` (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_tcp(address: str) -> TcpAddress:
    """The :class:`TcpAddress` of ``"host:port"`` (``"[v6]:port"``).

    Raises:
        ValueError: ``address`` is not of that form.
    """
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"a TCP address is 'host:port' or (host, port), not {address!r}")
    return TcpAddress(host.strip("[]"), int(port))


def wants_tcp(addr: str, tcp: str, host: str) -> bool:
    """Whether an actor registered with ``addr``, ``tcp`` and ``host`` is reached over TCP.

    Over TCP when it has a TCP address and no UDS one, or runs on another host
    than this process; otherwise over its UDS socket.
    """
    if not tcp:
        return False
    return not addr or (bool(host) and host != host_id())


class TcpSide(Links):
    """One actor's TCP listener, its joined children and its TCP clients.

    Attributes:
        address: where the listener is bound (``None`` until it listens).
        joined: the connections of programs that joined this actor as its children.
    """

    _kind = "tcp connection"

    def __init__(self, actor: Actor) -> None:
        super().__init__(actor)
        self.address: TcpAddress | None = None
        self.joined: set[Conn] = set()
        self._pending: dict[str, trio.MemorySendChannel[Channel]] = {}
        self._lock = trio.Lock()
        self._scope: trio.CancelScope | None = None
        # The interface this actor's children listen on (see ``tcp_interface``).
        self.interface = ""

    async def listen(self, host: str, port: int = 0) -> TcpAddress:
        """Listen on ``(host, port)`` unless already listening; the bound address."""
        async with self._lock:
            if self.address is None:
                if self.closed:
                    raise AgentreeError(f"actor {self.actor.name!r} is shutting down")
                service = self.actor._service
                if service is None:
                    raise AgentreeError(f"actor {self.actor.name!r} is not running")
                self.address = await service.start(self._accept_loop, TcpAddress(host, port))
                if self.address.host not in _WILDCARDS:
                    tcp = format_tcp(self.address.host, self.address.port)
                    await _note(
                        self.actor,
                        "set_tcp",
                        {"uid": self.actor.uid, "tcp": tcp, "host": host_id()},
                    )
        return self.address

    async def _accept_loop(
        self, address: TcpAddress, task_status: trio.TaskStatus[TcpAddress]
    ) -> None:
        opts = self.actor.options
        with trio.CancelScope() as self._scope:
            async with open_listener(
                address, secret=opts.secret, max_frame_size=opts.max_frame_size
            ) as listener:
                assert isinstance(listener.address, TcpAddress)
                task_status.started(listener.address)
                log.info("actor %r listens on tcp %s", self.actor.name, listener.address)
                while True:
                    chan = await listener.accept()
                    if not self._start(self._admit, chan):
                        await trio.aclose_forcefully(chan.stream)

    async def _admit(self, chan: Channel) -> None:
        """A peer that passed the secret's handshake: a remote child, a joiner, a client."""
        actor = self.actor
        set_heartbeat(chan.stream.socket)  # type: ignore[attr-defined]
        hello = await self._greet(chan)
        if hello is None:
            return
        chan.name = f"actor {hello.name!r} (tcp)"
        conn = Conn(actor, chan, (hello.name, hello.uuid))
        await self._serve(conn)

    def _hand_over(self, hello: Aid, chan: Channel) -> bool:
        spawn = self._pending.pop(hello.uuid, None)
        if spawn is None:
            return False
        # A child this actor spawns elsewhere: its spawn takes the channel on.
        spawn.send_nowait(chan)
        return True

    def _ended(self, conn: Conn) -> None:
        self.joined.discard(conn)

    async def _dial(self, uid: Uid, tcp: str) -> Conn:
        chan, hello = await open_tcp_channel(parse_tcp(tcp), self.actor)
        return Conn(self.actor, chan, (hello.name, hello.uuid))

    def expect(self, uuid: str) -> trio.MemoryReceiveChannel[Channel]:
        """Wait for the child ``uuid`` spawned elsewhere: its channel arrives here."""
        send, receive = trio.open_memory_channel[Channel](1)
        self._pending[uuid] = send
        return receive

    def forget(self, uuid: str) -> None:
        """Stop waiting for child ``uuid`` (its spawn failed or was cancelled)."""
        self._pending.pop(uuid, None)

    async def adopt(self, conn: Conn, tcp: str = "", host: str = "") -> None:
        """Make the peer on ``conn`` a joined child: registered, stopped with us.

        ``tcp`` and ``host``: where it listens on TCP for the tree's peers, and its
        host id (registered so that discovery hands them out).
        """
        actor = self.actor
        self.joined.add(conn)
        if actor.peers is not None:
            actor.peers.children[conn] = conn.peer_uid
            kwargs = {
                "uid": conn.peer_uid,
                "parent": actor.uid,
                "addr": "",
                "tcp": tcp,
                "host": host,
            }
            await _note(actor, "add_actor", kwargs)

    async def aclose(self) -> None:
        """Stop listening; ask joined children to cancel, then close every channel."""
        self.closed = True
        if self._scope is not None:
            self._scope.cancel()
        opts = self.actor.options
        with trio.CancelScope(shield=True):
            if self.joined:
                with trio.move_on_after(opts.cancel_timeout + opts.terminate_timeout):
                    async with trio.open_nursery() as nursery:
                        for conn in list(self.joined):
                            nursery.start_soon(_stop_joined, conn)
        await self._close_conns()


async def _stop_joined(conn: Conn) -> None:
    with contextlib.suppress(AgentreeError):
        await conn.call("self:cancel", {"canceller": conn.actor.uid})
    await conn.closed.wait()


def tcp_side(actor: Actor) -> TcpSide:
    """``actor``'s TCP side (made on first use)."""
    side: TcpSide | None = actor.tcp
    if side is None:
        side = actor.tcp = TcpSide(actor)
    return side


async def listen_tcp(actor: Actor, host: str, port: int = 0) -> TcpAddress:
    """Make ``actor`` listen on TCP (once); the address it is bound to.

    Raises:
        AgentreeError: the tree has no secret (TCP needs the handshake).
        OSError: the address cannot be bound.
    """
    if not actor.options.secret:
        raise AgentreeError(f"actor {actor.name!r} has no tree secret: it cannot listen on TCP")
    return await tcp_side(actor).listen(host, port)


async def connect_tcp_peer(actor: Actor, uid: Uid, tcp: str) -> Conn:
    """A connection from ``actor`` to actor ``uid`` listening on TCP at ``tcp``.

    As :func:`~agentree._runtime._peers.connect_peer` over UDS: an open connection
    to ``uid`` is reused, a new one passes the tree's handshake and is cached until
    either actor ends.

    Raises:
        TransportClosed: nothing listens at ``tcp`` or this actor is shutting down.
        AuthenticationError: the handshake failed.
        AgentreeError: another actor answers at ``tcp``.
    """
    conn = find_conn(actor, uid)
    if conn is not None:
        return conn
    return await tcp_side(actor).connect(uid, tcp)


async def connect_registered(
    actor: Actor, key: str, uid: Uid, addr: str, tcp: str, host: str
) -> Conn:
    """A connection to the actor registered under ``key`` as ``uid`` (see ``RegistryEntry``).

    Over its UDS socket when it runs on this host; over TCP when it listens on TCP
    and runs on another host (or has no UDS socket). An actor on another host that
    does not listen on TCP (one spawned the default way under the root) is located
    through this actor's parent (:func:`locate`): the request climbs the tree to
    an actor on its host, which asks it to listen.

    Raises:
        TransportClosed: the actor cannot be reached (it ended, or it is on another
            host and cannot be located).
        AuthenticationError: the handshake failed.
    """
    conn = find_conn(actor, uid)
    if conn is not None:
        return conn
    if wants_tcp(addr, tcp, host):
        return await connect_tcp_peer(actor, uid, tcp)
    if not addr or (bool(host) and host != host_id()):
        parent = actor.parent_conn
        if parent is None:
            where = await locate(actor, key, None)
        else:
            where = _seen_through(await parent.call(LOCATE_NS, {"name": key}), parent)
        if where["here"]:
            if parent is None:
                raise AgentreeError(f"actor {actor.name!r} looked itself up as {key!r}")
            return parent
        found = (str(where["uid"][0]), str(where["uid"][1]))
        there = str(where["host"]) or "127.0.0.1"
        return await connect_tcp_peer(actor, found, format_tcp(there, int(where["port"])))
    return await connect_peer(actor, uid, addr)


async def open_tcp_channel(addr: TcpAddress, actor: Actor) -> tuple[Channel, Aid]:
    """Connect to the listener at ``addr``, pass the handshake, swap ``Aid`` messages.

    Raises:
        TransportClosed: nothing listens at ``addr``, or it did not answer in time.
        AuthenticationError: the peer refused the handshake (a wrong secret).
        ProtocolError: the peer answered with something else than its ``Aid``.
    """
    try:
        sock = await trio.to_thread.run_sync(
            socket.create_connection, (addr.host, addr.port), PEER_HANDSHAKE_TIMEOUT
        )
    except OSError as exc:
        raise TransportClosed(f"cannot connect to {addr.host}:{addr.port}: {exc}") from exc
    sock.setblocking(False)
    # Over the plain socket: the channel's fast path reads and writes it directly.
    chan = Channel.from_socket(
        sock, max_frame_size=actor.options.max_frame_size, initiator=True, name=str(addr)
    )
    try:
        await authenticate_client(chan.stream, actor.options.secret)
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            await chan.aclose()
        if isinstance(exc, AuthenticationError):
            raise AuthenticationError(
                f"the actor at {addr.host}:{addr.port} refused {actor.name!r}: {exc} "
                "(is the secret right?)"
            ) from exc
        raise
    set_heartbeat(sock)
    hello = await swap_aids(chan, actor, f"the actor at {addr.host}:{addr.port}", TransportClosed)
    chan.name = f"actor {hello.name!r} at {addr.host}:{addr.port}"
    return chan, hello


def expect_child(actor: Actor, uuid: str) -> trio.MemoryReceiveChannel[Channel]:
    """Receive the channel of child ``uuid`` when it connects to ``actor`` over TCP."""
    return tcp_side(actor).expect(uuid)


# -- endpoints, served by every actor ------------------------------------------------------


def _calling_conn(actor: Actor) -> Conn:
    peer = serving_peer.get()
    conn = None if peer is None else find_conn(actor, peer)
    if conn is None:
        raise AgentreeError("this endpoint is for a peer connected over TCP")
    return conn


async def _join(port: int = 0, host: str = "", advertise: str = "", **_: Any) -> dict[str, Any]:
    """The caller becomes a joined child of this actor; the tree's settings for it.

    Args:
        port: the port the caller listens on for the tree's peers (0: none).
        host: the caller's host id.
        advertise: the host name or address peers reach it at (default: the
            address this actor sees its connection come from).
    """
    actor = current_actor()
    side = tcp_side(actor)
    conn = _calling_conn(actor)
    if conn not in side._conns:
        raise AgentreeError(f"only a program connected over TCP can join actor {actor.name!r}")
    tcp = ""
    if port:
        if not advertise:
            sock = conn.chan.stream.socket  # type: ignore[attr-defined]
            advertise = str(sock.getpeername()[0])
        tcp = format_tcp(advertise, int(port))
    await side.adopt(conn, tcp, str(host))
    opts = actor.options
    return {
        "max_frame_size": opts.max_frame_size,
        "cancel_timeout": opts.cancel_timeout,
        "terminate_timeout": opts.terminate_timeout,
        "loglevel": opts.loglevel,
        "debug_mode": opts.debug_mode,
    }


def _tcp_sock(conn: Conn | None) -> socket.socket | None:
    """The socket of ``conn`` when it is a TCP connection."""
    sock = None if conn is None else getattr(conn.chan.stream, "socket", None)
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return sock  # type: ignore[no-any-return]


def tcp_interface(actor: Actor) -> str:
    """The interface ``actor``'s default-way children listen on TCP on (``""``: none).

    An actor reached over TCP (a Ray-hosted actor, a joined program) has a tree
    that may span hosts below it: its children listen on the interface of its TCP
    link to its parent, and pass it on to theirs. A tree that never touches TCP
    gets ``""``: its children do not listen.
    """
    side: TcpSide | None = actor.tcp
    if side is not None and side.interface:
        return side.interface
    sock = _tcp_sock(actor.parent_conn)
    return "" if sock is None else str(sock.getsockname()[0])


def listen_soon(actor: Actor, host: str) -> None:
    """Make ``actor`` listen on TCP on ``host`` in the background (see :func:`tcp_interface`).

    Its children inherit ``host``. A failure to listen is a logged warning: the
    actor runs on, reachable by its parent and on its own host.
    """
    tcp_side(actor).interface = host
    tcp_side(actor)._start(_listen_quietly, actor, host)


async def _listen_quietly(actor: Actor, host: str) -> None:
    try:
        await listen_tcp(actor, host)
    except (AgentreeError, OSError) as exc:
        log.warning("actor %r does not listen on tcp at %s: %s", actor.name, host, exc)


def _on_this_host(entry: RegistryEntry) -> bool:
    return bool(entry.addr) and (not entry.host or entry.host == host_id())


async def _lookup(actor: Actor, name: str) -> RegistryEntry:
    found = await registry_call(actor, "lookup", {"key": name})
    if found is None:
        raise AgentreeError(f"no actor named {name!r} is registered in this tree")
    return found if isinstance(found, RegistryEntry) else RegistryEntry(**found)


async def _tcp_registered(actor: Actor, name: str, entry: RegistryEntry) -> RegistryEntry:
    """In the registrar: ``entry`` once its actor, on another host, registers its TCP address.

    Such an actor listens (it descends from an actor reached over TCP), but it
    registers its address right after it starts: a lookup may come first.
    """
    registry = actor.registry
    if registry is None:
        return entry
    with trio.move_on_after(PEER_HANDSHAKE_TIMEOUT):
        while not entry.tcp:
            await registry.changed(name)
            found = registry.lookup(name)
            if found is None or found.uid != entry.uid:
                break
            entry = found
    return entry


async def locate(actor: Actor, name: str, calling: Conn | None) -> dict[str, Any]:
    """Where a TCP peer reaches the actor ``name``: here, or at ``host:port``.

    ``calling``: the connection the question came on. An actor on this host is
    asked to listen on TCP (on the interface ``calling`` reached this actor at);
    one on another host that does not listen is located by this actor's parent,
    and the root waits for it to register its TCP address (see
    :func:`tcp_interface`). A ``host`` of ``""`` is the host the asker reached
    this actor at.

    Raises:
        AgentreeError: no actor is registered as ``name``.
        TransportClosed: it runs on another host and cannot be located.
    """
    if name == actor.name:
        return {"here": True}
    entry = await _lookup(actor, name)
    uid = (entry.uid[0], entry.uid[1])
    if uid == actor.uid:
        return {"here": True}
    if not entry.tcp and not _on_this_host(entry):
        entry = await _tcp_registered(actor, name, entry)
    if entry.tcp:
        where = parse_tcp(entry.tcp)
        return {"here": False, "host": where.host, "port": where.port, "uid": list(uid)}
    if _on_this_host(entry):
        return await _ask_to_listen(actor, uid, entry.addr, _tcp_sock(calling))
    parent = actor.parent_conn
    if parent is None:
        raise TransportClosed(
            f"actor {name!r} runs on another host ({entry.host}) and does not listen on TCP"
        )
    return _seen_through(await parent.call(LOCATE_NS, {"name": name}), parent)


async def _ask_to_listen(
    actor: Actor, uid: Uid, addr: str, calling: socket.socket | None
) -> dict[str, Any]:
    """Ask the actor ``uid`` of this host to listen on TCP; where it listens."""
    side = tcp_side(actor)
    if calling is not None:
        host = str(calling.getsockname()[0])
    elif side.address is not None:
        host = side.address.host
    else:
        host = tcp_interface(actor) or "0.0.0.0"
    target = await connect_peer(actor, uid, addr)
    bound = await target.call(LISTEN_NS, {"host": host})
    there = str(bound[0])
    if there in _WILDCARDS:
        # Listening on every interface: the address this actor reaches it at, if
        # that is over TCP; else where the asker reached this actor ("": unknown).
        via = _tcp_sock(target)
        if via is not None:
            there = str(via.getpeername()[0])
        else:
            there = "" if calling is None else str(calling.getsockname()[0])
    return {"here": False, "host": there, "port": int(bound[1]), "uid": list(uid)}


def _seen_through(where: dict[str, Any], parent: Conn) -> dict[str, Any]:
    """``where`` (the parent's answer to ``locate``) as seen from this actor."""
    sock = _tcp_sock(parent)
    if sock is None:
        return where
    if where["here"]:
        ip, port = sock.getpeername()[:2]
        return {"here": False, "host": str(ip), "port": int(port), "uid": list(parent.peer_uid)}
    if not where.get("host") or where["host"] in _WILDCARDS:
        return {**where, "host": str(sock.getpeername()[0])}
    return where


async def _locate(name: str) -> dict[str, Any]:
    """The ``locate`` endpoint (see :func:`locate`)."""
    actor = current_actor()
    peer = serving_peer.get()
    return await locate(actor, name, None if peer is None else find_conn(actor, peer))


async def _listen(host: str = "") -> list[Any]:
    """Listen on TCP on ``host`` (once); the bound ``[host, port]``.

    With no ``host``: on the local address of this actor's TCP channel to its
    parent (where a child hosted on another node is reachable).
    """
    actor = current_actor()
    if not host:
        sock = _tcp_sock(actor.parent_conn)
        if sock is None:
            raise AgentreeError(f"actor {actor.name!r} is not connected to its parent over TCP")
        host = str(sock.getsockname()[0])
    bound = await listen_tcp(actor, host)
    return [bound.host, bound.port]


LISTEN_NS = _NS + "listen"


register_endpoint(JOIN_NS, _join)
register_endpoint(LOCATE_NS, _locate)
register_endpoint(LISTEN_NS, _listen)


@asynccontextmanager
async def _tcp_runtime(actor: Actor) -> AsyncIterator[None]:
    try:
        yield
    finally:
        side: TcpSide | None = actor.tcp
        if side is not None:
            with trio.CancelScope(shield=True):
                await side.aclose()


register_runtime_hook("tcp", _tcp_runtime)
