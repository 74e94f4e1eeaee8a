"""Functions for the spawn reliability tests, run in the test process and in children.

trio runs blocking work (``trio.lowlevel.open_process`` among it) in a cache of worker
threads that exit after ``IDLE_TIMEOUT`` (10 s) idle. These helpers shorten that timeout
and wait until every worker thread has exited, so a test can check that a child outlives
the thread its parent may have forked it from.
"""

from __future__ import annotations

import os
import threading

import trio
from trio._core import _thread_cache

import agentree

MODULE = __name__

_WORKER_PREFIX = "Trio thread"
_POLL = 0.02
_RELEASED = trio.Event()


def worker_threads() -> list[threading.Thread]:
    """trio's worker threads alive in this process."""
    return [t for t in threading.enumerate() if t.name.startswith(_WORKER_PREFIX) and t.is_alive()]


async def shorten_idle_timeout(seconds: float) -> None:
    """Make trio's idle worker threads exit after ``seconds`` (this process only).

    A worker already idle waits with the timeout it read when it went idle; each is
    given a job here (all at once, so each gets one), after which it waits with the
    new timeout.
    """
    _thread_cache.IDLE_TIMEOUT = seconds  # type: ignore[assignment]
    count = len(worker_threads()) + 1
    barrier = threading.Barrier(count)
    limiter = trio.CapacityLimiter(count)
    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(
                lambda: trio.to_thread.run_sync(barrier.wait, 10.0, limiter=limiter)
            )


async def wait_worker_threads_gone() -> None:
    """Return once no trio worker thread is alive here; bound it with a trio timeout."""
    left = worker_threads()
    while left:
        await trio.sleep(_POLL)
        left = worker_threads()


async def getpid() -> int:
    """This actor's pid."""
    return os.getpid()


async def release() -> None:
    """Let :func:`wait_released` in this actor return."""
    _RELEASED.set()


async def wait_released() -> int:
    """Wait until :func:`release` is called here, then return this actor's pid."""
    await _RELEASED.wait()
    return os.getpid()


async def grandchild_outlives_idle_threads(idle_timeout: float) -> list[int]:
    """In a child: start a grandchild, wait out our worker threads, then call it.

    Returns the grandchild's pid as it answered, twice: before and after every worker
    thread of this child exited.
    """
    await shorten_idle_timeout(idle_timeout)
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("grandchild", enable_modules=[MODULE])
        before = await portal.run(getpid)
        with trio.fail_after(30):
            await wait_worker_threads_gone()
        after = await portal.run(getpid)
        await portal.cancel_actor()
    return [before, after]


_NESTED: dict[str, object] = {"pids": [], "ready": trio.Event()}


async def hold_with_marker(marker: str, nested: bool = False) -> None:
    """Hold until cancelled; then write ``marker`` (proof of a graceful cancel).

    With ``nested``, first start a grandchild doing the same with ``marker + "-gc"``.
    """
    ready = _NESTED["ready"]
    assert isinstance(ready, trio.Event)
    try:
        if nested:
            async with agentree.open_nursery() as an:
                portal = await an.run_in_actor(hold_with_marker, marker=marker + "-gc")
                pids = _NESTED["pids"]
                assert isinstance(pids, list)
                pids.append(await portal.run(getpid))
                ready.set()
                await trio.sleep_forever()
        ready.set()
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await trio.Path(marker).write_text("cancelled")


async def subtree_pids() -> list[int]:
    """This actor's pid and its grandchild's, once :func:`hold_with_marker` started it."""
    ready = _NESTED["ready"]
    assert isinstance(ready, trio.Event)
    await ready.wait()
    pids = _NESTED["pids"]
    assert isinstance(pids, list)
    return [os.getpid(), *pids]


async def ignore_cancellation() -> None:
    """Never end, not even when cancelled (only a signal stops this actor)."""
    with trio.CancelScope(shield=True):
        await trio.sleep_forever()
