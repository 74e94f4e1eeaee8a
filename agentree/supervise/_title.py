"""Served in a supervised agent's actor: its process title, ``agentree[app/planner#3]``.

The title is set by :mod:`agentree._proctitle` (``comm`` always, the command line
too with ``setproctitle`` installed), with the tree's root pid appended.
"""

from __future__ import annotations

from .. import log as agentree_log
from .._proctitle import set_title as _set
from .._runtime._control import root_pid

__all__ = ["set_title"]


def set_title(title: str) -> None:
    """Set this process's title (best effort: never fails)."""
    pid = root_pid()
    if title.startswith("agentree[") and title.endswith("]"):
        agentree_log.set_actor_path(title[len("agentree[") : -1])
    _set(title if pid is None else f"{title} root={pid}")
