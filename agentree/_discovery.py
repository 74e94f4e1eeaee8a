"""Discovery: find actors by name or key, and talk to them over direct connections.

The root actor is the tree's registrar. Every actor is registered under its name
as soon as it is spawned, and may register itself under more keys (the agent layer
uses ``"agent:" + path``). Lookups work from any actor in the tree: a request climbs
the tree, through each parent, to the root. The connection to the actor found is
direct (one actor's socket to the other's, authenticated with the tree's secret),
never relayed, and cached: one per pair of actors, until either ends.

Actor names need not be unique: a lookup gives the actor registered last under the
name (the one started most recently), as tractor does.

tractor's names: :func:`find_actor`, :func:`wait_for_actor`, :func:`query_actor` and
:func:`get_registry` (async context managers). For the layers above:
:func:`register`, :func:`unregister`, :func:`lookup`, :func:`wait_for` and
:func:`open_portal`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from ._exceptions import AgentreeError
from ._portal import Portal
from ._runtime import current_actor
from ._runtime._registry import RegistryEntry, check_meta, registry_call
from ._runtime._tcp import connect_registered, wants_tcp

__all__ = [
    "RegistryEntry",
    "find_actor",
    "get_registry",
    "lookup",
    "open_portal",
    "query_actor",
    "register",
    "unregister",
    "wait_for",
    "wait_for_actor",
]


def _check_key(key: object, call: str) -> str:
    if not isinstance(key, str) or not key:
        raise TypeError(f"{call}() needs a non-empty str key, not {key!r}")
    return key


def _entry(value: Any) -> RegistryEntry | None:
    if value is None or isinstance(value, RegistryEntry):
        return value
    return msgspec.convert(value, RegistryEntry)


# -- the registry, for the layers above ------------------------------------------------


async def register(key: str, meta: dict[str, Any] | None = None) -> None:
    """Register the current actor under ``key``, with ``meta`` for those who look it up.

    Registering a key again replaces this actor's ``meta`` and makes it the latest
    holder. The registration is dropped when this actor ends.

    Raises:
        TypeError: ``key`` is not a non-empty str, or ``meta`` is not a dict.
        MsgEncodeError: ``meta`` holds a value msgpack cannot encode.
        NoRuntime: no actor runs here.
    """
    _check_key(key, "register")
    actor = current_actor()
    await registry_call(
        actor, "register", {"key": key, "uid": actor.uid, "meta": check_meta(meta, key)}
    )


async def unregister(key: str) -> None:
    """Remove the current actor's registration under ``key`` (if it has one)."""
    _check_key(key, "unregister")
    actor = current_actor()
    await registry_call(actor, "unregister", {"key": key, "uid": actor.uid})


async def lookup(key: str) -> RegistryEntry | None:
    """The latest registration under ``key``, or ``None`` if nothing holds it."""
    _check_key(key, "lookup")
    return _entry(await registry_call(current_actor(), "lookup", {"key": key}))


async def _lookup_all(key: str) -> list[RegistryEntry]:
    found = await registry_call(current_actor(), "lookup", {"key": key, "every": True})
    return [msgspec.convert(e, RegistryEntry) if isinstance(e, dict) else e for e in found]


async def wait_for(key: str) -> RegistryEntry:
    """Wait until something is registered under ``key`` and return its entry.

    The wait is event-driven and ends with the caller's cancel scope (bound it with
    ``trio.fail_after`` or ``trio.move_on_after``).
    """
    _check_key(key, "wait_for")
    entry = _entry(await registry_call(current_actor(), "wait_for", {"key": key}))
    assert entry is not None
    return entry


async def open_portal(entry: RegistryEntry) -> Portal:
    """A portal to the actor of ``entry``, over a direct, authenticated connection.

    The connection is over the actor's UDS socket when it runs on this host, and
    over TCP (with the same handshake) when it runs on another host or has no
    UDS socket in the tree (a program that joined over TCP): see
    ``RegistryEntry.tcp`` and ``RegistryEntry.host``. It is cached per pair of
    actors (an existing channel to that actor, such as a parent's or child's, is
    used as it is) and closes when either actor ends; calls pending on it then
    raise ``TransportClosed``.

    Raises:
        TransportClosed: the actor has ended (nothing listens at its address).
        AuthenticationError: the handshake with that actor failed.
    """
    if not isinstance(entry, RegistryEntry):
        raise TypeError(f"open_portal() needs a RegistryEntry, not {type(entry).__name__}")
    uid = (entry.uid[0], entry.uid[1])
    conn = await connect_registered(
        current_actor(), entry.key, uid, entry.addr, entry.tcp, entry.host
    )
    return Portal(conn)


# -- tractor's names -------------------------------------------------------------------


@asynccontextmanager
async def find_actor(
    name: str,
    registry_addrs: list[Any] | None = None,
    enable_transports: list[str] | None = None,
    only_first: bool = True,
    raise_on_none: bool = False,
) -> AsyncIterator[Any]:
    """Yield a portal to the actor named ``name``, or ``None`` if there is none.

    With several actors of that name, the one registered last (started most
    recently); with ``only_first=False`` a list of portals to all of them (oldest
    first, empty if none). ``registry_addrs`` and ``enable_transports`` are accepted
    for tractor compatibility and ignored: the tree's root is the registrar, and
    actors talk over UDS on one host and over TCP across hosts.

    Raises:
        AgentreeError: nothing is registered under ``name`` and ``raise_on_none``.
    """
    _check_key(name, "find_actor")
    if only_first:
        entry = await lookup(name)
        if entry is None:
            if raise_on_none:
                raise AgentreeError(f"no actor named {name!r} is registered in this tree")
            yield None
            return
        yield await open_portal(entry)
        return
    entries = await _lookup_all(name)
    if not entries and raise_on_none:
        raise AgentreeError(f"no actor named {name!r} is registered in this tree")
    yield [await open_portal(entry) for entry in entries]


@asynccontextmanager
async def wait_for_actor(name: str, registry_addr: Any = None) -> AsyncIterator[Portal]:
    """Wait until an actor named ``name`` is registered, then yield a portal to it.

    With several, the one registered last. Waits inside the caller's cancel scope.
    ``registry_addr`` is accepted for tractor compatibility and ignored.
    """
    yield await open_portal(await wait_for(name))


@asynccontextmanager
async def query_actor(
    name: str, regaddr: Any = None
) -> AsyncIterator[tuple[str | None, Portal | None]]:
    """Yield ``(addr, None)``: the address of the actor named ``name``, or ``None``.

    Nothing connects to the actor. ``addr`` is the path of its listening socket,
    or its ``"host:port"`` when this actor would reach it over TCP.
    tractor yields the registrar's portal second; here the lookup travels up the
    tree instead, so that is always ``None``. ``regaddr`` is ignored.
    """
    entry = await lookup(name)
    if entry is None:
        yield None, None
    elif wants_tcp(entry.addr, entry.tcp, entry.host):
        yield entry.tcp, None
    else:
        yield entry.addr, None


@asynccontextmanager
async def get_registry(addr: Any = None) -> AsyncIterator[Portal]:
    """Yield a portal to the registrar: the root actor (a direct connection).

    ``addr`` is accepted for tractor compatibility and ignored.
    """
    entry = _entry(await registry_call(current_actor(), "registrar", {}))
    if entry is None:
        raise AgentreeError("this tree has no registrar")
    yield await open_portal(entry)
