"""Checks run in the test process: which processes still run, and waiting for them to go."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterable

import psutil
import trio

_POLL = 0.02


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes(pids: Iterable[int]) -> list[psutil.Process]:
    """Return handles on the processes with these pids (those that exist now).

    A ``psutil.Process`` remembers its process's start time, so a later check is not
    fooled by the pid being reused.

    Args:
        pids: process ids.

    Returns:
        One handle per pid whose process exists.
    """
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return procs


def alive(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    """Return those of ``procs`` that still run; a zombie counts as gone."""
    return [proc for proc in procs if _running(proc)]


async def wait_gone(procs: Iterable[psutil.Process]) -> None:
    """Return once every one of ``procs`` has exited; bound it with a trio timeout.

    Polls psutil: processes that are not our children cannot be waited for otherwise.

    Args:
        procs: the processes to watch.
    """
    left = alive(procs)
    while left:
        await trio.sleep(_POLL)
        left = alive(left)


def descendants() -> list[psutil.Process]:
    """Return every running descendant of the test process."""
    return alive(psutil.Process().children(recursive=True))


def agentree_tmp_entries() -> set[str]:
    """Return the ``agentree-*`` entries in the temp dir."""
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "agentree-*")))


def existing(paths: Iterable[str]) -> set[str]:
    """Return those of ``paths`` that exist."""
    return {path for path in paths if os.path.exists(path)}


async def wait_removed(paths: Iterable[str]) -> None:
    """Return once none of ``paths`` exists; bound it with a trio timeout.

    Args:
        paths: files or directories that something else should remove.
    """
    left = existing(paths)
    while left:
        await trio.sleep(_POLL)
        left = existing(left)
