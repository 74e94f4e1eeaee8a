"""A tiny process that removes the tree's private directory if the root dies.

The actors' sockets live in the tree's private directory. The root removes it when
it ends; when the root is killed, something else must. With the forkserver start
method the forkserver does it. Otherwise a janitor does: ``sh`` waiting to read a
pipe whose only writer is the root. When the root process ends, however it ends,
the read returns and the janitor removes the directory. Starting it costs one
``fork``/``exec`` of ``sh`` per tree, nothing per actor.
"""

from __future__ import annotations

import os

import trio

__all__ = ["Janitor", "start_janitor"]

# SIGINT is ignored: a Ctrl-C reaches the whole foreground process group, and the
# janitor must outlive the root's own teardown.
# After a normal end the root has removed the directory: then no rm runs at all.
_SCRIPT = 'trap "" INT; read _; [ -e "$1" ] && exec rm -rf -- "$1"'
_STOP_TIMEOUT = 2.0


class Janitor:
    """The running janitor of one directory (see :func:`start_janitor`)."""

    def __init__(self, proc: trio.Process, control: int) -> None:
        self._proc = proc
        self._control: int | None = control

    @property
    def pid(self) -> int:
        return self._proc.pid

    async def aclose(self) -> None:
        """Let the janitor go now (it removes the directory, if still there) and reap it."""
        if self._control is not None:
            os.close(self._control)
            self._control = None
        with trio.CancelScope(shield=True):
            with trio.move_on_after(_STOP_TIMEOUT):
                await self._proc.wait()
            if self._proc.returncode is None:
                self._proc.kill()
                await self._proc.wait()


async def start_janitor(path: str) -> Janitor:
    """Start the janitor of directory ``path``; it removes it when this process ends."""
    control_r, control_w = os.pipe()
    try:
        proc = await trio.lowlevel.open_process(
            ["/bin/sh", "-c", _SCRIPT, "agentree-janitor", path],
            stdin=control_r,
            close_fds=True,
        )
    except BaseException:
        os.close(control_w)
        raise
    finally:
        os.close(control_r)
    return Janitor(proc, control_w)
