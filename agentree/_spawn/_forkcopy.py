"""The forkserver as a copy of the root: forked, not started, when the root is single-threaded.

Why
---
A fresh program's first actor used to cost ~190 ms more than the same program
without it (whole-process medians on this 2-core machine): the forkserver is a new
interpreter that imports trio, msgspec and agentree before it can fork anything,
and the first request waits for all of it. Three ways to cut it were measured
(``python script.py`` that runs one function in one actor, minus the same script
without the actor; both import agentree):

- **fresh forkserver** (``python -c ...``, the old way): +190 ms;
- **fresh forkserver, started earlier** so that its boot overlaps the root's own
  setup: the root has nothing left to do by the time it opens its tree (it already
  imported everything), so there is nothing to overlap with; starting it at
  ``import agentree`` would cost every importer a process. No gain worth having;
- **a fork of the root** (this module): the copy has trio, msgspec, agentree and
  the user's modules imported already; forking a ~30 MiB process costs ~1-2 ms, and
  the first result arrives 13-27 ms (medians) after the root opens. This is the
  default.

Measured with ``bench/run.py --only prog`` (fresh processes, medians of paired
per-repetition differences, load average 2-4 on 2 cores): one actor -16 to +27 ms
over the same program without it for the copy, +150 to +250 ms for the fresh
forkserver; eight actors +130 ms and +270 ms.

So :func:`fork_forkserver` forks the root, and the copy turns itself into the
forkserver (``_forkserver._Server``, the same one a fresh forkserver runs). A fresh
forkserver (``python -c``) remains the fallback and is used whenever forking is not
safe: another thread runs in the root (a copy of a process taken while another
thread may hold a lock, in the allocator, in logging or in the import system, may
deadlock), the root's trio runs as a guest of an asyncio loop, this is not the main
thread, or trio's run state is not where this module expects it.
``AGENTREE_FORKSERVER=fresh`` in the environment forces the fresh forkserver.

What the copy fixes before it serves
------------------------------------
A fork copies the whole process, so the copy undoes what belongs to the root:

- **file descriptors**: every descriptor except stdio and the forkserver's own
  listening socket and control pipe is pointed at ``/dev/null`` (``dup2``), not
  closed. So no socket or file of the root reaches a child, and a descriptor
  number that an object of the root still names (a logging handler's file, a
  socket) is never reused for something else in the copy or in the actors
  forked from it: a stray write lands in ``/dev/null``, never in an actor's
  channel;
- **the garbage collector**: ``gc.freeze()`` at once, so that the root's objects
  (garbage included) are never collected in the copy or in its children: none of
  their finalizers runs there (a socket's would close a descriptor number);
- **trio's run state**: the copy was taken inside the root's ``trio.run``, whose
  per-thread state says "running". It is set aside (kept referenced), so that an
  actor forked from the copy can call ``trio.run`` itself;
- **signals**: the root's Python signal handlers and its wakeup descriptor (trio's)
  are reset; the forkserver then ignores SIGINT, SIGTERM and SIGHUP as a fresh one
  does. SIGINT, SIGTERM and SIGHUP are blocked across the ``fork`` so that none
  reaches the copy before that;
- **context variables**: the copy runs in an empty :class:`contextvars.Context`,
  so nothing of the root's task (its actor, for one) is seen by the actors;
- **the environment**: ``PYTHONPATH`` is extended as for a fresh forkserver;
- **logging**: the root logger's handlers and level (``logging.basicConfig()``) are
  reset as in a fresh interpreter, so that the root's log configuration does not
  print every actor's records too;
- **stdio**: the root flushes ``sys.stdout`` and ``sys.stderr`` before forking, so
  that nothing it printed is printed again by a copy.

The copy and every actor it forks never return into the root's code: each ends
with ``os._exit``.

What stays different from a fresh forkserver: an actor starts from a copy of the
root as it was when the tree opened, so the modules the root had imported are
imported already, with their state at that moment (like ``multiprocessing``'s
``fork`` start method; the root's ``__main__`` is still loaded afresh, without its
guard, when an actor enables it). The guarantees do not change: the copy is the OS
parent of every actor and a child subreaper, it notices the root's end by its
control pipe, kills what is left and removes the tree's directory.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import gc
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

import trio

from .._proctitle import actor_title, set_title, short_title

__all__ = [
    "ENV_SWITCH",
    "FORKSERVER_NAME",
    "ForkedServerProcess",
    "fork_forkserver",
    "fork_refusal",
    "restore_process_name",
]

ENV_SWITCH = "AGENTREE_FORKSERVER"
# The copy's process name (``/proc/PID/comm``, at most 15 bytes), as the fresh
# forkserver's: the end of its title ``agentree[forkserver] root=PID``, which is also
# its command line where setproctitle is installed (else the root's command line).
FORKSERVER_NAME = short_title(actor_title("forkserver", None))
_PR_SET_NAME = 15
_BLOCKED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
# The root's trio run state, set aside in the copy (never freed there).
_set_aside: list[Any] = []
# The root's process name, in the copy: its actors take it back.
_root_name: list[str] = []


def _trio_run_context() -> Any:
    """Trio's per-thread run state, or ``None`` if this trio keeps it elsewhere."""
    core_run = getattr(getattr(trio, "_core", None), "_run", None)
    ctx = getattr(core_run, "GLOBAL_RUN_CONTEXT", None)
    if ctx is None or not isinstance(getattr(ctx, "__dict__", None), dict):
        return None
    return ctx


def _thread_count() -> int:
    """Threads of this process, Python's or not (a C library's count too)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def fork_refusal() -> str | None:
    """Why the root must not be forked right now (``None``: it may be)."""
    if os.environ.get(ENV_SWITCH) == "fresh":
        return f"{ENV_SWITCH}=fresh"
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if threading.current_thread() is not threading.main_thread():
        return "not the main thread"
    if _thread_count() != 1:
        return "other threads are running"
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and asyncio.events._get_running_loop() is not None:
        return "trio runs as a guest of an asyncio loop"
    if _trio_run_context() is None:
        return "trio's run state is not where it was expected"
    return None


def restore_process_name() -> None:
    """In an actor forked by a copy of the root: take the root's process name back."""
    if _root_name:
        set_process_name(_root_name[0])


def set_process_name(name: str) -> None:
    """Set this process's name as ``ps -o comm`` and ``/proc/PID/comm`` show it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def process_name() -> str:
    """This process's name (``/proc/self/comm``)."""
    try:
        with open("/proc/self/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def fork_forkserver(
    keep: tuple[int, int], serve: Callable[[int, int], None], env: dict[str, str]
) -> int:
    """Fork this (root) process into the forkserver; return its pid.

    Only call it when :func:`fork_refusal` says nothing. The copy keeps stdio and
    ``keep`` (the listening socket and the control pipe's read end), fixes the
    rest (see the module docstring) and runs ``serve(*keep)``; it never returns.

    Args:
        keep: the listening socket's and the control pipe's descriptors.
        serve: the forkserver's loop.
        env: the environment a fresh forkserver would get.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
    root_name = process_name()
    # The copy is born with its name (``ps``, ``/proc/PID/comm``), not given it a
    # moment later: whoever lists the processes right after sees what it is.
    set_process_name(FORKSERVER_NAME)
    try:
        pid = os.fork()
        if pid == 0:
            _become_forkserver(keep, serve, env, root_name)
    finally:
        set_process_name(root_name)
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    return pid


def _become_forkserver(
    keep: tuple[int, int], serve: Callable[[int, int], None], env: dict[str, str], root_name: str
) -> None:
    code = 1
    try:
        gc.freeze()
        _scrub_descriptors(keep)
        _scrub_signals()
        ctx = _trio_run_context()
        _set_aside.append(dict(ctx.__dict__))
        ctx.__dict__.clear()
        _root_name.append(root_name)
        # Before the environment changes: setproctitle finds the command line's
        # memory from the environment's, as the process started with it.
        set_title(actor_title("forkserver", os.getppid()))
        os.environ.update(env)
        _forget_logging()
        contextvars.Context().run(serve, *keep)
        code = 0
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        os._exit(code)


def _scrub_descriptors(keep: tuple[int, int]) -> None:
    """Point every descriptor but stdio and ``keep`` at ``/dev/null``."""
    kept = {0, 1, 2, *keep}
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd in kept or fd == devnull:
            continue
        with contextlib.suppress(OSError):
            os.dup2(devnull, fd, inheritable=False)
    os.close(devnull)


def _forget_logging() -> None:
    """Undo the root's ``logging.basicConfig()``: its handlers are not the actors'.

    A fresh interpreter starts with no handler on the root logger; the actors of a
    copy do too, so that a record is not printed once by the root and again by
    every actor that inherited its handler (whose file may be ``/dev/null`` now).
    Named loggers keep what libraries gave them when they were imported.
    """
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if isinstance(h, logging.NullHandler)]
    root.setLevel(logging.WARNING)


def _scrub_signals() -> None:
    """Forget the root's signal handlers and wakeup descriptor; ignore the group's."""
    signal.set_wakeup_fd(-1)
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            handler = signal.getsignal(sig)
        except (OSError, ValueError):
            continue
        if callable(handler):
            with contextlib.suppress(OSError, ValueError):
                signal.signal(sig, signal.SIG_DFL)
    for sig in _BLOCKED:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _BLOCKED)


class ForkedServerProcess:
    """The root's view of a forkserver it forked: waits on a pidfd, kills, reaps."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._pidfd: int | None = os.pidfd_open(pid)
        self.returncode: int | None = None

    async def wait(self) -> int:
        """Wait for the forkserver to exit and reap it."""
        if self.returncode is None and self._pidfd is not None:
            await trio.lowlevel.wait_readable(self._pidfd)
            try:
                # It has exited (its pidfd is readable): this returns at once.
                _, status = os.waitpid(self.pid, 0)  # noqa: ASYNC222
            except ChildProcessError:
                # Reaped by the kernel already: this program ignores SIGCHLD.
                self.returncode = 0
            else:
                self.returncode = os.waitstatus_to_exitcode(status)
            os.close(self._pidfd)
            self._pidfd = None
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the forkserver unless it was reaped already."""
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
