"""agentree's logging: stdlib ``logging``, records tagged with the actor's name.

agentree logs under the ``agentree`` logger and stays silent unless a ``loglevel`` is
given (to ``open_nursery``/``open_root_actor``/``start_actor``; children inherit it),
in which case records go to stderr as ``LEVEL [actor-name pid] logger: message``.

A ``loglevel`` is a stdlib level name (``"debug"``, ``"info"``, ``"warning"``,
``"error"``, ``"critical"``, any case) or one of tractor's extra names, which map to
the nearest stdlib level: ``"transport"``, ``"runtime"`` and ``"devx"`` to DEBUG,
``"cancel"`` to INFO, ``"pdb"`` to WARNING. Any other name is refused with
:class:`~agentree.InvalidOption` by the call that was given it.
"""

from __future__ import annotations

import logging
import os

from ._exceptions import InvalidOption

__all__ = ["LEVEL_NAMES", "configure", "get_console_log", "get_logger", "level_number"]

_HANDLER_FLAG = "_agentree_handler"

_STDLIB_LEVELS = {
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "notset": logging.NOTSET,
}
# tractor's level names, so its programs' ``loglevel=`` values work here.
_EXTRA_LEVELS = {
    "transport": logging.DEBUG,
    "runtime": logging.DEBUG,
    "devx": logging.DEBUG,
    "cancel": logging.INFO,
    "pdb": logging.WARNING,
}
_LEVELS = {**_STDLIB_LEVELS, **_EXTRA_LEVELS}

# Silent by default: without a handler of its own, Python's last-resort handler
# would print agentree's warnings to stderr although no loglevel was given.
logging.getLogger("agentree").addHandler(logging.NullHandler())

LEVEL_NAMES: tuple[str, ...] = tuple(_LEVELS)
"""Every accepted ``loglevel`` name (lower case; any case is accepted)."""


def get_logger(name: str = "agentree") -> logging.Logger:
    """Return a logger under ``agentree``."""
    return logging.getLogger(name if name.startswith("agentree") else f"agentree.{name}")


def level_number(level: object) -> int | None:
    """The stdlib level for a ``loglevel`` name, or ``None`` if the name is unknown."""
    if not isinstance(level, str):
        return None
    return _LEVELS.get(level.lower())


def configure(level: str | None, actor_name: str) -> None:
    """Send agentree's records at ``level`` and above to stderr, tagged with the actor.

    Raises:
        InvalidOption: ``level`` is not a known level name.
    """
    number = None if level is None else level_number(level)
    if level is not None and number is None:
        raise InvalidOption(
            f"actor {actor_name!r}: loglevel={level!r} is not a log level; "
            f"use one of {', '.join(LEVEL_NAMES)}"
        )
    root = logging.getLogger("agentree")
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_FLAG, False):
            root.removeHandler(handler)
    if number is None:
        return
    handler = logging.StreamHandler()
    setattr(handler, _HANDLER_FLAG, True)
    handler.setFormatter(
        logging.Formatter(f"%(levelname)s [{actor_name} {os.getpid()}] %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(number)


def get_console_log(level: str | None = None, name: str = "agentree") -> logging.Logger:
    """tractor's name: show agentree's records at ``level`` on stderr; return a logger.

    Raises:
        InvalidOption: ``level`` is not a known level name.
    """
    if level is not None:
        from ._runtime import current_actor_or_none

        actor = current_actor_or_none()
        configure(level, actor.name if actor is not None else "main")
    return get_logger(name)
