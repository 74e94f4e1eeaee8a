"""Process titles: ``agentree[app/planner#3] root=1234`` in ``ps``, ``top`` and ``pstree``.

Linux keeps two names per process: ``comm`` (15 bytes, shown by ``top``, ``pstree``
and ``ps -o comm``), set here with ``prctl(PR_SET_NAME)`` always, and the command
line (``/proc/PID/cmdline``, shown by ``ps -f``), rewritten when the optional
``setproctitle`` package is installed (``pip install agentree[titles]``).

This module imports nothing from agentree, so the forkserver and a fresh child can
use it before anything else is loaded.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import sys
from typing import Any

__all__ = ["actor_title", "get_comm", "get_title", "set_comm", "set_title"]

_PR_SET_NAME = 15
_COMM_BYTES = 15
_libc: Any = None


def actor_title(path: str, root_pid: int | None) -> str:
    """The title of the actor at ``path`` in the tree whose root has ``root_pid``."""
    return f"agentree[{path}]" if root_pid is None else f"agentree[{path}] root={root_pid}"


def _short(title: str) -> str:
    # ``comm`` keeps 15 bytes: the end of ``agentree[path#n]``, the informative part.
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
    set_comm(_short(title))
    module = sys.modules.get("setproctitle")
    if module is None:
        try:
            module = importlib.import_module("setproctitle")
        except ImportError:
            return
    with contextlib.suppress(Exception):
        module.setproctitle(title)
        # setproctitle also sets comm to its title's start: keep the short one.
        set_comm(_short(title))


def get_title() -> str | None:
    """The full title set with setproctitle, if it is installed."""
    module = sys.modules.get("setproctitle")
    if module is None:
        return None
    with contextlib.suppress(Exception):
        title: str = module.getproctitle()
        return title
    return None
