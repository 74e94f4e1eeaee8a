"""Agent classes for the agent-layer tests (agents import them by name)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from typing import Any

import msgspec
import trio

import agentree
from agentree import Agent, method

TIMEOUT = 30


class Counter(msgspec.Struct):
    n: int = 0
    started: bool = False


class Point(msgspec.Struct):
    x: int
    y: int


class Basic(Agent, state=Counter):
    """Async, sync and context methods; identity; errors."""

    def __init__(self, base: int, *, label: str = "") -> None:
        self.base = base
        self.label = label

    async def on_start(self) -> None:
        self.state.started = True

    async def add(self, x: int, y: int = 0) -> int:
        self.state.n += 1
        return self.base + x + y

    def sync_add(self, x: int) -> int:
        return self.base + x

    async def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "incarnation": self.incarnation,
            "pid": os.getpid(),
            "label": self.label,
            "state": msgspec.to_builtins(self.state),
        }

    async def fail(self, message: str) -> None:
        raise ValueError(message)

    def sync_fail(self) -> None:
        raise KeyError("sync")

    async def shift(self, p: Point, by: tuple[int, int], *, scale: Point | None = None) -> Point:
        assert isinstance(p, Point), p
        assert isinstance(by, tuple), by
        assert scale is None or isinstance(scale, Point), scale
        k = scale.x if scale else 1
        return Point((p.x + by[0]) * k, (p.y + by[1]) * k)

    @method(mode="process")
    def manhattan(self, p: Point) -> int:
        assert isinstance(p, Point), p
        return abs(p.x) + abs(p.y)

    def pair(self, points: list[Point]) -> tuple[int, str]:
        assert all(isinstance(p, Point) for p in points), points
        return len(points), "points"

    def _private(self) -> None:
        raise AssertionError("never called")

    @agentree.context
    async def echo(self, ctx: agentree.Context, greeting: str) -> str:
        await ctx.started(f"{greeting} from {self.name}")
        async with ctx.open_stream() as stream:
            async for item in stream:
                await stream.send(item * 2)
        return "done"


def not_a_method(agent: Basic, x: int) -> int:
    return x


class Other(Agent):
    async def ping(self) -> str:
        return "pong"


class Capped(Agent):
    """Records the start order and how many calls run at once, per cap."""

    max_concurrency = 3
    groups = {"llm": 2, "ctl": 1}  # noqa: RUF012

    def __init__(self) -> None:
        self.gate = trio.Event()
        self.running = {"default": 0, "llm": 0}
        self.peak = {"default": 0, "llm": 0}
        self.order: dict[str, list[int]] = {"default": [], "llm": []}
        self.both_full = False

    def _enter(self, kind: str, i: int) -> None:
        self.running[kind] += 1
        self.peak[kind] = max(self.peak[kind], self.running[kind])
        self.order[kind].append(i)
        if self.running == {"default": 3, "llm": 2}:
            self.both_full = True

    async def work(self, i: int) -> int:
        self._enter("default", i)
        try:
            await self.gate.wait()
        finally:
            self.running["default"] -= 1
        return i

    @method(group="llm")
    async def llm(self, i: int) -> int:
        self._enter("llm", i)
        try:
            await self.gate.wait()
        finally:
            self.running["llm"] -= 1
        return i

    @method(group="ctl")
    async def open_gate(self) -> None:
        self.gate.set()

    @method(group="ctl")
    async def stats(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "peak": self.peak,
            "order": self.order,
            "both_full": self.both_full,
        }


class Threads(Agent):
    """Thread-mode methods: serial by default, a pool of 4 here."""

    max_threads = 4

    def __init__(self) -> None:
        self.barrier = threading.Barrier(4, timeout=TIMEOUT)
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.threads: set[int] = set()
        self.loop_thread = 0
        self.started = trio.Event()
        self.cancelled = trio.Event()

    async def on_start(self) -> None:
        self.loop_thread = threading.get_ident()

    def meet(self) -> int:
        """Returns only once 4 calls wait at the barrier at the same time."""
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.get_ident())
        try:
            return self.barrier.wait()
        finally:
            with self.lock:
                self.running -= 1

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self.loop_thread

    def spin_until_cancelled(self) -> None:
        trio.from_thread.run_sync(self.started.set)
        deadline = time.monotonic() + TIMEOUT
        try:
            while time.monotonic() < deadline:
                agentree.check_cancelled()
                time.sleep(0.005)
        except agentree.CallCancelled:
            trio.from_thread.run_sync(self.cancelled.set)
            raise

    async def wait_started(self) -> None:
        await self.started.wait()

    async def wait_cancelled(self) -> None:
        await self.cancelled.wait()

    async def peak_running(self) -> tuple[int, int]:
        return self.peak, len(self.threads)


class Serial(Agent):
    """max_threads = 1 (the default): thread-mode calls run one at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def step(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(0.01)
        with self.lock:
            self.running -= 1

    async def peak_running(self) -> int:
        return self.peak


class Cancellable(Agent):
    def __init__(self) -> None:
        self.started = trio.Event()
        self.cancelled = trio.Event()

    async def hang(self) -> None:
        self.started.set()
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            self.cancelled.set()
            raise

    async def wait_started(self) -> None:
        await self.started.wait()

    async def wait_cancelled(self) -> None:
        await self.cancelled.wait()

    async def ping(self) -> int:
        return os.getpid()


class Crashy(Agent):
    """Crashes: by a crash_on_error method or by a failing background task."""

    def __init__(self) -> None:
        self.trigger = trio.Event()
        self.inflight = 0
        self.all_in = trio.Event()

    async def on_start(self) -> None:
        self.start_soon(self._background)

    async def _background(self) -> None:
        await self.trigger.wait()
        raise RuntimeError("background task failed")

    async def pull_trigger(self) -> None:
        self.trigger.set()

    @method(crash_on_error=True)
    async def fatal(self) -> None:
        raise ValueError("fatal error")

    async def hang(self, expected: int) -> None:
        self.inflight += 1
        if self.inflight >= expected:
            self.all_in.set()
        await trio.sleep_forever()

    async def wait_inflight(self) -> int:
        await self.all_in.wait()
        return os.getpid()


class FailsOnStart(Agent):
    async def on_start(self) -> None:
        raise RuntimeError(f"on_start failed in pid {os.getpid()}")


class Stopping(Agent):
    def __init__(self, marker: str) -> None:
        self.marker = marker

    @method(crash_on_error=True)
    async def crash(self) -> None:
        raise RuntimeError("crash")

    async def on_stop(self, reason: str) -> None:
        await trio.Path(self.marker).write_text(reason)

    async def ping(self) -> str:
        return "pong"


class Fetcher(Agent, loop="asyncio"):
    """An infected-asyncio agent that serves a page with aiohttp and fetches it."""

    max_concurrency = 2

    def __init__(self) -> None:
        self.port = 0
        self.runner: Any = None
        self.running = 0
        self.peak = 0

    async def on_start(self) -> None:
        from aiohttp import web

        async def hello(request: web.Request) -> web.Response:
            return web.Response(text=f"hello {request.match_info['n']}")

        app = web.Application()
        app.router.add_get("/item/{n}", hello)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self.runner, sock).start()

    async def on_stop(self, reason: str) -> None:
        await self.runner.cleanup()

    async def fetch(self, n: int) -> str:
        import aiohttp

        assert asyncio.current_task() is not None
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(0.01)
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{self.port}/item/{n}") as resp,
            ):
                return await resp.text()
        finally:
            self.running -= 1

    async def peak_running(self) -> int:
        return self.peak


class Team(Agent):
    """Starts a nested agent and keeps it for its own life."""

    def __init__(self) -> None:
        self.reader: agentree.AgentRef[Basic] | None = None
        self.ready = trio.Event()

    async def on_start(self) -> None:
        self.start_soon(self._keep_reader)
        await self.ready.wait()

    async def _keep_reader(self) -> None:
        async with agentree.open_nursery() as an:
            self.reader = await an.start_agent(Basic, 100, name="reader")
            self.ready.set()
            await trio.sleep_forever()

    async def reader_path(self) -> str:
        assert self.reader is not None
        return self.reader.path

    async def ask_reader(self, x: int) -> int:
        assert self.reader is not None
        return await self.reader.call(Basic.add, x)

    async def find(self, path: str) -> int | None:
        ref = await agentree.find_agent(path, Basic)
        return None if ref is None else await ref.call(Basic.add, 1)

    async def peer_of(self, path: str) -> str:
        """The actor at the other end of the connection a found ref calls over."""
        ref = await agentree.find_agent(path)
        assert ref is not None
        return ref._conn.peer_name


class CrashesWhileStarting(Agent):
    async def on_start(self) -> None:
        self.start_soon(self._boom)
        await trio.sleep_forever()

    async def _boom(self) -> None:
        raise RuntimeError("boom")


class GroupedThreads(Agent):
    """Thread-mode methods of a group of cap 1 run one at a time, on 4 threads."""

    max_threads = 4
    groups = {"io": 1}  # noqa: RUF012

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.barrier = threading.Barrier(2, timeout=TIMEOUT)

    @method(group="io")
    def io_step(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(0.01)
        with self.lock:
            self.running -= 1

    def free(self) -> int:
        """Not in the group: two of these meet at a barrier, so they run at once."""
        return self.barrier.wait()

    async def peak_running(self) -> int:
        return self.peak


async def start_agent_here(name: str) -> str:
    """Run in a plain (non-agent) actor: start an agent and report its path."""
    async with agentree.open_nursery() as an:
        ref = await an.start_agent(Basic, 1, name=name)
        path = ref.path
        assert await ref.call(Basic.add, 1) == 2
        await an.cancel()
    return path
