"""The tree's registry: which actor is reachable at which address, under which keys.

The root actor is the registrar: it alone holds the :class:`Registry`. Every other
actor reaches it through its parent: the registry endpoints below are served by
every actor (whatever its ``enable_modules``), and an actor that is not the root
passes each request on to its own parent, so a request climbs the tree like the
debugger's terminal lock. No actor holds a connection to the root for this, and a
request is ordered with everything else its actor sent up the same channel.

Entries:

- every actor is registered under its name when its parent has spawned it (before
  ``start_actor`` returns), with the address of its listener (see ``_peers``);
- any actor may register itself under other keys (the agent layer uses
  ``"agent:" + path``), with a ``meta`` map;
- an actor's entries, and those of its descendants, are dropped when it ends: its
  parent sees its channel close (also when it was killed) and tells the registrar.

Several actors may hold one key: a lookup gives the one registered last.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from .._exceptions import AgentreeError, MsgEncodeError
from .._ipc._hostid import host_id
from ._hooks import register_endpoint
from ._peers import serve_peers, socket_path
from ._state import current_actor

if TYPE_CHECKING:
    from ._actor import Actor
    from ._conn import Conn

__all__ = [
    "Registry",
    "RegistryEntry",
    "check_meta",
    "child_conn_closed",
    "child_ended",
    "child_failed",
    "child_started",
    "registry_call",
    "serve_discovery",
]

log = logging.getLogger("agentree.runtime")

Uid = tuple[str, str]

# How long a parent waits for the registrar to note a child's start or end.
_NOTE_TIMEOUT = 5.0


class RegistryEntry(msgspec.Struct, frozen=True):
    """One registration: ``key`` is served by actor ``uid``, reachable at ``addr``.

    Attributes:
        key: the registered key (an actor's name, or a key such as
            ``"agent:app/planner"``).
        uid: the ``(name, uuid)`` of the registered actor.
        addr: the path of that actor's listening socket (``""`` if it has none in
            the tree's private directory: a program that joined over TCP).
        meta: what the actor registered along with the key.
        tcp: ``"host:port"`` where that actor listens on TCP for the tree's
            peers, or ``""``: the address for askers on another host.
        host: the id of the host the actor runs on (see ``_ipc._hostid``), or
            ``""`` if unknown (the host of the actor that registered it).
    """

    key: str
    uid: tuple[str, str]
    addr: str
    meta: dict[str, Any] = msgspec.field(default_factory=dict)
    tcp: str = ""
    host: str = ""


class _Record:
    __slots__ = ("addr", "children", "host", "keys", "parent", "tcp")

    def __init__(self, parent: Uid | None, addr: str, tcp: str = "", host: str = "") -> None:
        self.parent = parent
        self.addr = addr
        self.tcp = tcp
        self.host = host
        self.children: set[Uid] = set()
        self.keys: set[str] = set()


class Registry:
    """The registrar's state, held by the root actor: actors and their keys."""

    def __init__(self) -> None:
        self._actors: dict[Uid, _Record] = {}
        # Per key, its holders in registration order: the last one answers lookups.
        self._keys: dict[str, dict[Uid, RegistryEntry]] = {}
        self._changed: dict[str, trio.Event] = {}
        self._root: Uid | None = None

    # -- actors ------------------------------------------------------------------------

    def add_actor(
        self, uid: Uid, parent: Uid | None, addr: str, tcp: str = "", host: str = ""
    ) -> None:
        """Record a running actor (spawned by ``parent``) and register its name.

        ``tcp`` and ``host``: its TCP address and host id, if known (see
        :class:`RegistryEntry`).
        """
        if uid in self._actors:
            return
        if parent is not None and parent not in self._actors:
            # Its parent already ended: so has it, or it is about to.
            log.debug("not registering %r: its parent %r is gone", uid, parent)
            return
        self._actors[uid] = _Record(parent, addr, tcp, host)
        if parent is None:
            self._root = uid
        else:
            self._actors[parent].children.add(uid)
        self.register(uid[0], uid, {})

    def drop_actor(self, uid: Uid) -> None:
        """Forget an actor that ended, its keys, and all its descendants.

        The socket files of its descendants are removed: they are ending with it,
        and may have been killed before they could remove them.
        """
        record = self._actors.pop(uid, None)
        if record is None:
            return
        for child in list(record.children):
            child_record = self._actors.get(child)
            self.drop_actor(child)
            if child_record is not None and child_record.addr:
                with contextlib.suppress(OSError):
                    os.unlink(child_record.addr)
        if record.parent is not None:
            parent = self._actors.get(record.parent)
            if parent is not None:
                parent.children.discard(uid)
        for key in record.keys:
            holders = self._keys.get(key)
            if holders is not None and holders.pop(uid, None) is not None:
                if not holders:
                    del self._keys[key]
                self._wake(key)

    def set_tcp(self, uid: Uid, tcp: str, host: str) -> None:
        """Actor ``uid`` listens on TCP at ``tcp`` (``"host:port"``) on host ``host``."""
        record = self._actors.get(uid)
        if record is None:
            return
        record.tcp, record.host = tcp, host
        for key in record.keys:
            holders = self._keys.get(key, {})
            entry = holders.get(uid)
            if entry is not None:
                holders[uid] = msgspec.structs.replace(entry, tcp=tcp, host=host)
            self._wake(key)

    def registrar(self) -> RegistryEntry | None:
        """The root's own entry (under its name)."""
        if self._root is None:
            return None
        record = self._actors[self._root]
        return RegistryEntry(
            self._root[0], self._root, record.addr, tcp=record.tcp, host=record.host
        )

    # -- keys ----------------------------------------------------------------------------

    def register(self, key: str, uid: Uid, meta: dict[str, Any]) -> None:
        """Register actor ``uid`` under ``key`` (again: as the latest holder)."""
        record = self._actors.get(uid)
        if record is None:
            raise AgentreeError(
                f"cannot register {key!r} for actor {uid[0]!r}: the actor is not "
                "running in this tree (or has ended)"
            )
        holders = self._keys.setdefault(key, {})
        holders.pop(uid, None)
        holders[uid] = RegistryEntry(key, uid, record.addr, meta, tcp=record.tcp, host=record.host)
        record.keys.add(key)
        self._wake(key)

    def unregister(self, key: str, uid: Uid) -> None:
        """Remove actor ``uid``'s registration under ``key``, if any."""
        holders = self._keys.get(key)
        if holders is None or holders.pop(uid, None) is None:
            return
        if not holders:
            del self._keys[key]
        record = self._actors.get(uid)
        if record is not None:
            record.keys.discard(key)
        self._wake(key)

    def lookup(self, key: str) -> RegistryEntry | None:
        """The latest registration under ``key``, or ``None``."""
        holders = self._keys.get(key)
        if not holders:
            return None
        return next(reversed(holders.values()))

    def lookup_all(self, key: str) -> list[RegistryEntry]:
        """Every registration under ``key``, oldest first."""
        return list(self._keys.get(key, {}).values())

    async def wait_for(self, key: str) -> RegistryEntry:
        """Wait until something is registered under ``key``; return the latest."""
        while (entry := self.lookup(key)) is None:
            await self.changed(key)
        await trio.lowlevel.checkpoint()
        return entry

    async def changed(self, key: str) -> None:
        """Wait for the next change of ``key``'s registrations."""
        event = self._changed.get(key)
        if event is None:
            event = self._changed[key] = trio.Event()
        await event.wait()

    def _wake(self, key: str) -> None:
        event = self._changed.pop(key, None)
        if event is not None:
            event.set()


# -- requests, served by every actor and passed up to the root -----------------------

_NS = "agentree._runtime._registry:"


def _uid(value: Any) -> Uid:
    return (str(value[0]), str(value[1]))


def _local(registry: Registry, op: str, kwargs: dict[str, Any]) -> Any:
    if op == "lookup":
        if kwargs.get("every"):
            return registry.lookup_all(kwargs["key"])
        return registry.lookup(kwargs["key"])
    if op == "register":
        registry.register(kwargs["key"], _uid(kwargs["uid"]), kwargs["meta"])
    elif op == "unregister":
        registry.unregister(kwargs["key"], _uid(kwargs["uid"]))
    elif op == "add_actor":
        parent = kwargs["parent"]
        registry.add_actor(
            _uid(kwargs["uid"]),
            None if parent is None else _uid(parent),
            kwargs["addr"],
            kwargs.get("tcp") or "",
            kwargs.get("host") or "",
        )
    elif op == "set_tcp":
        registry.set_tcp(_uid(kwargs["uid"]), kwargs["tcp"], kwargs["host"])
    elif op == "drop_actor":
        registry.drop_actor(_uid(kwargs["uid"]))
    elif op == "registrar":
        return registry.registrar()
    return None


async def registry_call(actor: Actor, op: str, kwargs: dict[str, Any]) -> Any:
    """Run registry operation ``op``: here in the root, else via the parent.

    Results from a parent come decoded as plain values (maps, lists).

    Raises:
        AgentreeError: the actor is not in a tree with a registrar.
        TransportClosed: the parent went away.
        RemoteActorError: the registrar refused the operation.
    """
    registry = actor.registry
    if registry is not None:
        if op == "wait_for":
            return await registry.wait_for(kwargs["key"])
        return _local(registry, op, kwargs)
    parent = actor.parent_conn
    if parent is None:
        raise AgentreeError(f"actor {actor.name!r} has no registrar: it is not in a tree")
    return await parent.call(_NS + op, kwargs)


def _endpoint(op: str) -> Any:
    async def serve(**kwargs: Any) -> Any:
        return await registry_call(current_actor(), op, kwargs)

    serve.__name__ = serve.__qualname__ = op
    return serve


for _op in (
    "add_actor",
    "drop_actor",
    "set_tcp",
    "register",
    "unregister",
    "lookup",
    "wait_for",
    "registrar",
):
    register_endpoint(_NS + _op, _endpoint(_op))


def check_meta(meta: dict[str, Any] | None, key: str) -> dict[str, Any]:
    """Validate a registration's ``meta`` (a map msgpack can encode); a copy."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise TypeError(f"meta of {key!r} must be a dict, not {type(meta).__name__}")
    try:
        msgspec.msgpack.encode(meta)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MsgEncodeError(f"meta of {key!r} cannot be encoded: {exc}") from exc
    return dict(meta)


# -- what a parent tells the registrar about its children ----------------------------


async def child_started(parent: Actor, uid: Uid, conn: Conn) -> None:
    """Register a child that just finished its handshake on ``conn``.

    Awaited before the spawn returns, so that a lookup made after ``start_actor``
    finds the child. Never raises: a parent that cannot reach the registrar is
    itself going away, and its children with it.
    """
    peers = parent.peers
    tmpdir = parent.options.tmpdir
    if peers is None or tmpdir is None:
        return
    peers.children[conn] = uid
    # On this actor's host: a child spawned elsewhere (through Ray) corrects it
    # when it listens on TCP (``set_tcp``).
    kwargs = {
        "uid": uid,
        "parent": parent.uid,
        "addr": socket_path(tmpdir, uid[1]),
        "host": host_id(),
    }
    await _note(parent, "add_actor", kwargs)


async def child_ended(parent: Actor, uid: Uid, conn: Conn | None = None) -> None:
    """Forget a child that ended: its registry entries, and its socket file."""
    peers = parent.peers
    if peers is None:
        return
    if conn is not None:
        peers.children.pop(conn, None)
    peers.forget_socket(uid[1])
    await _note(parent, "drop_actor", {"uid": uid})


def child_failed(parent: Actor, uuid: str) -> None:
    """A child failed its start: remove the socket file it may have bound."""
    if parent.peers is not None:
        parent.peers.forget_socket(uuid)


def child_conn_closed(parent: Actor, conn: Conn) -> None:
    """``conn`` closed: if it was a child's, forget the child now (the root) or soon."""
    peers = parent.peers
    if peers is None:
        return
    uid = peers.children.pop(conn, None)
    if uid is None:
        return
    peers.forget_socket(uid[1])
    if parent.registry is not None:
        parent.registry.drop_actor(uid)
        return
    peers._start(_note, parent, "drop_actor", {"uid": uid})


async def _note(actor: Actor, op: str, kwargs: dict[str, Any]) -> None:
    if actor.registry is not None:
        _local(actor.registry, op, kwargs)
        return
    with trio.CancelScope(shield=True), trio.move_on_after(_NOTE_TIMEOUT):
        try:
            await registry_call(actor, op, kwargs)
        except AgentreeError as exc:
            log.debug("actor %r could not tell the registrar %s: %s", actor.name, op, exc)


@asynccontextmanager
async def serve_discovery(actor: Actor) -> AsyncIterator[None]:
    """Around an actor's runtime: its listener, and in the root the registry."""
    async with serve_peers(actor) as peers:
        if actor.is_root:
            registry = actor.registry = Registry()
            registry.add_actor(
                actor.uid,
                None,
                peers.path if peers is not None else "",
                host=host_id(),
            )
        try:
            yield
        finally:
            if actor.is_root:
                actor.registry = None
