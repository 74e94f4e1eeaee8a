"""Process titles: ``agentree[app/planner#3] root=1234`` in ``ps``, ``top`` and ``pstree``.

Linux keeps two names per process: ``comm`` (15 bytes, shown by ``top``, ``pstree``
and ``ps -o comm``), set here with ``prctl(PR_SET_NAME)`` always, and the command
line (``/proc/PID/cmdline``, shown by ``ps -f``), rewritten when the optional
``setproctitle`` package is installed (``pip install agentree[titles]``), within the
length of the original command line (``SPT_NOENV``: the environment block stays
as it was, for the reaper).

This module imports nothing from agentree, so the forkserver and a fresh child can
use it before anything else is loaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import sys
from typing import Any

__all__ = ["actor_title", "get_comm", "get_title", "set_comm", "set_title", "short_title"]

_PR_SET_NAME = 15
_COMM_BYTES = 15
_libc: Any = None


def actor_title(path: str, root_pid: int | None) -> str:
    """The title of the actor at ``path`` in the tree whose root has ``root_pid``."""
    return f"agentree[{path}]" if root_pid is None else f"agentree[{path}] root={root_pid}"


def short_title(title: str) -> str:
    """The 15 bytes of ``title`` that ``comm`` keeps: the end of ``agentree[path#n]``."""
    head = title.split(" root=")[0].encode("utf-8", "replace")
    return head[-_COMM_BYTES:].decode("utf-8", "ignore")


def set_comm(name: str) -> None:
    """Set the kernel's short name of this thread (``comm``); best effort."""
    global _libc
    if not sys.platform.startswith("linux"):
        return
    try:
        if _libc is None:
            # The running program's own symbols include libc's prctl.
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:_COMM_BYTES]), 0, 0, 0)
    except (OSError, AttributeError):
        return


def get_comm() -> str:
    """The kernel's short name of this process (empty where unknown)."""
    try:
        with open("/proc/self/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def set_title(title: str) -> None:
    """Set this process's title: ``comm`` always, the command line with setproctitle.

    Never fails: a title is a convenience.
    """
    set_comm(short_title(title))
    module = sys.modules.get("setproctitle")
    if module is None:
        # Keep /proc/PID/environ intact: the reaper finds an actor's orphans by the
        # tag in their inherited environment block (see _runtime._reaper), which
        # setproctitle would otherwise overwrite with the title. The title then
        # fits in the original command line (long enough for actors).
        os.environ.setdefault("SPT_NOENV", "1")
        try:
            module = importlib.import_module("setproctitle")
        except ImportError:
            return
    with contextlib.suppress(Exception):
        module.setproctitle(title)
        # setproctitle also sets comm to its title's start: keep the short one.
        set_comm(short_title(title))


def get_title() -> str | None:
    """The full title set with setproctitle, if it is installed."""
    module = sys.modules.get("setproctitle")
    if module is None:
        return None
    with contextlib.suppress(Exception):
        title: str = module.getproctitle()
        return title
    return None
