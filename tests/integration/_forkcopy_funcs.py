"""Functions run in the actors of ``scripts/forkcopy_root.py`` (the forkserver tests)."""

from __future__ import annotations

import logging
import os
import signal
import socket
from typing import Any

import trio

import agentree


def _fd_targets() -> list[str]:
    targets = []
    for name in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{name}"))
        except OSError:
            continue
    return targets


async def inspect_actor() -> dict[str, Any]:
    """What an actor sees of its process: descriptors, signals, parent, its actor."""
    # A fresh socket and file work: no descriptor number is shared with a stale object.
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"x")
        echoed = b.recv(1)
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "fds": _fd_targets(),
        "usr1": str(signal.getsignal(signal.SIGUSR1)),
        "actor": agentree.current_actor().name,
        "echoed": echoed.decode(),
        "in_trio": trio.lowlevel.in_trio_run(),
        "log_handlers": len(logging.getLogger().handlers),
    }


async def hold() -> None:
    """Hold until cancelled."""
    await trio.sleep_forever()
