"""A helper process of the root that runs until its control pipe closes.

The forkserver and the janitor each hold the read end of a pipe whose only writer
is the root: when the root closes it (or dies) the read returns and the helper
does its last job and exits. Stopping one is closing the pipe, then waiting for
it, at most a few seconds before killing it.
"""

from __future__ import annotations

import os
from typing import Protocol

import trio

__all__ = ["HelperProcess", "ProcessLike"]


class ProcessLike(Protocol):
    """What a helper is run as: a ``trio.Process``, or a process forked some other way."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def kill(self) -> None: ...


class HelperProcess:
    """The root's handle on a helper process stopped by closing its control pipe."""

    def __init__(self, proc: ProcessLike, control_w: int, *, stop_timeout: float) -> None:
        """Take charge of a started helper.

        Args:
            proc: the helper's process.
            control_w: the write end of its control pipe (this handle closes it).
            stop_timeout: seconds the helper gets to finish once told to, before
                SIGKILL.
        """
        self._proc = proc
        self._control_w: int | None = control_w
        self._stop_timeout = stop_timeout

    @property
    def pid(self) -> int:
        return self._proc.pid

    async def aclose(self) -> None:
        """Tell the helper to finish (close its pipe), wait for it; kill it if it is slow."""
        if self._control_w is not None:
            os.close(self._control_w)
            self._control_w = None
        with trio.CancelScope(shield=True):
            with trio.move_on_after(self._stop_timeout):
                await self._proc.wait()
            if self._proc.returncode is None:
                self._proc.kill()
                await self._proc.wait()
