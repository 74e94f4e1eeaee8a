"""Functions that the discovery tests run in child actors (all module-level)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import trio

import agentree
from agentree import _discovery
from agentree._runtime._peers import find_conn
from agentree._runtime._state import serving_peer

MODULE = __name__


def getpid() -> int:
    return os.getpid()


def who_calls() -> dict[str, Any]:
    """Who this actor is and which peer the call came from (the connection's peer)."""
    actor = agentree.current_actor()
    peer = serving_peer.get()
    return {
        "me": list(actor.uid),
        "caller": list(peer) if peer is not None else None,
        "is_registrar": actor.is_registrar,
        "is_arbiter": actor.is_arbiter,
    }


def fail(message: str) -> None:
    raise ValueError(message)


async def call_by_name(name: str) -> dict[str, Any] | None:
    """Find actor ``name`` and call :func:`who_calls` there; ``None`` if not found."""
    async with agentree.find_actor(name) as portal:
        if portal is None:
            return None
        return await portal.run(who_calls)


async def find_quickly(name: str) -> bool:
    """Whether ``find_actor(name)`` found something; it must answer within 2 s."""
    with trio.fail_after(2):
        async with agentree.find_actor(name) as portal:
            return portal is not None


async def wait_then_call(name: str, ready_key: str) -> dict[str, Any]:
    """Check ``name`` is absent, say so under ``ready_key``, wait for it and call it."""
    absent_first = await _discovery.lookup(name) is None
    await _discovery.register(ready_key)
    async with agentree.wait_for_actor(name) as portal:
        result = await portal.run(who_calls)
    result["absent_first"] = absent_first
    return result


async def wait_cancelled(key: str, seconds: float) -> bool:
    """Wait for ``key`` inside a scope that expires; whether the scope caught it."""
    with trio.move_on_after(seconds) as scope:
        await _discovery.wait_for(key)
    return scope.cancelled_caught


@agentree.context
async def host(ctx: agentree.Context, name: str) -> None:
    """Start child ``name`` here and keep it until the context ends."""
    async with agentree.open_nursery() as an:
        portal = await an.start_actor(name, enable_modules=[MODULE])
        await ctx.started([list(portal.actor_uid), await portal.run(getpid)])
        await trio.sleep_forever()


async def host_and_stop(name: str) -> bool:
    """Start child ``name``, stop it, and say whether the registry still has it."""
    async with agentree.open_nursery() as an:
        await an.start_actor(name, enable_modules=[MODULE])
        assert await _discovery.lookup(name) is not None
    return await _discovery.lookup(name) is not None


async def register_key(key: str, meta: dict[str, Any] | None = None) -> None:
    await _discovery.register(key, meta)


async def unregister_key(key: str) -> None:
    await _discovery.unregister(key)


async def lookup_key(key: str) -> list[Any] | None:
    entry = await _discovery.lookup(key)
    if entry is None:
        return None
    return [entry.key, list(entry.uid), entry.addr, entry.meta]


async def wait_and_call(key: str) -> dict[str, Any]:
    """Wait for ``key``, open a portal to its actor and call :func:`who_calls`."""
    entry = await _discovery.wait_for(key)
    portal = await _discovery.open_portal(entry)
    result = await portal.run(who_calls)
    result["meta"] = entry.meta
    return result


async def sleep_registered(key: str) -> None:
    """Register ``key``, then sleep until cancelled (or the actor dies)."""
    await _discovery.register(key)
    await trio.sleep_forever()


async def call_until_peer_dies(name: str, key: str) -> str:
    """Call :func:`sleep_registered` in actor ``name``; report how the call ended."""
    async with agentree.find_actor(name) as portal:
        assert portal is not None
        try:
            await portal.run(sleep_registered, key=key)
        except agentree.TransportClosed as exc:
            uid = portal.actor_uid
            gone = find_conn(agentree.current_actor(), uid) is None
            return f"{type(exc).__name__} cached={not gone}"
    return "returned"


async def registrar_uid() -> list[str]:
    async with agentree.get_registry() as portal:
        return list(portal.actor_uid)


async def query(name: str) -> list[Any]:
    async with agentree.query_actor(name) as (addr, reg):
        return [addr, reg]


async def remote_error_over_peer(name: str) -> list[Any]:
    """Call a failing function and a not-exposed one in ``name``; the boxed errors."""
    async with agentree.find_actor(name) as portal:
        assert portal is not None
        out = []
        try:
            await portal.run(fail, message="boom")
        except agentree.RemoteActorError as exc:
            out.append([exc.boxed_type_str, exc.message, list(exc.src_uid)])
        try:
            await portal.run_from_ns("os", "getpid")
        except agentree.RemoteActorError as exc:
            out.append([exc.boxed_type_str, ""])
        return out


async def counter(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


@agentree.context
async def echo(ctx: agentree.Context, first: int) -> str:
    peer = serving_peer.get()
    await ctx.started(first)
    async with ctx.open_stream() as stream:
        async for msg in stream:
            await stream.send(msg * 2)
    return f"done for {peer[0] if peer else None}"


async def context_and_stream_over_peer(name: str) -> list[Any]:
    """Open a context and a one-way stream on actor ``name`` over a direct portal."""
    async with agentree.find_actor(name) as portal:
        assert portal is not None
        got = []
        async with portal.open_context(echo, first=7) as (ctx, first), ctx.open_stream() as stream:
            for i in range(3):
                await stream.send(i)
                got.append(await stream.receive())
        result = await ctx.wait_for_result()
        async with portal.open_stream_from(counter, n=4) as items:
            streamed = [i async for i in items]
        return [first, got, result, streamed]


async def sleep_until_cancelled(key: str) -> None:
    """Register ``key``, sleep; once cancelled register ``key + ":cancelled"``.

    The cancel may come while the registration's answer is on its way (the caller
    saw the key already): that counts as cancelled too.
    """
    try:
        await _discovery.register(key)
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await _discovery.register(key + ":cancelled")


async def cancel_call_over_peer(name: str, key: str) -> str:
    """Start a sleeping call in ``name`` over a direct portal, then cancel it.

    Returns once the callee reported the cancellation, with the callee's name from
    a next call (it keeps serving).
    """
    async with agentree.find_actor(name) as portal:
        assert portal is not None
        async with trio.open_nursery() as tn:
            tn.start_soon(partial(portal.run, sleep_until_cancelled, key=key))
            await _discovery.wait_for(key)
            tn.cancel_scope.cancel()
        await _discovery.wait_for(key + ":cancelled")
        return str((await portal.run(who_calls))["me"][0])


async def concurrent_portals(name: str, n: int) -> list[int]:
    """Open ``n`` portals to ``name`` at once; how many distinct connections they use.

    Also returns how many connections the callee has to this actor.
    """
    entry = await _discovery.lookup(name)
    assert entry is not None
    portals: list[agentree.Portal] = []

    async def one() -> None:
        portals.append(await _discovery.open_portal(entry))

    async with trio.open_nursery() as tn:
        for _ in range(n):
            tn.start_soon(one)
    distinct = len({id(p.channel) for p in portals})
    me = list(agentree.current_actor().uid)
    return [distinct, await portals[0].run(conns_from, uid=me)]


def conns_from(uid: list[str]) -> int:
    """How many open connections this actor has to actor ``uid``."""
    actor = agentree.current_actor()
    return sum(1 for c in actor._conns if list(c.peer_uid) == uid and not c.closed.is_set())
