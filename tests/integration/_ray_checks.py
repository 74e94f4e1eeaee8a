"""What the Ray tests check after each test: no Ray host, no agentree process left."""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import psutil

# What names a process of agentree's (Ray's own processes may carry "agentree" in
# their paths: the test session's temp dir is ``agentree-tests-*``).
_OURS = ("agentree._spawn._ray_child", "agentree._child", "agentree._spawn._forkserver", "RayHost")


def live_hosts(ray: Any) -> list[str]:
    """Ids of agentree's host actors that Ray does not report dead (its GCS state)."""
    import ray._private.state as state

    return [
        actor_id
        for actor_id, info in state.actors().items()
        if info["ActorClassName"] == "RayHost" and info["State"] != "DEAD"
    ]


def agentree_processes(before: set[int]) -> list[str]:
    """New live descendants of this process that run agentree code (or host it for Ray).

    Each as ``"pid N: command line"``, read once: a process that ends (or becomes a
    zombie) between the listing and a later read must not fail the check.
    """
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
        if any(mark in line for mark in _OURS):
            found.append(f"pid {proc.pid}: {line}")
    return found


def wait_all_gone(ray: Any, before: set[int], timeout: float = 15.0) -> list[str]:
    """Wait (polling: these are other processes' states) until nothing is left.

    Returns:
        What is still there after ``timeout``: empty when all is gone.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = [f"ray host actor {a}" for a in live_hosts(ray)]
        left += agentree_processes(before)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def reap_after_ray(before: set[int], timeout: float = 15.0) -> None:
    """After ``ray.shutdown()``: reap (and at last kill) what Ray left under this process.

    This process is a child subreaper (the test plugin): Ray's workers orphaned by
    their raylet's end come here, and must be reaped, not left as zombies for the
    tests that follow.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for proc in psutil.Process().children(recursive=True):
            if proc.pid in before:
                continue
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    if proc.ppid() == os.getpid():
                        with contextlib.suppress(ChildProcessError):
                            os.waitpid(proc.pid, os.WNOHANG)
                    continue
            except psutil.NoSuchProcess:
                continue
            left.append(proc)
        if not left:
            return
        if time.monotonic() > deadline:
            for proc in left:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc.kill()
            deadline = time.monotonic() + 2.0
        time.sleep(0.05)


def reap_zombies(before: set[int]) -> None:
    """Reap the zombie children of this process that were not there ``before``."""
    for proc in psutil.Process().children():
        if proc.pid in before:
            continue
        with contextlib.suppress(psutil.NoSuchProcess, ChildProcessError):
            if proc.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(proc.pid, os.WNOHANG)
