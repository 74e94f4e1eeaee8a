"""A research team of four agents, each in its own process, calling each other by path.

- ``fetcher`` (``loop="asyncio"``): an infected-asyncio agent; it serves a few local
  pages with aiohttp on 127.0.0.1 (started in its ``on_start``) and fetches pages
  with aiohttp's client.
- ``reader`` (``def`` methods): turns a page into plain text in its thread pool,
  never on its loop.
- ``embedder`` (``mode="process"``): a CPU-bound "embedding" computed in a pool of
  two worker processes, so it escapes the GIL and the embedder stays responsive.
- ``planner`` (``async def``): finds the others with ``agentree.wait_for_agent`` and
  runs the pipeline for every page at once, under its own cap.

Run it: ``python examples/agents/research_team.py``
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import socket

import msgspec
import trio

import agentree

PAGES = {
    "actors": "<h1>Actors</h1><p>An actor is a process with a mailbox.</p>",
    "supervisors": "<h1>Supervisors</h1><p>Supervisors restart what crashed.</p>",
    "refs": "<h1>Refs</h1><p>A ref names an agent by its path.</p>",
    "modes": "<h1>Modes</h1><p>Async, thread &amp; process methods.</p>",
}


class Fetcher(agentree.Agent, loop="asyncio"):
    """Serves PAGES on 127.0.0.1 and fetches URLs, all with aiohttp on asyncio."""

    max_concurrency = 4

    def __init__(self) -> None:
        self.runner: object = None
        self.base = ""

    async def on_start(self) -> None:
        from aiohttp import web

        async def page(request: web.Request) -> web.Response:
            return web.Response(text=PAGES[request.match_info["name"]], content_type="text/html")

        app = web.Application()
        app.router.add_get("/{name}", page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        self.runner = runner
        self.base = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def on_stop(self, reason: str) -> None:
        from aiohttp import web

        assert isinstance(self.runner, web.AppRunner)
        await self.runner.cleanup()

    async def urls(self) -> list[str]:
        return [f"{self.base}/{name}" for name in PAGES]

    async def fetch(self, url: str) -> str:
        import aiohttp

        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            resp.raise_for_status()
            return await resp.text()


class Reader(agentree.Agent):
    """Blocking work in threads: two pages are read at once."""

    max_threads = 2

    def read(self, page: str) -> str:
        agentree.check_cancelled()
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


class Embedder(agentree.Agent):
    """CPU-bound work in two worker processes."""

    @agentree.method(mode="process", workers=2)
    def embed(self, text: str) -> list[float]:
        digest = text.encode()
        for _ in range(20_000):  # a stand-in for a model
            digest = hashlib.sha256(digest).digest()
        return [round(b / 255, 3) for b in digest[:4]]


class Finding(msgspec.Struct):
    url: str
    text: str
    vector: list[float]


class Planner(agentree.Agent):
    """Finds its teammates by path and runs the pipeline for every page at once."""

    max_concurrency = 4

    async def research(self) -> list[Finding]:
        fetcher = await agentree.wait_for_agent("fetcher", Fetcher)
        reader = await agentree.wait_for_agent("reader", Reader)
        embedder = await agentree.wait_for_agent("embedder", Embedder)
        findings: dict[str, Finding] = {}

        async def one(url: str) -> None:
            page = await fetcher.call(Fetcher.fetch, url)
            text = await reader.call(Reader.read, page)
            vector = await embedder.call(Embedder.embed, text)
            findings[url] = Finding(url, text, vector)

        urls = await fetcher.call(Fetcher.urls)
        async with trio.open_nursery() as tn:
            for url in urls:
                tn.start_soon(one, url)
        return [findings[url] for url in urls]


async def main() -> None:
    async with agentree.open_nursery() as an:
        refs = [
            await an.start_agent(Fetcher, name="fetcher"),
            await an.start_agent(Reader, name="reader"),
            await an.start_agent(Embedder, name="embedder"),
            await an.start_agent(Planner, name="planner"),
        ]
        pids = {ref.path: ref.pid for ref in refs}
        print(f"team: {', '.join(pids)} in {len(set(pids.values()) | {os.getpid()})} processes")
        planner = refs[-1]
        with trio.fail_after(60):
            findings = await planner.call(Planner.research)
        for found in findings:
            name = found.url.rsplit("/", 1)[1]
            print(f"{name}: {found.text!r} -> {found.vector}")
        await an.cancel()
    print("team stopped")


if __name__ == "__main__":
    trio.run(main)
