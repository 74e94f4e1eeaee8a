"""agentree's logging: stdlib ``logging``, every line tagged with the actor and its pid.

agentree logs under the ``agentree`` logger (use :func:`get_logger` for your own
``agentree.*`` loggers) and stays silent unless a ``loglevel`` is given (to
``open_nursery``/``open_root_actor`` for the whole tree, or to one
``start_actor``), in which case records go to stderr as
``LEVEL [actor-path pid] logger: message``.

With the environment variable ``AGENTREE_LOG_FORMAT=json`` (set before the root
starts) each record is one JSON object per line instead: ``time``, ``level``,
``actor``, ``pid``, ``logger``, ``message`` and, for an error, ``exc``.

**Children's records go to the root.** A child actor does not write to the
terminal itself: each record is sent, whole and at once, as one datagram to the
root (see ``agentree._runtime._logs``), where it is handed to the root's
``agentree`` logger, so that the root's handlers (yours too, e.g. pytest's
``caplog``) see every actor's records, each line whole, in the order each actor
logged them; a record is in the root's socket before ``log.warning()`` returns,
so nothing is lost when a child dies right after logging.

A ``loglevel`` is a stdlib level name (``"debug"``, ``"info"``, ``"warning"``,
``"error"``, ``"critical"``, any case) or one of tractor's extra names, which map to
the nearest stdlib level: ``"transport"``, ``"runtime"`` and ``"devx"`` to DEBUG,
``"cancel"`` to INFO, ``"pdb"`` to WARNING. Any other name is refused with
:class:`~agentree.InvalidOption` by the call that was given it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Any

from ._exceptions import InvalidOption

__all__ = [
    "LEVEL_NAMES",
    "configure",
    "dispatch",
    "forward_to",
    "get_console_log",
    "get_logger",
    "level_number",
    "log_format",
    "set_actor_path",
]

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


_actor_path = ""
# How long a child waits for the root to take a record before it writes it itself.
_SEND_TIMEOUT = 2.0
# A record bigger than this is cut (a datagram must fit the socket's buffer).
_MAX_RECORD = 60_000


def set_actor_path(path: str) -> None:
    """Name this process's actor in its log lines (e.g. an agent's ``app/planner#3``)."""
    global _actor_path
    _actor_path = path


def log_format() -> str:
    """``"json"`` or ``"text"``, from the ``AGENTREE_LOG_FORMAT`` environment variable."""
    return "json" if os.environ.get("AGENTREE_LOG_FORMAT", "").lower() == "json" else "text"


class _Stamp(logging.Filter):
    """Tag a record made in this process with the actor's path and pid."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "actor"):
            record.actor = _actor_path
            record.actor_pid = os.getpid()
        return True


class _TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)s [%(actor)s %(actor_pid)s] %(name)s: %(message)s")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": round(record.created, 6),
            "level": record.levelname,
            "actor": getattr(record, "actor", _actor_path),
            "pid": getattr(record, "actor_pid", record.process),
            "logger": record.name,
            "message": record.getMessage(),
        }
        exc = _exc_text(self, record)
        if exc:
            data["exc"] = exc
        return json.dumps(data, default=str)


def _exc_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return record.exc_text or None


def _formatter() -> logging.Formatter:
    return _JsonFormatter() if log_format() == "json" else _TextFormatter()


def _stream_handler() -> logging.Handler:
    handler = logging.StreamHandler()
    handler.addFilter(_Stamp())
    handler.setFormatter(_formatter())
    return handler


class _ForwardHandler(logging.Handler):
    """Send each record to the root as one datagram (blocking: nothing is lost)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.addFilter(_Stamp())
        self._path = path
        self._sock: socket.socket | None = None
        self._fallback: logging.Handler | None = None
        self._failed = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = _encode(record)
            if self._failed:
                raise ConnectionError("the root did not take a record in time")
            if self._sock is None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.settimeout(_SEND_TIMEOUT)
                sock.connect(self._path)
                self._sock = sock
            self._sock.send(data)
        except OSError as exc:
            # The root is gone or does not read: write the record here (and, once
            # the root was too slow, every record after it: never wait twice).
            if isinstance(exc, TimeoutError):
                self._failed = True
            if self._fallback is None:
                self._fallback = _stream_handler()
            self._fallback.handle(record)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        super().close()


def _encode(record: logging.LogRecord) -> bytes:
    message = record.getMessage()
    exc = None
    if record.exc_info:
        exc = logging.Formatter().formatException(record.exc_info)
    elif record.exc_text:
        exc = record.exc_text
    data = {
        "name": record.name,
        "levelno": record.levelno,
        "levelname": record.levelname,
        "msg": message[:_MAX_RECORD],
        "created": record.created,
        "msecs": record.msecs,
        "pathname": record.pathname,
        "lineno": record.lineno,
        "funcName": record.funcName,
        "process": record.process,
        "threadName": record.threadName,
        "actor": getattr(record, "actor", _actor_path),
        "actor_pid": getattr(record, "actor_pid", os.getpid()),
        "exc_text": None if exc is None else exc[:_MAX_RECORD],
    }
    return json.dumps(data).encode()


_fallback_handler: logging.Handler | None = None


def dispatch(data: bytes) -> None:
    """Hand a record forwarded by a child to this process's ``agentree`` loggers.

    A record nobody here handles (no handler on its logger's way up) is written to
    stderr in agentree's format, so that a child's ``loglevel`` works even when
    the root has none.
    """
    global _fallback_handler
    try:
        fields = json.loads(data)
        if not isinstance(fields, dict):
            return
        fields["args"] = None
        record = logging.makeLogRecord(fields)
    except ValueError:
        return
    logger = logging.getLogger(record.name)
    if logger.hasHandlers():
        logger.handle(record)
        return
    if _fallback_handler is None:
        _fallback_handler = _stream_handler()
    _fallback_handler.handle(record)


def forward_to(path: str) -> None:
    """Send this process's ``agentree`` records to the root's socket at ``path``.

    Replaces the stderr handler :func:`configure` installed (the level stays).
    Nothing changes when no ``loglevel`` was configured here.
    """
    root = logging.getLogger("agentree")
    ours = [h for h in root.handlers if getattr(h, _HANDLER_FLAG, False)]
    if not ours:
        return
    for handler in ours:
        root.removeHandler(handler)
    handler = _ForwardHandler(path)
    setattr(handler, _HANDLER_FLAG, True)
    root.addHandler(handler)


def configure(level: str | None, actor_name: str) -> None:
    """Send agentree's records at ``level`` and above to stderr, tagged with the actor.

    ``None`` removes what an earlier call installed (agentree is silent again).

    Raises:
        InvalidOption: ``level`` is not a known level name.
    """
    number = None if level is None else level_number(level)
    if level is not None and number is None:
        raise InvalidOption(
            f"actor {actor_name!r}: loglevel={level!r} is not a log level; "
            f"use one of {', '.join(LEVEL_NAMES)}"
        )
    set_actor_path(actor_name)
    root = logging.getLogger("agentree")
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_FLAG, False):
            root.removeHandler(handler)
            handler.close()
    if number is None:
        return
    handler = _stream_handler()
    setattr(handler, _HANDLER_FLAG, True)
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
