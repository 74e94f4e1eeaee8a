"""Join a running tree over TCP from a program started separately.

A tree whose root was opened with ``open_root_actor(bind=(host, port), secret=...)``
accepts programs started on their own (in another terminal, on another host):

- :func:`join_tree` makes this program an actor of that tree, a child of the root or
  of any actor named ``parent``: it serves its ``enable_modules`` to the tree, finds
  the tree's actors with the discovery API and may open nurseries of its own;
- :func:`connect` joins the same way and hands back a portal to one actor of the
  tree, the root or one found by name.

The connection passes the tree's HMAC handshake before anything is read, on both
sides. A joined program is stopped with the actor it joined (its block is cancelled
and ends quietly); when the connection is lost instead (the tree went away, a cable
was cut: noticed within ``LOST_PEER_DEADLINE`` seconds by the TCP heartbeat), its
block is cancelled and :class:`~agentree.TransportClosed` comes out of it.
"""

from __future__ import annotations

import os
import uuid as uuidlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from . import log as agentree_log
from ._exceptions import AgentreeError, AuthenticationError, TransportClosed
from ._ipc import Channel, TcpAddress, make_private_dir, remove_private_dir
from ._ipc._heartbeat import LOST_PEER_DEADLINE
from ._ipc._hostid import host_id
from ._options import check_root_options, tree_secret_of
from ._portal import Portal
from ._runtime import Actor, Conn, RuntimeOptions, actor_runtime, current_actor
from ._runtime import current_actor_or_none as _current_actor_or_none
from ._runtime._lookup import import_enabled
from ._runtime._state import reset_actor, set_actor
from ._runtime._tcp import (
    JOIN_NS,
    LOCATE_NS,
    connect_tcp_peer,
    format_tcp,
    listen_tcp,
    open_tcp_channel,
    parse_tcp,
)
from .msg import Aid

__all__ = ["LOST_PEER_DEADLINE", "connect", "join_tree", "tree_address", "tree_secret"]

TreeAddress = tuple[str, int] | str


def _parse_address(address: TreeAddress) -> TcpAddress:
    if isinstance(address, str):
        return parse_tcp(address)
    return TcpAddress(str(address[0]), int(address[1]))


def _check_secret(secret: bytes | str, call: str) -> bytes:
    check_root_options(call, {"secret": secret})
    value = tree_secret_of(secret)
    if not value:
        raise TypeError(f"{call} needs the tree's secret")
    return value


async def _open(addr: TcpAddress, actor: Actor) -> tuple[Channel, Aid]:
    """Connect to the listener at ``addr``, pass the handshake, swap ``Aid`` messages."""
    try:
        return await open_tcp_channel(addr, actor)
    except AuthenticationError as exc:
        raise AuthenticationError(f"the tree at {addr.host}:{addr.port}: {exc}") from exc
    except TransportClosed as exc:
        raise TransportClosed(f"the tree at {addr.host}:{addr.port}: {exc}") from exc


async def _call_once(
    actor: Actor, chan: Channel, peer: Aid, ns: str, kwargs: dict[str, Any]
) -> Any:
    """One call on a fresh channel, before this program's runtime runs; then close it."""
    conn = Conn(actor, chan, (peer.name, peer.uuid))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.process_messages)
        try:
            return await conn.call(ns, kwargs)
        finally:
            with trio.CancelScope(shield=True):
                await chan.aclose()


async def _serve_parent(actor: Actor, conn: Conn, state: dict[str, bool]) -> None:
    with trio.CancelScope(shield=True):
        await conn.process_messages()
    if not actor.cancel_called and not state["leaving"]:
        state["lost"] = True
        actor.cancel_soon()


@asynccontextmanager
async def join_tree(
    address: TreeAddress,
    secret: bytes | str,
    *,
    name: str,
    parent: str | None = None,
    enable_modules: list[str] | None = None,
    loglevel: str | None = None,
    advertise: str | None = None,
) -> AsyncIterator[Actor]:
    """Make this program an actor of the tree listening at ``address``.

    Args:
        address: the root's TCP address, ``(host, port)`` or ``"host:port"``.
        secret: the tree's secret (the root's ``secret=``).
        name: this actor's name in the tree (found by it with ``find_actor``).
        parent: the name of the actor to join as a child (default: the root). The
            tree looks it up and that actor listens on TCP on the root's interface.
        enable_modules: modules whose functions the tree may call here.
        loglevel: log agentree's records at this level to stderr.
        advertise: the host name or address the tree's actors reach this program
            at. This program listens on TCP (on the local address of its
            connection to the tree) so that actors on other hosts, which cannot
            use its UDS socket, connect to it directly; by default they are told
            the address its parent sees the connection come from. Give it when
            that address is not reachable by them (a NAT).

    Yields:
        This program's actor. Inside the block the discovery API, portals and
        nurseries work as in any actor of the tree.

    Raises:
        AuthenticationError: the tree refused the handshake (wrong secret).
        TransportClosed: nothing listens at ``address``, or the connection was lost
            while the block ran (its block was cancelled first).
        RemoteActorError: the tree knows no actor named ``parent``.
        AgentreeError: an actor runtime already runs in this task tree.
    """
    call = f"join_tree(name={name!r})"
    check_root_options(
        call, {"name": name, "enable_modules": enable_modules, "loglevel": loglevel}
    )
    if advertise is not None and (not isinstance(advertise, str) or not advertise):
        raise TypeError(f"{call}: advertise must be a non-empty str, not {advertise!r}")
    if _current_actor_or_none() is not None:
        raise AgentreeError("an agentree actor is already running in this task tree")
    key = _check_secret(secret, call)
    addr = _parse_address(address)
    actor = Actor(
        name,
        uuidlib.uuid4().hex,
        enable_modules=set(enable_modules or ()),
        options=RuntimeOptions(start_method="subprocess", secret=key, loglevel=loglevel),
    )
    agentree_log.configure(loglevel, name)
    import_enabled(actor.enable_modules)
    chan, hello = await _open(addr, actor)
    if parent is not None and parent != hello.name:
        where = await _call_once(actor, chan, hello, LOCATE_NS, {"name": parent})
        if where["here"]:
            chan, hello = await _open(addr, actor)
        else:
            addr = TcpAddress(str(where.get("host") or addr.host), int(where["port"]))
            chan, hello = await _open(addr, actor)
    tmpdir = make_private_dir()
    actor.options = actor.options.evolve(tmpdir=tmpdir)
    actor.parent_uid = (hello.name, hello.uuid)
    conn = Conn(actor, chan, actor.parent_uid)
    actor.parent_conn = conn
    state = {"lost": False, "leaving": False}
    # The parent's calls are served from a task started before the runtime: they
    # must see this actor too (as in a spawned child, see ``_runtime._serve``).
    token = set_actor(actor)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_serve_parent, actor, conn, state)
            try:
                async with actor_runtime(actor):
                    local = chan.stream.socket.getsockname()[0]  # type: ignore[attr-defined]
                    mine = await listen_tcp(actor, str(local))
                    join = {"port": mine.port, "host": host_id(), "advertise": advertise or ""}
                    settings = await conn.call(JOIN_NS, join)
                    actor.options = actor.options.evolve(**settings)
                    yield actor
            finally:
                with trio.CancelScope(shield=True):
                    await actor.wait_replies_sent()
                    state["leaving"] = True
                    await chan.aclose()
    finally:
        reset_actor(token)
        remove_private_dir(tmpdir)
    if state["lost"]:
        raise TransportClosed(
            f"actor {name!r} lost its parent {hello.name!r} at {addr.host}:{addr.port} "
            "(the tree ended or the connection was cut)"
        )


@asynccontextmanager
async def connect(
    address: TreeAddress,
    secret: bytes | str,
    *,
    actor: str | None = None,
    name: str | None = None,
    enable_modules: list[str] | None = None,
) -> AsyncIterator[Portal]:
    """Join the tree at ``address`` and yield a portal to one of its actors.

    This program joins as a child of the root (see :func:`join_tree`), named
    ``name`` (default ``"client-<pid>"``). The portal is to the root, or to the
    actor registered as ``actor``, reached through discovery over a direct TCP
    connection: at its own TCP address when it has one (a program that joined
    from elsewhere), else it is asked to listen on the root's interface.

    Raises:
        AuthenticationError: the tree refused the handshake (wrong secret).
        TransportClosed: nothing listens at ``address``, or the connection was lost.
        RemoteActorError: no actor is registered as ``actor``.
    """
    async with join_tree(
        address,
        secret,
        name=name or f"client-{os.getpid()}",
        enable_modules=enable_modules,
    ) as me:
        parent = me.parent_conn
        assert parent is not None
        where: dict[str, Any] = {"here": True}
        if actor is not None and actor != parent.peer_name:
            where = await parent.call(LOCATE_NS, {"name": actor})
        if where["here"]:
            yield Portal(parent)
            return
        host = str(where.get("host") or _parse_address(address).host)
        uid = (str(where["uid"][0]), str(where["uid"][1]))
        conn = await connect_tcp_peer(me, uid, format_tcp(host, int(where["port"])))
        yield Portal(conn)


def tree_address() -> tuple[str, int] | None:
    """The TCP address this actor listens on (the root's ``bind``), or ``None``."""
    side = current_actor().tcp
    if side is None or side.address is None:
        return None
    return (side.address.host, side.address.port)


def tree_secret() -> bytes:
    """The secret of the tree this code runs in: give it to programs that join."""
    return current_actor().options.secret
