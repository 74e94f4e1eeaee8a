"""An aiohttp client in an infected actor, an aiohttp server in an infected root.

The root runs with asyncio as its main loop (``agentree.run_as_asyncio_guest``), so
an aiohttp server runs natively on it, here on 127.0.0.1 with a port the OS picks.
A child started with ``infect_asyncio=True`` fetches pages from it with an aiohttp
client, several at once, and streams each response back to the root through a
context as soon as it arrives. Needs ``pip install 'agentree[asyncio]'``.

Run it from the repository root::

    python examples/infected_asyncio/aiohttp_fetch.py
"""

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

import agentree
from agentree import to_asyncio

PAGES = [f"/page/{n}" for n in range(1, 9)]


async def page(request: web.Request) -> web.Response:
    return web.Response(text=f"{request.path} served by pid {os.getpid()}")


async def aio_serve(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
    """Serve ``/page/{n}`` until the trio side is done; its first value is the address."""
    app = web.Application()
    app.router.add_get("/page/{n}", page)
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
async def open_server() -> AsyncIterator[str]:
    """Run the aiohttp server on this (infected) actor's asyncio loop; yield its URL."""
    async with to_asyncio.open_channel_from(aio_serve) as ((host, port), _chan):
        yield f"http://{host}:{port}"


async def aio_fetch(
    to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio, url: str, paths: list[str]
) -> None:
    """Fetch every path concurrently; send each result to trio as it arrives."""
    async with aiohttp.ClientSession(url) as session:
        to_trio.send_nowait(len(paths))

        async def fetch(path: str) -> dict[str, object]:
            async with session.get(path) as resp:
                return {"path": path, "status": resp.status, "text": await resp.text()}

        for next_done in asyncio.as_completed([fetch(path) for path in paths]):
            to_trio.send_nowait(await next_done)


@agentree.context
async def fetcher(ctx: agentree.Context, url: str, paths: list[str]) -> int:
    """The child's trio side: stream what the asyncio client got to the root."""
    sent = 0
    async with to_asyncio.open_channel_from(aio_fetch, url=url, paths=paths) as (count, chan):
        await ctx.started(count)
        async with ctx.open_stream() as stream:
            async for result in chan:
                await stream.send(result)
                sent += 1
    return sent


async def main() -> None:
    async with open_server() as url, agentree.open_nursery() as an:
        infected = agentree.current_actor().is_infected_aio()
        print(f"root infected: {infected}; aiohttp server on 127.0.0.1")
        portal = await an.start_actor("fetcher", enable_modules=[__name__], infect_asyncio=True)
        async with portal.open_context(fetcher, url=url, paths=PAGES) as (ctx, count):
            print(f"fetcher is fetching {count} pages with aiohttp")
            got = []
            async with ctx.open_stream() as stream:
                async for result in stream:
                    got.append(result["path"])
                    assert result["status"] == 200
                    assert result["text"] == f"{result['path']} served by pid {os.getpid()}"
            print(f"fetcher returned {await ctx.wait_for_result()}")
        print(f"streamed back in arrival order: {len(got)} pages, all 200")
        print(f"every page arrived once: {sorted(got) == sorted(PAGES)}")
        print("every page was served by the root process")
        await portal.cancel_actor()
    print("server stopped, fetcher reaped")


if __name__ == "__main__":
    agentree.run_as_asyncio_guest(main)
