"""Children's log records reach the root: one datagram socket per tree.

The root binds ``log.sock`` (a ``SOCK_DGRAM`` UDS) in the tree's private directory
and reads it in a task of its runtime, handing each record to its own ``agentree``
loggers (:func:`agentree.log.dispatch`). A child with a ``loglevel`` sends each
record there instead of writing to stderr (:func:`agentree.log.forward_to`):

- a datagram arrives whole, so lines never interleave mid-line;
- the send is synchronous and blocks while the root's queue is full, so a record
  is in the root's socket before the ``log`` call returns and is not lost when the
  child dies right after (the root drains the socket before it closes);
- one actor's records keep their order (one socket, read in order).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import trio

from .. import log as agentree_log
from ._hooks import register_runtime_hook

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = ["LOG_SOCKET"]

LOG_SOCKET = "log.sock"
_RCVBUF = 4 * 1024 * 1024

log = logging.getLogger("agentree.runtime")


def _drain(sock: socket.socket) -> None:
    while True:
        try:
            data = sock.recv(1 << 17)
        except (BlockingIOError, OSError):
            return
        agentree_log.dispatch(data)


async def _read(sock: socket.socket) -> None:
    # The hook may close the socket before this task first runs (a root whose body
    # failed at once): a closed socket has fileno -1.
    while sock.fileno() >= 0:
        try:
            await trio.lowlevel.wait_readable(sock)
        except (trio.ClosedResourceError, OSError, ValueError):
            return
        _drain(sock)


def _bind(path: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        sock.bind(path)
    except OSError as exc:
        sock.close()
        log.warning("no log socket at %s (children log to stderr themselves): %s", path, exc)
        return None
    sock.setblocking(False)
    return sock


@asynccontextmanager
async def _logs_hook(actor: Actor) -> AsyncIterator[None]:
    tmpdir = actor.options.tmpdir
    if tmpdir is None:
        yield
        return
    path = os.path.join(tmpdir, LOG_SOCKET)
    if not actor.is_root:
        agentree_log.forward_to(path)
        yield
        return
    sock = _bind(path)
    if sock is None or actor._service is None:
        yield
        return
    actor._service.start_soon(_read, sock)
    try:
        yield
    finally:
        # Every child has ended by now: what they sent is in the queue.
        _drain(sock)
        with contextlib.suppress(RuntimeError):
            trio.lowlevel.notify_closing(sock)
        sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


register_runtime_hook("logs", _logs_hook)
