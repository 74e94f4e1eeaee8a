"""Functions executed inside worker processes.

Every callable here is module-level so that it can be referenced by name from
another process (pickled by reference for multiprocessing / concurrent.futures /
trio_parallel, or looked up by module path for agentree). The module imports
only ``os`` and ``time`` so that importing it in a freshly spawned worker costs
next to nothing and does not skew cold-spawn numbers.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.synchronize import Barrier

_barrier: Barrier | None = None


def getpid() -> int:
    """Return the pid of the calling process.

    Returns:
        The worker's process id.
    """
    return os.getpid()


def echo(x: int) -> int:
    """Return the argument unchanged.

    Args:
        x: Any small integer.

    Returns:
        ``x``.
    """
    return x


def init_barrier(barrier: Barrier) -> None:
    """Pool initializer: remember the start barrier shared by all workers.

    Args:
        barrier: A ``multiprocessing`` barrier sized to the number of workers.
    """
    global _barrier
    _barrier = barrier


def barrier_getpid() -> int:
    """Wait until every pool worker holds a task, then return the pid.

    Used so that a pool's "N workers" result really comes from N processes
    (otherwise the first worker to boot drains the whole queue).

    Returns:
        The worker's process id.

    Raises:
        RuntimeError: If :func:`init_barrier` was not run in this worker.
    """
    if _barrier is None:
        raise RuntimeError("init_barrier() was not called in this worker")
    _barrier.wait(30.0)
    return os.getpid()


def pipe_getpid(conn: Connection) -> None:
    """Send this process's pid over ``conn`` and exit.

    Args:
        conn: Child end of a ``multiprocessing.Pipe``.
    """
    conn.send(os.getpid())
    conn.close()


def pipe_echo_server(conn: Connection) -> None:
    """Echo every object received on ``conn`` until EOF or ``None``.

    Args:
        conn: Child end of a ``multiprocessing.Pipe``.
    """
    recv = conn.recv
    send = conn.send
    try:
        while True:
            msg = recv()
            if msg is None:
                break
            send(msg)
    except EOFError:
        pass
    finally:
        conn.close()


def pipe_ready_then_sleep(conn: Connection, seconds: float) -> None:
    """Report readiness over ``conn`` and then sleep (to be terminated).

    Args:
        conn: Child end of a ``multiprocessing.Pipe``.
        seconds: How long to sleep if nobody terminates us first.
    """
    conn.send(os.getpid())
    conn.close()
    time.sleep(seconds)


async def agentree_getpid() -> int:
    """Async variant of :func:`getpid` for agentree actors.

    Returns:
        The actor process's pid.
    """
    return os.getpid()


async def agentree_echo(x: int) -> int:
    """Async variant of :func:`echo` for agentree actors.

    Args:
        x: Any small integer.

    Returns:
        ``x``.
    """
    return x


_subtree_up: Any = None


def _subtree_event() -> Any:
    """This actor's "grandchild is up" event (a ``trio.Event``, made on first use)."""
    global _subtree_up
    if _subtree_up is None:
        import trio

        _subtree_up = trio.Event()
    return _subtree_up


async def agentree_hold_subtree() -> None:
    """Start a grandchild daemon in this agentree actor and hold it until cancelled."""
    import trio

    import agentree

    async with agentree.open_nursery() as an:
        await an.start_actor("grandchild", enable_modules=[__name__])
        _subtree_event().set()
        await trio.sleep_forever()


async def agentree_subtree_up() -> int:
    """Return this actor's pid once :func:`agentree_hold_subtree` started its grandchild."""
    await _subtree_event().wait()
    return os.getpid()


def sleep_getpid(seconds: float) -> int:
    """Sleep, then return the pid (keeps a worker busy so others get spawned).

    Args:
        seconds: How long to sleep.

    Returns:
        The worker's process id.
    """
    time.sleep(seconds)
    return os.getpid()
