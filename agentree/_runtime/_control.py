"""The control endpoint: what ``agentree tree`` and ``agentree stop`` read and ask.

The root of every tree writes a *control file*, ``control.json``, into the tree's
private 0700 directory (mode 0600, created exclusively, never through a symlink):
its pid, name and uid, the path of its listening socket and the tree's secret. The
``agentree`` command line of the same user finds trees by these files, connects to
the root's socket and passes the tree's usual HMAC handshake; another user can
neither list the directory nor read the file.

Two runtime endpoints (served by every actor whatever its ``enable_modules``, see
``_hooks``) answer it:

- :func:`snapshot`: this actor's row (pid, state, uptime, calls in flight, the
  agents its supervisors run, open feedback questions) and, gathered concurrently
  from each child over the parent channel, its children's; a child that does not
  answer within its share of the time is reported as ``"not answering"`` with the
  pid its parent knows, never a hang;
- :func:`stop`: stop one actor (through its parent's nursery: cancel request, wait,
  SIGTERM, SIGKILL) or one agent (``terminate_child`` of its supervisor), found by
  path anywhere below.

The layers above make their objects visible with :func:`track` (nurseries,
supervisors, feedback levels, agent hosts with their ``queued_calls()``): a weak
set, read only when asked. The runtime hook here also sets every actor's process
title (``agentree._proctitle``): its whole path from the root (``Actor.path``,
given by its parent at spawn).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import trio

from .. import _proctitle
from ._hooks import register_endpoint, register_runtime_hook
from ._peers import socket_path
from ._state import current_actor

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = [
    "CONTROL_FILE",
    "SNAPSHOT_NS",
    "STOP_NS",
    "root_pid",
    "snapshot",
    "stop",
    "track",
]

log = logging.getLogger("agentree.runtime")

CONTROL_FILE = "control.json"
SNAPSHOT_NS = "agentree._runtime._control:snapshot"
STOP_NS = "agentree._runtime._control:stop"
# A child gets this share of its parent's time budget to answer a snapshot.
_CHILD_SHARE = 0.7
_MIN_BUDGET = 0.02

_tracked: weakref.WeakSet[Any] = weakref.WeakSet()
_started: weakref.WeakKeyDictionary[Actor, float] = weakref.WeakKeyDictionary()
_root_pid: int | None = None


def track(obj: Any) -> None:
    """Make ``obj`` (an actor nursery, a supervisor, a feedback level) visible here."""
    _tracked.add(obj)


def root_pid() -> int | None:
    """The pid of this tree's root (``None`` outside a tree)."""
    return _root_pid


def _read_root_pid(tmpdir: str | None) -> int | None:
    if tmpdir is None:
        return None
    try:
        with open(os.path.join(tmpdir, CONTROL_FILE), "rb") as f:
            pid = json.loads(f.read()).get("pid")
    except (OSError, ValueError):
        return None
    return pid if isinstance(pid, int) else None


def _write_control_file(actor: Actor) -> str | None:
    tmpdir = actor.options.tmpdir
    if tmpdir is None or not actor.options.secret:
        return None
    path = os.path.join(tmpdir, CONTROL_FILE)
    data = {
        "version": 1,
        "pid": actor.pid,
        "name": actor.name,
        "uuid": actor.uuid,
        "socket": socket_path(tmpdir, actor.uuid),
        "secret": actor.options.secret.hex(),
        "started": time.time(),
        "argv": sys.argv[:8],
        # A root in debug mode that does not answer may be in its own REPL.
        "debug_mode": actor.options.debug_mode,
    }
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        log.warning("actor %r: no control file (agentree tree cannot see it): %s", actor.name, exc)
        return None
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    return path


@asynccontextmanager
async def _control_hook(actor: Actor) -> AsyncIterator[None]:
    """Around every actor's runtime: its start time, title, and the root's control file."""
    global _root_pid
    _started[actor] = time.time()
    control = None
    old_comm = None
    title = _proctitle.actor_title(actor.path, actor.pid if actor.is_root else None)
    if actor.is_root:
        _root_pid = actor.pid
        control = _write_control_file(actor)
        # The user's program keeps its command line; its short name says agentree.
        old_comm = _proctitle.get_comm()
        _proctitle.set_comm(_proctitle.short_title(title))
    else:
        _root_pid = _read_root_pid(actor.options.tmpdir)
        _proctitle.set_title(_proctitle.actor_title(actor.path, _root_pid))
    try:
        yield
    finally:
        if control is not None:
            with contextlib.suppress(OSError):
                os.unlink(control)
        if old_comm:
            _proctitle.set_comm(old_comm)


# -- snapshot -------------------------------------------------------------------------


def _state(actor: Actor) -> str:
    repl = sys.modules.get("agentree.devx._repl")
    if repl is not None and getattr(repl, "active_repl", lambda: None)() is not None:
        return "in a REPL"
    if actor.cancel_called:
        return "stopping"
    return "running"


def _repl_holder(actor: Actor) -> str | None:
    """In the root: the uuid of the actor holding the terminal for a REPL, if any.

    That actor's loop is stopped in its REPL (it cannot answer for itself).
    """
    lock_module = sys.modules.get("agentree.devx._lock")
    held = getattr(lock_module, "_root", None)
    if not actor.is_root or held is None or held[0] is not actor:
        return None
    holder = getattr(held[1], "holder", None)
    return None if holder is None else str(holder[1])


def _nurseries(actor: Actor) -> list[Any]:
    return [an for an in list(_tracked) if getattr(an, "_actor", None) is actor]


def _agents() -> list[dict[str, Any]]:
    rows = []
    for obj in list(_tracked):
        which = getattr(obj, "which_children", None)
        if which is None:
            continue
        try:
            infos = which()
        except Exception:  # a supervisor that closed meanwhile
            continue
        for info in infos:
            rows.append(
                {
                    "path": info.path,
                    "kind": info.kind,
                    "state": info.phase,
                    "incarnation": info.incarnation,
                    "pid": info.pid,
                    "restarts": info.restarts,
                    "calls_running": info.calls_running,
                    "calls_queued": info.calls_queued,
                }
            )
    return rows


def _queued(actor: Actor) -> int:
    """Calls waiting on the limits of what runs in ``actor`` (an agent's caps)."""
    count = 0
    for obj in list(_tracked):
        queued = getattr(obj, "queued_calls", None)
        if queued is not None and getattr(obj, "actor", None) is actor:
            with contextlib.suppress(Exception):
                count += int(queued())
    return count


def _questions() -> int:
    count = 0
    for obj in list(_tracked):
        pending = getattr(obj, "pending", None)
        if isinstance(pending, dict):
            count += len(pending)
    return count


async def _child_row(portal: Any, budget: float) -> dict[str, Any]:
    child = portal._child
    row: dict[str, Any] = {
        "name": child.name,
        "uuid": child.uuid,
        "pid": child.pid,
        "state": "not answering",
        "children": [],
    }
    with trio.move_on_after(budget):
        try:
            answer = await portal._conn.call(
                SNAPSHOT_NS, {"budget": max(budget * _CHILD_SHARE, _MIN_BUDGET)}
            )
        except Exception as exc:
            row["state"] = "gone"
            row["error"] = str(exc)[:200]
        else:
            if isinstance(answer, dict):
                row = answer
    if child.stopping and row.get("state") == "running":
        row["state"] = "stopping"
    return row


async def snapshot(budget: float = 1.0) -> dict[str, Any]:
    """This actor's row and, below it, its children's (each within a time budget).

    Args:
        budget: seconds this actor may spend; each child gets a share of it.
    """
    actor = current_actor()
    # Counted before this call first waits: until then it is not tracked itself.
    running = sum(len(conn._tasks) for conn in list(actor._conns))
    portals = [p for an in _nurseries(actor) for p in an.children.values()]
    # Oldest first (pids grow; a stable order for the drawing).
    portals.sort(key=lambda p: p._child.pid if p._child is not None else 0)
    rows: list[dict[str, Any]] = [{} for _ in portals]

    async def fill(i: int, portal: Any) -> None:
        rows[i] = await _child_row(portal, budget)

    async with trio.open_nursery() as nursery:
        for i, portal in enumerate(portals):
            nursery.start_soon(fill, i, portal)
    return {
        "name": actor.name,
        "path": actor.path,
        "uuid": actor.uuid,
        "pid": actor.pid,
        "state": _state(actor),
        "started": _started.get(actor),
        "calls_running": running,
        "calls_queued": _queued(actor),
        "questions": _questions(),
        "agents": _agents(),
        "children": rows,
        "repl_holder": _repl_holder(actor),
    }


# -- stop -----------------------------------------------------------------------------


async def _stop_agent(path: str) -> str | None:
    for obj in list(_tracked):
        which = getattr(obj, "which_children", None)
        if which is None:
            continue
        try:
            infos = which()
        except Exception:  # a supervisor that closed meanwhile
            continue
        for info in infos:
            if info.path == path:
                await obj.terminate_child(info.name)
                return f"agent {path!r} terminated by its supervisor {obj.path!r}"
    return None


async def stop(uuids: list[str], agent: str | None = None, shutdown: float = 5.0) -> str | None:
    """Stop the actor at ``uuids`` below this one, or an agent of the last of them.

    An actor is stopped by its parent's nursery (cancel request, ``shutdown``
    seconds, SIGTERM, SIGKILL); an agent by its supervisor's ``terminate_child``.

    Args:
        uuids: the uuids of the actors on the way down, this one excluded; empty
            with ``agent``: the agent's supervisor runs here.
        agent: the path of the agent to stop.
        shutdown: seconds an actor gets after the cancel request before SIGTERM.

    Returns:
        What was done, or ``None`` when nothing has that path (any more).
    """
    actor = current_actor()
    if not uuids:
        return None if agent is None else await _stop_agent(agent)
    for an in _nurseries(actor):
        for portal in list(an.children.values()):
            child = portal._child
            if child is None or child.uuid != uuids[0]:
                continue
            if len(uuids) == 1 and agent is None:
                exit = await an.stop_child(portal, shutdown=shutdown)
                return str(exit.describe())
            answer = await portal._conn.call(
                STOP_NS, {"uuids": uuids[1:], "agent": agent, "shutdown": shutdown}
            )
            return None if answer is None else str(answer)
    return None


register_endpoint(SNAPSHOT_NS, snapshot)
register_endpoint(STOP_NS, stop)
register_runtime_hook("control", _control_hook)
