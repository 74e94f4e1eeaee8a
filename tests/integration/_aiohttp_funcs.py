"""An aiohttp server for the root and an aiohttp client for an infected child.

The server runs on the root's own asyncio loop (the root runs as an asyncio
guest); the client runs in an infected child and streams what it fetched back
through a context.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import trio
from aiohttp import web

import agentree
from agentree import to_asyncio

MODULE = __name__
TIMEOUT = 30


async def _hello(request: web.Request) -> web.Response:
    return web.Response(text=f"hello from {request.path}")


async def aio_serve(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
    """Serve ``/item/{n}`` on 127.0.0.1 (a port the OS picks) until the trio side ends."""
    app = web.Application()
    app.router.add_get("/item/{n}", _hello)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        to_trio.send_nowait(sock.getsockname()[:2])
        async for _ in from_trio:
            pass
    finally:
        await runner.cleanup()


@asynccontextmanager
async def open_server() -> AsyncIterator[tuple[str, int]]:
    """Run the aiohttp server on this actor's asyncio loop; yield ``(host, port)``."""
    async with to_asyncio.open_channel_from(aio_serve) as (address, _chan):
        host, port = address
        yield host, port


async def aio_fetch(
    to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio, base_url: str, paths: list[str]
) -> None:
    """Fetch every path at once; send each result to trio as it arrives."""
    async with aiohttp.ClientSession(base_url) as session:
        to_trio.send_nowait(len(paths))

        async def fetch(path: str) -> dict[str, Any]:
            async with session.get(path) as resp:
                return {"path": path, "status": resp.status, "body": await resp.text()}

        for done in asyncio.as_completed([fetch(path) for path in paths]):
            to_trio.send_nowait(await done)


@agentree.context
async def fetch_paths(ctx: agentree.Context, base_url: str, paths: list[str]) -> int:
    """Stream what the asyncio client fetched to the opener; return how many."""
    sent = 0
    async with to_asyncio.open_channel_from(aio_fetch, base_url=base_url, paths=paths) as (
        count,
        chan,
    ):
        await ctx.started(count)
        async with ctx.open_stream() as stream:
            async for result in chan:
                await stream.send(result)
                sent += 1
    return sent


@agentree.context
async def serve_http(ctx: agentree.Context) -> None:
    """Run the aiohttp server in this (infected) actor until the context is cancelled."""
    async with open_server() as address:
        await ctx.started(list(address))
        await trio.sleep_forever()


async def collect(portal: agentree.Portal, base_url: str, paths: list[str]) -> list[Any]:
    """Have the fetcher behind ``portal`` fetch ``paths``; return what it streamed."""
    results: list[dict[str, Any]] = []
    async with portal.open_context(fetch_paths, base_url=base_url, paths=paths) as (ctx, count):
        assert count == len(paths)
        async with ctx.open_stream() as stream:
            async for result in stream:
                results.append(result)
        assert await ctx.wait_for_result() == len(paths)
    order = {path: i for i, path in enumerate(paths)}
    return sorted(results, key=lambda r: order[r["path"]])


async def fetch_all_through_child(paths: list[str]) -> list[dict[str, Any]]:
    """The root's main: serve, spawn an infected fetcher, collect its stream."""
    with trio.fail_after(TIMEOUT):
        async with open_server() as (host, port), agentree.open_nursery() as an:
            portal = await an.start_actor("fetcher", enable_modules=[MODULE], infect_asyncio=True)
            results = await collect(portal, f"http://{host}:{port}", paths)
            await portal.cancel_actor()
    return results
