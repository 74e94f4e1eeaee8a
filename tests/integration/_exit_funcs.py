"""Functions that the child-exit, ping and descendant tests run in child actors.

Every function is module-level, so a child actor can find it by ``module:qualname``.
Per-actor state lives in ``_STATE`` (each actor is its own process).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import trio

import agentree

MODULE = __name__

_STATE: dict[str, Any] = {}


def _holders() -> trio.Event:
    event = _STATE.get("changed")
    if event is None:
        event = _STATE["changed"] = trio.Event()
    return event


def _add_holder() -> None:
    _STATE["holders"] = _STATE.get("holders", 0) + 1
    _holders().set()
    _STATE["changed"] = trio.Event()


async def getpid() -> int:
    """Return the pid of the actor this runs in."""
    return os.getpid()


async def hold() -> None:
    """Count as one holder, then never return."""
    _add_holder()
    await trio.sleep_forever()


async def wait_holders(count: int) -> int:
    """Return this actor's pid once ``count`` holders (of any kind) are running."""
    while _STATE.get("holders", 0) < count:
        await _holders().wait()
    return os.getpid()


@agentree.context
async def hold_ctx(ctx: agentree.Context) -> None:
    """Start, count as a holder, then never return."""
    await ctx.started(os.getpid())
    _add_holder()
    await trio.sleep_forever()


@agentree.context
async def hold_stream(ctx: agentree.Context) -> None:
    """Start, open the stream, count as a holder, then send nothing, forever."""
    await ctx.started(os.getpid())
    async with ctx.open_stream():
        _add_holder()
        await trio.sleep_forever()


async def hold_gen() -> AsyncIterator[int]:
    """An async generator that counts as a holder and never yields."""
    _add_holder()
    await trio.sleep_forever()
    yield 0  # pragma: no cover


async def hold_then_return(value: int) -> int:
    """Count as a holder, wait for :func:`release`, then return ``value``."""
    _add_holder()
    event = _STATE.setdefault("release", trio.Event())
    await event.wait()
    return value


async def die(how: str) -> None:
    """End this process now: ``"exitN"`` (``os._exit(N)``) or a signal name sent to itself."""
    if how.startswith("exit"):
        os._exit(int(how[4:]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.kill(os.getpid(), signal.Signals[how])
    await trio.sleep_forever()


async def raise_error(message: str) -> None:
    """Raise ``ValueError(message)``."""
    raise ValueError(message)


async def add(x: int, y: int) -> int:
    """Return ``x + y``."""
    return x + y


def break_channel() -> None:
    """Shut the channel to the parent down, then block the whole process (sync).

    The parent sees end of file while the process goes on running: a lost child.
    """
    actor = agentree.current_actor()
    assert actor.parent_conn is not None
    sock = actor.parent_conn.chan._sock
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)
    time.sleep(600)


async def stubborn() -> None:
    """Ignore SIGTERM and cancellation: only SIGKILL ends this actor."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with trio.CancelScope(shield=True):
        _add_holder()
        await trio.sleep_forever()


async def busy_calls(count: int) -> None:
    """Block ``count`` holders forever (for pings while calls are in flight)."""
    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(hold)


def spin(seconds: float) -> None:
    """Hog the actor's loop (and so its message loop) for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def spin_until(path: str, seconds: float) -> None:
    """Hog the actor's loop until file ``path`` exists, at most ``seconds``."""
    end = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < end:
        pass


async def release() -> None:
    """Let :func:`hold_then_return` return."""
    _STATE.setdefault("release", trio.Event()).set()


async def ping_parent() -> float:
    """Ping this actor's parent over the parent channel; return the round trip."""
    actor = agentree.current_actor()
    assert actor.parent_conn is not None
    return await agentree.Portal(actor.parent_conn).ping(timeout=5)


@agentree.context
async def flood(ctx: agentree.Context) -> None:
    """Start, then send items as fast as the stream takes them, forever."""
    await ctx.started(os.getpid())
    async with ctx.open_stream() as stream:
        i = 0
        while True:
            await stream.send(i)
            i += 1


# -- descendants ---------------------------------------------------------------------------


def _sleep_forever_in_child() -> None:
    time.sleep(1000)


def start_descendants() -> list[int]:
    """Start three kinds of descendant; return their pids.

    A ``subprocess.Popen`` (``sleep 1000``), a ``multiprocessing.Process`` (fork,
    which inherits every fd of the actor, its parent channel's socket too) and a
    double-forked daemon (fork, setsid, fork, the middle process exits) that is
    re-parented at once.
    """
    popen = subprocess.Popen(["sleep", "1000"])
    worker = multiprocessing.get_context("fork").Process(target=_sleep_forever_in_child)
    worker.start()
    _STATE.setdefault("keep", []).extend([popen, worker])
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() == 0:
                os.write(write_end, str(os.getpid()).encode())
                os.close(write_end)
                time.sleep(1000)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        daemon = int(pipe.read())
    os.waitpid(middle, 0)
    assert worker.pid is not None
    return [popen.pid, worker.pid, daemon]


async def spawn_leaf() -> list[int]:
    """Start a nested child actor ``leaf`` that starts descendants; keep it running.

    Returns:
        ``[leaf pid, its three descendants' pids...]``.
    """
    ready: trio.Event = trio.Event()
    result: list[int] = []

    async def keep_leaf() -> None:
        async with agentree.open_nursery(report_exits=True) as an:
            leaf = await an.start_actor("leaf", enable_modules=[MODULE])
            result.append(await leaf.run(getpid))
            result.extend(await leaf.run(start_descendants))
            _STATE["leaf"] = leaf
            ready.set()
            _STATE["leaf_exit"] = await leaf.wait_for_exit()
            _STATE.setdefault("leaf_gone", trio.Event()).set()
            await trio.sleep_forever()

    actor = agentree.current_actor()
    assert actor._service is not None
    actor._service.start_soon(keep_leaf)
    await ready.wait()
    return result


async def wait_leaf_exit() -> dict[str, Any]:
    """Wait until the leaf started by :func:`spawn_leaf` has been reaped."""
    await _STATE.setdefault("leaf_gone", trio.Event()).wait()
    exit = _STATE["leaf_exit"]
    return {"reason": exit.reason, "returncode": exit.returncode}


def start_stubborn_descendant() -> int:
    """Start a process that ignores SIGTERM; return its pid once it does."""
    proc = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    _STATE.setdefault("keep", []).append(proc)
    return proc.pid


async def _aio_block_in_executor(seconds: float) -> None:
    import asyncio

    await asyncio.get_running_loop().run_in_executor(None, time.sleep, seconds)


async def block_in_executor(seconds: float) -> None:
    """Block an asyncio executor thread: ``asyncio.run`` waits for it at exit, so
    the actor closes its channel long before its process ends."""
    from agentree import to_asyncio

    _add_holder()
    await to_asyncio.run_task(_aio_block_in_executor, seconds=seconds)
