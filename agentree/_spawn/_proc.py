"""Process handles: the one interface the supervisor uses to wait for and signal a child.

Which thread forks a child matters on Linux. A child asks for ``PR_SET_PDEATHSIG``
(see ``agentree._child``), and the kernel sends that signal when the *thread* that
forked it exits, not when its process does. ``trio.lowlevel.open_process`` forks from
one of trio's worker threads, which exits after 10 s idle: the child was SIGKILLed
10 s after its start (issue 13, bug 1). So :func:`spawn_subprocess` forks from the
thread that runs this actor's trio loop (an asyncio guest's loop thread when trio is
a guest), which lives as long as the actor itself: the child's death signal then
means what it should, "the actor that started me is gone". The cost is that the
trio loop is blocked while ``fork``/``exec`` run: ``subprocess.Popen`` returns once
the new program is exec'd (``vfork``; 0.4 ms median measured here), before the new
interpreter starts up.

A dedicated long-lived spawner thread would also work, but adds a thread per actor
and a hand-off for every spawn; a worker thread kept alive by a larger idle timeout
would only move the bug further out.

The ``forkserver`` start method does not have the problem: the forkserver itself sets
no death signal (it notices the root's end by its control pipe closing, which only
the root process's exit does), and it forks every actor from its only thread, which
lives as long as it does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Protocol

import trio

from .._runtime._reaper import TAG_ENV

__all__ = ["ProcessHandle", "SubprocessHandle", "child_env", "spawn_subprocess"]


class ProcessHandle(Protocol):
    """A child process that this actor may wait for and signal."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    async def send_signal(self, sig: int) -> None: ...


class SubprocessHandle:
    """A child started by this process (``subprocess`` start method).

    Waits on a pidfd, so no thread is needed to wait for the exit, and signals only a
    child not reaped yet, so the pid cannot have been reused.
    """

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self._pidfd: int | None = os.pidfd_open(popen.pid)
        self._lock = trio.Lock()

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        """Wait for the child to exit and reap it; several tasks may wait at once."""
        async with self._lock:
            if self._popen.returncode is None and self._pidfd is not None:
                await trio.lowlevel.wait_readable(self._pidfd)
                self._popen.wait()
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        code = self._popen.returncode
        assert code is not None
        return code

    async def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the child, unless it has already exited."""
        if self._popen.returncode is None:
            self._popen.send_signal(sig)
        await trio.lowlevel.checkpoint()


def child_env() -> dict[str, str]:
    """The environment for a child interpreter: ours, with agentree importable."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [here, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


async def spawn_subprocess(fd: int, *, tag: str | None = None) -> SubprocessHandle:
    """Start ``python -m agentree._child`` on the connected socket ``fd``.

    Forks from the calling (trio) thread on purpose; see the module's docstring.
    ``tag`` goes in its environment as ``AGENTREE_ACTOR``, inherited by whatever it
    starts (see ``_runtime._reaper``).
    """
    env = child_env()
    if tag is not None:
        env[TAG_ENV] = tag
    await trio.lowlevel.checkpoint()
    popen = subprocess.Popen(  # noqa: ASYNC220 - from this thread on purpose
        [sys.executable, "-m", "agentree._child", str(fd), str(os.getpid())],
        pass_fds=(fd,),
        env=env,
    )
    try:
        return SubprocessHandle(popen)
    except BaseException:
        popen.kill()
        popen.wait()
        raise
