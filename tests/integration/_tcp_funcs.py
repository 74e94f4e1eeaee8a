"""Functions the TCP tree tests call in actors (root, joined programs)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import agentree


def whoami() -> str:
    return agentree.current_actor().name


def pid() -> int:
    return os.getpid()


def fail(msg: str) -> None:
    raise ValueError(msg)


async def call_root_whoami() -> str:
    async with agentree.find_actor("root") as portal:
        assert portal is not None
        return await portal.run(whoami)


async def count(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def call_leaf() -> str:
    async with agentree.find_actor("leaf") as portal:
        assert portal is not None
        return await portal.run(whoami)


def _ends(sock: object) -> dict[str, object]:
    family = sock.family  # type: ignore[attr-defined]
    return {
        "family": family.name,
        "local": list(sock.getsockname()[:2]) if family.name != "AF_UNIX" else [],  # type: ignore[attr-defined]
        "remote": list(sock.getpeername()[:2]) if family.name != "AF_UNIX" else [],  # type: ignore[attr-defined]
    }


async def who_called() -> dict[str, object]:
    """Who called this function, over which connection (seen from the callee)."""
    from agentree._runtime._peers import find_conn
    from agentree._runtime._state import serving_peer

    actor = agentree.current_actor()
    peer = serving_peer.get()
    assert peer is not None
    conn = find_conn(actor, peer)
    assert conn is not None
    return {"me": actor.name, "peer": peer[0], **_ends(conn.chan.stream.socket)}  # type: ignore[attr-defined]


async def call_by_name(name: str) -> dict[str, object]:
    """Find actor ``name`` through discovery and call it: both ends of the connection."""
    async with agentree.find_actor(name) as portal:
        assert portal is not None
        callee = await portal.run(who_called)
        mine = _ends(portal.channel.chan.stream.socket)  # type: ignore[attr-defined]
    async with agentree.query_actor(name) as (addr, _):
        pass
    return {"callee": callee, "caller": mine, "addr": addr}
