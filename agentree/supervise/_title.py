"""Served in a supervised agent's actor: its process title, ``agentree[app/planner#3]``.

With the ``setproctitle`` package installed the whole command line shown by ``ps``
changes; otherwise (Linux) the kernel's short name of the process (``comm``, 15
bytes, shown by ``top`` and ``ps -o comm``) is set.
"""

from __future__ import annotations

import contextlib
import importlib

__all__ = ["set_title"]


def set_title(title: str) -> None:
    """Set this process's title (best effort: never fails)."""
    try:
        module = importlib.import_module("setproctitle")
    except ImportError:
        pass
    else:
        module.setproctitle(title)
        return
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
        # The kernel keeps 15 bytes: keep the end of the path, the informative part.
        f.write(title if len(title) <= 15 else title[-15:])
