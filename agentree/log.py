"""agentree's logging: stdlib ``logging``, records tagged with the actor's name.

agentree logs under the ``agentree`` logger and stays silent unless a ``loglevel`` is
given (to ``open_nursery``/``open_root_actor``; children inherit it), in which case
records go to stderr as ``LEVEL [actor-name pid] logger: message``.
"""

from __future__ import annotations

import logging
import os

__all__ = ["configure", "get_logger"]

_HANDLER_FLAG = "_agentree_handler"


def get_logger(name: str = "agentree") -> logging.Logger:
    """Return a logger under ``agentree``."""
    return logging.getLogger(name if name.startswith("agentree") else f"agentree.{name}")


def configure(level: str | None, actor_name: str) -> None:
    """Send agentree's records at ``level`` and above to stderr, tagged with the actor."""
    root = logging.getLogger("agentree")
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_FLAG, False):
            root.removeHandler(handler)
    if level is None:
        return
    handler = logging.StreamHandler()
    setattr(handler, _HANDLER_FLAG, True)
    handler.setFormatter(
        logging.Formatter(f"%(levelname)s [{actor_name} {os.getpid()}] %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level.upper())
