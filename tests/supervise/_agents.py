"""Agents for the supervision tests (module-level: they travel by module:qualname)."""

from __future__ import annotations

import os
import subprocess
import time

import trio

import agentree


class Echo(agentree.Agent):
    """A plain agent: answers, sleeps, dies on demand."""

    def __init__(self) -> None:
        self._running = 0
        self._changed = trio.Event()

    def _count(self, delta: int) -> None:
        self._running += delta
        self._changed.set()
        self._changed = trio.Event()

    async def wait_running(self, n: int) -> None:
        """Return once ``n`` naps run here (tests synchronise on this, not on sleeps)."""
        while self._running < n:
            await self._changed.wait()

    async def echo(self, x: int) -> int:
        return x

    async def whoami(self) -> tuple[int, int]:
        return os.getpid(), self.incarnation

    async def nap(self, seconds: float) -> int:
        self._count(1)
        try:
            await trio.sleep(seconds)
        finally:
            self._count(-1)
        return self.incarnation

    async def exit_with(self, code: int) -> None:
        os._exit(code)

    async def hang_loop(self, seconds: float) -> None:
        time.sleep(seconds)  # noqa: ASYNC251 - blocks the loop on purpose (watchdog)

    async def hang_loop_until(self, path: str, seconds: float) -> None:
        """Block the loop until file ``path`` exists, at most ``seconds``."""
        end = time.monotonic() + seconds
        while not os.path.exists(path) and time.monotonic() < end:  # noqa: ASYNC240
            time.sleep(0.005)  # noqa: ASYNC251 - blocks the loop on purpose

    def burn(self) -> None:
        while True:
            pass

    async def grow(self, mib: int) -> int:
        self._hog = bytearray(mib * 2**20)
        for i in range(0, len(self._hog), 4096):
            self._hog[i] = 1
        return len(self._hog)

    async def open_many(self, n: int) -> int:
        """Open ``n`` files and keep them open."""
        self._files = getattr(self, "_files", [])
        for _ in range(n):
            self._files.append(open(os.devnull))  # noqa: ASYNC230, SIM115 - held on purpose
        return len(self._files)

    async def spawn_sleeper(self) -> int:
        """Start a user subprocess that outlives nothing; return its pid."""
        proc = subprocess.Popen(["sleep", "60"])  # noqa: ASYNC220 - a quick spawn
        return proc.pid

    async def record(self, log: str, token: str) -> str:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{token}\n".encode())
        finally:
            os.close(fd)
        return token

    async def record_slowly(self, log: str, token: str, seconds: float) -> str:
        await trio.sleep(seconds)
        return await self.record(log, token)

    @agentree.method(idempotent=True)
    async def nap_idempotent(self, log: str, seconds: float) -> int:
        await self.record(log, f"run {self.incarnation}")
        return await self.nap(seconds)


class Talker(agentree.Agent):
    """A dialog method, for contexts through a supervised ref."""

    @agentree.context
    async def talk(self, ctx: agentree.Context, greeting: str) -> str:
        await ctx.started(f"{greeting} from #{self.incarnation}")
        async with ctx.open_stream() as stream:
            async for item in stream:
                if item < 0:
                    os._exit(1)
                await stream.send(item * 2)
        return "done"


class StartFails(agentree.Agent):
    """``on_start`` raises while the file ``flag`` exists."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    async def on_start(self) -> None:
        if os.path.exists(self.flag):  # noqa: ASYNC240 - a test's flag file
            raise RuntimeError("on_start failed on purpose")

    async def echo(self, x: int) -> int:
        return x


class Team(agentree.Agent):
    """An agent that runs a supervisor of its own (a tree across processes)."""

    async def on_start(self) -> None:
        self.started_events: list[int] = []
        started = trio.Event()
        self.start_soon(self._team, started)
        await started.wait()

    async def _team(self, started: trio.Event) -> None:
        async with agentree.open_supervisor("crew", intensity=1, period=30) as sup:
            self.sup = sup
            self.events = sup.events()
            self.worker = await sup.start_agent(Echo, name="worker")
            started.set()
            await trio.sleep_forever()

    async def worker_pid(self) -> int:
        pid = self.worker.pid
        assert pid is not None
        return pid

    async def worker_echo(self, x: int) -> int:
        return await self.worker.call(Echo.echo, x)

    async def wait_worker_incarnation(self, n: int) -> int:
        """Wait until the worker's incarnation ``n`` runs; return its pid."""
        while self.worker.incarnation < n or self.worker.pid is None:
            await self.events.receive()
        return await self.worker_pid()
