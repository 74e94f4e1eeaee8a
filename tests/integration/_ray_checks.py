"""What the Ray tests check after each test: no Ray host, no agentree process left."""

from __future__ import annotations

import time
from typing import Any

import psutil


def live_hosts(ray: Any) -> list[str]:
    """Ids of agentree's host actors that Ray does not report dead (its GCS state)."""
    import ray._private.state as state

    return [
        actor_id
        for actor_id, info in state.actors().items()
        if info["ActorClassName"] == "RayHost" and info["State"] != "DEAD"
    ]


def agentree_processes(before: set[int]) -> list[psutil.Process]:
    """New descendants of this process that run agentree code (or host it for Ray)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        if proc.pid in before:
            continue
        try:
            line = " ".join(proc.cmdline())
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.NoSuchProcess:
            continue
        if "agentree" in line or "RayHost" in line:
            found.append(proc)
    return found


def wait_all_gone(ray: Any, before: set[int], timeout: float = 15.0) -> list[str]:
    """Wait (polling: these are other processes' states) until nothing is left.

    Returns:
        What is still there after ``timeout``: empty when all is gone.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = [f"ray host actor {a}" for a in live_hosts(ray)]
        left += [f"pid {p.pid}: {' '.join(p.cmdline())}" for p in agentree_processes(before)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
