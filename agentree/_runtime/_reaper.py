"""No descendant outlives its actor: child subreapers and the killing of leftovers.

Every actor process is a Linux *child subreaper* (``PR_SET_CHILD_SUBREAPER``): a
process that its user code started and that loses its parent (a double-forked
daemon, the children of a ``multiprocessing`` worker that died) is re-parented to
the actor instead of to init, so the actor still sees it. Then:

- **An actor that ends normally** terminates every descendant left (SIGTERM, a
  short grace, SIGKILL) and reaps them, before it closes its parent channel:
  :func:`end_descendants`.
- **An actor that is killed** (SIGKILL, a crash) leaves its children to the
  nearest subreaper above it, which kills them:

  * with the forkserver start method that is the forkserver, the OS parent of
    every forked actor. It kills and reaps every child of its own that is not an
    actor it forked (:func:`kill_strays_now`), reporting nothing for them;
  * with the subprocess start method it is the parent actor, the OS parent of its
    child actors. It must not kill the processes its own user code started, so
    each subprocess actor is started with ``AGENTREE_ACTOR=<its uuid>`` in its
    environment, which its descendants inherit (through ``fork`` as the initial
    environment block, through ``exec`` as ``os.environ``). When one of its child
    actors has ended, the parent kills the children it adopted whose tag names
    another actor that is not one of its live children (:func:`kill_orphans`).
    A process started with an environment that drops the tag is not recognised:
    it is killed only when its adoptive actor ends normally.

The root actor is the user's program. It becomes a subreaper only with the
subprocess start method (its child actors' orphans come to it) and then kills only
orphans that carry another actor's tag: processes its own user code started are the
user's business, at any time, and it never kills its descendants when it ends.

Processes are found through ``/proc`` and signalled through pidfds, so a pid that is
reused meanwhile is never signalled; waits are on pidfds (event-driven).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import time

import trio

__all__ = [
    "DESCENDANT_GRACE",
    "TAG_ENV",
    "become_subreaper",
    "children_of",
    "descendants_of",
    "end_descendants",
    "env_tag",
    "has_children",
    "kill_orphans",
    "kill_strays_now",
    "live_child_tags",
    "own_tag",
    "stop_being_subreaper",
]

TAG_ENV = "AGENTREE_ACTOR"
# Seconds the descendants of an actor that ends get after SIGTERM, before SIGKILL.
DESCENDANT_GRACE = 0.5
# Bounds on the clean-up loops: a fork bomb must not keep an actor from exiting.
_MAX_ROUNDS = 100
_KILL_WAIT = 2.0

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
_TAG_PREFIX = TAG_ENV.encode() + b"="
# A process in the middle of an exec shows an empty environment for a moment: for how
# long at most its environment is read again (and how far apart) before it counts
# as empty.
_EXEC_WAIT = 0.1
_EXEC_RETRY_WAIT = 0.0005
_PF_KTHREAD = 0x00200000

# The tags of this process's child actors that are starting or running (subprocess
# start method). Process-wide on purpose: OS children belong to the process.
live_child_tags: set[str] = set()


def _prctl(option: int, arg: int | ctypes.c_int | ctypes._Pointer[ctypes.c_int]) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result: int = libc.prctl(option, arg, 0, 0, 0)
    return result


def become_subreaper() -> bool:
    """Make this process a child subreaper; return whether it already was one.

    A no-op (returning ``True``) off Linux.
    """
    if not sys.platform.startswith("linux"):
        return True
    value = ctypes.c_int(0)
    _prctl(_PR_GET_CHILD_SUBREAPER, ctypes.pointer(value))
    if not value.value:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    return bool(value.value)


def stop_being_subreaper() -> None:
    """Undo :func:`become_subreaper` (for the root, whose process goes on)."""
    if sys.platform.startswith("linux"):
        _prctl(_PR_SET_CHILD_SUBREAPER, 0)


# -- finding processes ---------------------------------------------------------------------


def _ppid(pid: int | str) -> int | None:
    """Process ``pid``'s parent pid now, or ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 else None


def _parents() -> dict[int, int]:
    """Every process's parent pid, by pid (from ``/proc``)."""
    parents = {}
    try:
        entries = os.scandir("/proc")
    except OSError:
        return {}
    with entries:
        for entry in entries:
            if entry.name.isdigit() and (ppid := _ppid(entry.name)) is not None:
                parents[int(entry.name)] = ppid
    return parents


def has_children() -> bool:
    """Whether this process has any child at all (one cheap system call).

    A subreaper without children has no descendants either.
    """
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def children_of(pid: int) -> list[int]:
    """The pids of ``pid``'s children now."""
    return [child for child, parent in _parents().items() if parent == pid]


def descendants_of(pid: int) -> list[int]:
    """The pids of every descendant of ``pid`` now, children first."""
    by_parent: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        by_parent.setdefault(parent, []).append(child)
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in by_parent.get(pending.pop(), ()):
            found.append(child)
            pending.append(child)
    return found


def env_tag(pid: int) -> str | None:
    """The ``AGENTREE_ACTOR`` tag of process ``pid``'s initial environment, if any.

    A process that is in the middle of an ``exec`` has no environment to show until
    its new image is set up: it is read again until it has one (or ends), within
    bounds.
    """
    environ = _environ(pid)
    if environ == b"":
        environ = _environ_after_exec(pid)
    if not environ:
        return None
    for item in environ.split(b"\0"):
        if item.startswith(_TAG_PREFIX):
            return item[len(_TAG_PREFIX) :].decode(errors="replace")
    return None


def _environ(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return None


def _environ_after_exec(pid: int) -> bytes | None:
    """The environment of a process that showed none, once any exec it is in ends."""
    deadline = time.monotonic() + _EXEC_WAIT
    while True:
        execing = _may_be_execing(pid)
        # Read after that look: an exec that ended since the last read shows now.
        environ = _environ(pid)
        if environ or not execing or time.monotonic() > deadline:
            return environ
        time.sleep(_EXEC_RETRY_WAIT)


def _may_be_execing(pid: int) -> bool:
    """Whether a process with an empty environment may be in the middle of an exec.

    Until its new image has a command line it is; after that, only while it runs
    (its environment is being laid out, in the kernel). A process started with an
    empty environment usually sleeps. Zombies and kernel threads never exec.
    """
    try:
        # The command line first: the state read after it is as new (an exec that
        # slept in its early part may have got to laying out its environment since).
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read(1)
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    # After "(comm) ": state ppid pgrp session tty_nr tpgid flags ...
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) < 7 or fields[0] in (b"Z", b"X") or int(fields[6]) & _PF_KTHREAD:
        return False
    return not cmdline or fields[0] == b"R"


def own_tag() -> str | None:
    """This process's own tag (what the processes it starts inherit)."""
    return env_tag(os.getpid())


# -- signalling through pidfds ---------------------------------------------------------


def _open(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):
        return None  # already gone, not ours to see, or not Linux


def _signal(pidfd: int, sig: int) -> None:
    with contextlib.suppress(OSError):
        signal.pidfd_send_signal(pidfd, sig)


def _reap(pid: int) -> None:
    """Reap ``pid`` if it is a child of ours that has exited."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _exited(pidfd: int) -> bool:
    return bool(select.select([pidfd], [], [], 0)[0])


# -- an actor that ends ----------------------------------------------------------------


def end_descendants(grace: float = DESCENDANT_GRACE) -> list[int]:
    """Terminate every descendant of this process and reap our children; blocking.

    SIGTERM first; whatever is still running ``grace`` seconds later gets SIGKILL.
    Processes that appear meanwhile (forked by a dying descendant, or re-parented
    to us) get the same treatment. Waits on pidfds, bounded by ``grace`` plus a
    few seconds whatever happens.

    Returns:
        The pids that were signalled.
    """
    me = os.getpid()
    deadline = time.monotonic() + grace
    hard_deadline = deadline + _KILL_WAIT
    pidfds: dict[int, int] = {}
    killed: set[int] = set()
    try:
        for _ in range(_MAX_ROUNDS):
            now = time.monotonic()
            alive = []
            found = descendants_of(me)
            tree = {me, *found}
            for pid in found:
                pidfd = pidfds.get(pid)
                if pidfd is None:
                    pidfd = _open(pid)
                    if pidfd is None:
                        continue
                    if _ppid(pid) not in tree:
                        # It ended and its pid went to another process before the
                        # pidfd pinned it: not ours.
                        os.close(pidfd)
                        continue
                    pidfds[pid] = pidfd
                    _signal(pidfd, signal.SIGTERM)
                if _exited(pidfd):
                    _reap(pid)  # a zombie child of ours: it no longer counts
                    continue
                if now >= deadline and pid not in killed:
                    _signal(pidfd, signal.SIGKILL)
                    killed.add(pid)
                alive.append(pidfd)
            if not alive or now >= hard_deadline:
                break
            timeout = (deadline if now < deadline else hard_deadline) - now
            select.select(alive, [], [], max(timeout, 0.0))
        for pid in pidfds:
            _reap(pid)
    finally:
        for pidfd in pidfds.values():
            os.close(pidfd)
    return list(pidfds)


# -- orphans of an actor that was killed -------------------------------------------------


def kill_strays_now(keep: set[int]) -> list[int]:
    """SIGKILL every child of this process whose pid is not in ``keep``; non-blocking.

    For the forkserver: ``keep`` holds the actors it forked; anything else that is
    its child was re-parented to it. The caller reaps the returned pids (their
    pidfds become readable) and calls this again, since a stray's own children are
    re-parented here in turn when it dies.

    Returns:
        The pids that were sent SIGKILL.
    """
    killed = []
    for pid in children_of(os.getpid()):
        if pid in keep:
            continue
        pidfd = _open(pid)
        if pidfd is None:
            continue
        try:
            _signal(pidfd, signal.SIGKILL)
        finally:
            os.close(pidfd)
        killed.append(pid)
    return killed


def _find_tagged(mine: str | None, keep_pids: frozenset[int]) -> list[tuple[int, str]]:
    """Our children tagged by another actor than ``mine``, as ``(pid, tag)``."""
    return [
        (pid, tag)
        for pid in children_of(os.getpid())
        if pid not in keep_pids and (tag := env_tag(pid)) is not None and tag != mine
    ]


async def kill_orphans(mine: str | None, *, keep_pids: frozenset[int] = frozenset()) -> int:
    """Kill and reap the children re-parented to this actor from a child actor's subtree.

    A child counts as such an orphan when its tag is present, is not ``mine``
    and is not the tag of a live child actor (see :data:`live_child_tags`);
    ``keep_pids`` are never touched (the forkserver). Waits on pidfds for them to
    exit, then looks again (their own children come here next), within bounds.

    Returns:
        How many processes were killed.
    """
    count = 0
    with trio.move_on_after(_KILL_WAIT * 2):
        for _ in range(_MAX_ROUNDS):
            # In a worker thread: the scan reads /proc, and the tasks that the
            # child's end just woke should not wait for it.
            tagged = await trio.to_thread.run_sync(_find_tagged, mine, keep_pids)
            # Checked against the live tags after the scan, not before it: a child
            # actor spawned meanwhile registered its tag before its process existed.
            orphans = [pid for pid, tag in tagged if tag not in live_child_tags]
            if not orphans:
                break
            for pid in orphans:
                pidfd = _open(pid)
                if pidfd is None:
                    continue
                try:
                    _signal(pidfd, signal.SIGKILL)
                    count += 1
                    with trio.move_on_after(_KILL_WAIT):
                        await trio.lowlevel.wait_readable(pidfd)
                finally:
                    os.close(pidfd)
                _reap(pid)
    return count
