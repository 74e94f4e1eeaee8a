"""Served in a daemon actor by the process-mode tests: a plain class and pool scenarios.

Each scenario runs a :class:`WorkerPool` inside the daemon (the agent's stand-in),
checks what it must, and returns what the test process checks from outside (pids).
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

import msgspec
import trio
import trio.lowlevel

import agentree
from agentree.agents._workers import WorkerPool

MODULE = __name__
PATH = "app/cruncher"


class Counter(msgspec.Struct):
    """A state type: travels to the worker as msgpack."""

    hits: int = 0
    tags: list[str] = []


class Cruncher:
    """A plain class whose methods run in worker processes."""

    def __init__(self, base: int, *, label: str = "") -> None:
        self.base = base
        self.label = label
        self.state: Any = None

    def add(self, x: int, y: int = 0) -> dict[str, Any]:
        return {"sum": self.base + x + y, "label": self.label, "pid": os.getpid()}

    def read_state(self) -> dict[str, Any]:
        # Changes to self stay in the worker: the next call gets the agent's state again.
        seen = msgspec.to_builtins(self.state)
        kind = type(self.state).__name__
        self.state.hits += 100
        return {"state": seen, "type": kind, "ppid": os.getppid(), "pid": os.getpid()}

    def fail(self, message: str) -> None:
        raise ValueError(message)

    def unsendable(self) -> object:
        return object()

    def span(self, seconds: float) -> list[float]:
        """Sleep ``seconds``; return [start, end, pid] (CLOCK_MONOTONIC is system-wide)."""
        start = time.monotonic()
        time.sleep(seconds)
        return [start, time.monotonic(), os.getpid()]

    def spin(self, seconds: float) -> list[float]:
        """Burn CPU for ``seconds``; return [start, end, pid]."""
        start = time.monotonic()
        deadline = time.process_time() + seconds
        while time.process_time() < deadline:
            pass
        return [start, time.monotonic(), os.getpid()]

    def work(self, address: str | None = None) -> int:
        """Return our pid; with ``address``, first tell that listener our pid and block."""
        if address is None:
            return os.getpid()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(address)
            sock.sendall(os.getpid().to_bytes(4, "big"))
            while True:
                time.sleep(60)

    async def async_add(self, x: int) -> int:
        await trio.lowlevel.checkpoint()
        return self.base + x


def host_pid() -> int:
    return os.getpid()


def _pool(method: str, workers: int = 1, **ctor_kwargs: Any) -> WorkerPool:
    return WorkerPool(
        agent_cls=Cruncher,
        ctor_args=(10,),
        ctor_kwargs=ctor_kwargs,
        method_name=method,
        workers=workers,
        path=PATH,
        incarnation=3,
    )


class _Announcements:
    """A UDS listener in a temp dir that worker methods report their pid to."""

    def __init__(self, tmpdir: str) -> None:
        self.address = os.path.join(tmpdir, "announce.sock")
        self.sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    async def __aenter__(self) -> _Announcements:
        await self.sock.bind(self.address)
        self.sock.listen(16)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sock.close()
        os.unlink(self.address)

    async def next_pid(self) -> int:
        conn, _ = await self.sock.accept()
        with conn:
            data = b""
            while len(data) < 4:
                chunk = await conn.recv(4 - len(data))
                assert chunk, "the worker hung up before announcing its pid"
                data += chunk
        return int.from_bytes(data, "big")


def _error(exc: BaseException) -> dict[str, Any]:
    """What the test process checks about an error raised here."""
    out: dict[str, Any] = {"type": type(exc).__name__, "str": str(exc)}
    for attr in ("boxed_type_str", "message", "path", "incarnation"):
        if hasattr(exc, attr):
            out[attr] = getattr(exc, attr)
    cause = getattr(exc, "cause", None)
    if isinstance(cause, agentree.ChildExit):
        out["cause"] = msgspec.to_builtins(cause) | {"signal_name": cause.signal_name}
    return out


async def _outcome(pool: WorkerPool, *args: Any, state: Any = None) -> dict[str, Any]:
    try:
        return {"result": await pool.run(args, {}, state)}
    except agentree.AgentreeError as exc:
        return {"error": _error(exc)}


async def results_and_errors() -> dict[str, Any]:
    """Results, state, the method's errors and unsendable values; the pool lives on."""
    out: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        adder = _pool("add", label="L")
        reader = _pool("read_state")
        failer = _pool("fail")
        unsendable = _pool("unsendable")
        asyncer = _pool("async_add")
        for pool in (adder, reader, failer, unsendable, asyncer):
            await nursery.start(pool.serve)
        out["host_pid"] = os.getpid()
        out["first"] = await adder.run((1,), {"y": 2}, None)
        out["state1"] = await reader.run((), {}, Counter(1, ["a"]))
        out["state2"] = await reader.run((), {}, Counter(2, ["b", "c"]))
        out["fail"] = await _outcome(failer, "boom")
        out["unsendable"] = await _outcome(unsendable)
        out["bad_arg"] = await _outcome(adder, object())
        # The same workers serve on after the errors.
        out["second"] = await adder.run((5,), {}, None)
        out["fail_again"] = await _outcome(failer, "again")
        out["async"] = await asyncer.run((7,), {}, None)
        out["pids"] = adder.pids + failer.pids
        for pool in (adder, reader, failer, unsendable, asyncer):
            await pool.aclose()
            await pool.aclose()  # idempotent
        out["pids_after_close"] = adder.pids
        out["after_close"] = await _outcome(adder, 1)
    return out


async def fifo(workers: int, calls: int, seconds: float) -> list[list[float]]:
    """``calls`` concurrent calls on ``workers`` workers; [start, end, pid] each, in order."""
    # Imported here: trio.testing imports pytest, which workers need not pay for.
    import trio.testing

    pool = _pool("span", workers=workers)
    results: list[list[float]] = [[] for _ in range(calls)]

    async def one(i: int) -> None:
        results[i] = await pool.run((seconds,), {}, None)

    async with trio.open_nursery() as nursery:
        await nursery.start(pool.serve)
        async with trio.open_nursery() as callers:
            for i in range(calls):
                callers.start_soon(one, i)
                # Each caller queues before the next starts.
                await trio.testing.wait_all_tasks_blocked()
        await pool.aclose()
    return results


async def spin_pair(workers: int, calls: int, seconds: float) -> dict[str, Any]:
    """CPU-bound calls; the pool's loop answers meanwhile. Warm workers first."""
    pool = _pool("spin", workers=workers)
    lags: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.serve)
        async with trio.open_nursery() as warm:
            for _ in range(workers):
                warm.start_soon(pool.run, (0.0,), {}, None)
        spans: list[list[float]] = []

        async def one() -> None:
            spans.append(await pool.run((seconds,), {}, None))

        done = trio.Event()

        async def probe() -> None:
            while not done.is_set():
                start = trio.current_time()
                await trio.sleep(0.002)
                lags.append(trio.current_time() - start - 0.002)

        nursery.start_soon(probe)
        start = time.monotonic()
        async with trio.open_nursery() as callers:
            for _ in range(calls):
                callers.start_soon(one)
        wall = time.monotonic() - start
        done.set()
        await pool.aclose()
    return {"wall": wall, "spans": spans, "max_lag": max(lags)}


async def kill_mid_call(tmpdir: str) -> dict[str, Any]:
    """SIGKILL the worker while it runs a call: AgentCrashed, then a new worker serves.

    Then a worker killed while idle: no call fails for it, the next gets a new one.
    """
    pool = _pool("work")
    out: dict[str, Any] = {}
    async with _Announcements(tmpdir) as ann, trio.open_nursery() as nursery:
        await nursery.start(pool.serve)

        async def kill_when_announced() -> None:
            pid = await ann.next_pid()
            out["killed_pid"] = pid
            os.kill(pid, signal.SIGKILL)

        nursery.start_soon(kill_when_announced)
        out["crash"] = await _outcome(pool, ann.address)
        out["replacement"] = await pool.run((), {}, None)
        idle = pool._idle[0]
        os.kill(out["replacement"], signal.SIGKILL)
        await idle.gone.wait()
        out["second_replacement"] = await pool.run((), {}, None)
        await pool.aclose()
    return out


async def kill_with_queue(tmpdir: str) -> dict[str, Any]:
    """One worker, two calls queued behind a call whose worker is killed: they run."""
    pool = _pool("work")
    out: dict[str, Any] = {"queued": []}
    async with _Announcements(tmpdir) as ann, trio.open_nursery() as nursery:
        await nursery.start(pool.serve)

        async def queued() -> None:
            out["queued"].append(await pool.run((), {}, None))

        async with trio.open_nursery() as callers:

            async def kill_when_queued() -> None:
                out["killed_pid"] = await ann.next_pid()
                callers.start_soon(queued)
                callers.start_soon(queued)
                while len(pool._waiters) < 2:
                    await trio.lowlevel.checkpoint()
                os.kill(out["killed_pid"], signal.SIGKILL)

            callers.start_soon(kill_when_queued)
            out["crash"] = await _outcome(pool, ann.address)
        await pool.aclose()
    return out


async def cancel_queued() -> dict[str, Any]:
    """A call cancelled while it waits for a worker leaves the queue; no worker dies."""
    pool = _pool("span")
    out: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        await nursery.start(pool.serve)
        out["first_pid"] = await pool.run((0.0,), {}, None)
        async with trio.open_nursery() as callers:

            async def busy() -> None:
                out["busy"] = await pool.run((0.3,), {}, None)

            callers.start_soon(busy)
            while not pool._busy:
                await trio.lowlevel.checkpoint()
            with trio.CancelScope() as scope:
                callers.start_soon(_cancel_when_queued, pool, scope)
                await pool.run((0.0,), {}, None)
            out["queued_cancelled"] = scope.cancelled_caught
        out["after"] = await pool.run((0.0,), {}, None)
        out["waiters"] = len(pool._waiters)
        await pool.aclose()
    return out


async def _cancel_when_queued(pool: WorkerPool, scope: trio.CancelScope) -> None:
    while not pool._waiters:
        await trio.lowlevel.checkpoint()
    scope.cancel()


async def cancel_mid_call(tmpdir: str) -> dict[str, Any]:
    """Cancelling a caller kills its worker (promptly) and a new worker serves after."""
    pool = _pool("work")
    out: dict[str, Any] = {}
    async with _Announcements(tmpdir) as ann, trio.open_nursery() as nursery:
        await nursery.start(pool.serve)
        with trio.CancelScope() as scope:

            async def cancel_when_announced() -> None:
                out["old_pid"] = await ann.next_pid()
                out["cancelled_at"] = time.monotonic()
                scope.cancel()

            nursery.start_soon(cancel_when_announced)
            await pool.run((ann.address,), {}, None)
        out["cancel_latency"] = time.monotonic() - out["cancelled_at"]
        out["cancelled_caught"] = scope.cancelled_caught
        out["new_pid"] = await pool.run((), {}, None)
        await pool.aclose()
    return out


@agentree.context
async def busy_pool(ctx: agentree.Context, tmpdir: str, workers: int) -> None:
    """Start ``workers`` blocked calls; report the worker pids; wait to be killed."""
    pool = _pool("work", workers=workers)
    async with _Announcements(tmpdir) as ann, trio.open_nursery() as nursery:
        await nursery.start(pool.serve)
        for _ in range(workers):
            nursery.start_soon(pool.run, (ann.address,), {}, None)
        pids = [await ann.next_pid() for _ in range(workers)]
        await ctx.started(pids)
        await trio.sleep_forever()
