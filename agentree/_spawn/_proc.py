"""Process handles: the one interface the supervisor uses to wait for and signal a child."""

from __future__ import annotations

import os
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
    """A child started by this process (``subprocess`` start method)."""

    def __init__(self, proc: trio.Process) -> None:
        self._proc = proc
        self.pid = proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    async def wait(self) -> int:
        return await self._proc.wait()

    async def send_signal(self, sig: int) -> None:
        if self._proc.returncode is None:
            self._proc.send_signal(sig)


def child_env() -> dict[str, str]:
    """The environment for a child interpreter: ours, with agentree importable."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [here, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


async def spawn_subprocess(fd: int, *, tag: str | None = None) -> SubprocessHandle:
    """Start ``python -m agentree._child`` on the connected socket ``fd``.

    ``tag`` goes in its environment as ``AGENTREE_ACTOR``, inherited by whatever it
    starts (see ``_runtime._reaper``).
    """
    env = child_env()
    if tag is not None:
        env[TAG_ENV] = tag
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "agentree._child", str(fd), str(os.getpid())],
        pass_fds=(fd,),
        env=env,
    )
    return SubprocessHandle(proc)
