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

from ._helper import HelperProcess

__all__ = ["Janitor", "start_janitor"]

# SIGINT is ignored: a Ctrl-C reaches the whole foreground process group, and the
# janitor must outlive the root's own teardown.
# After a normal end the root has removed the directory: then no rm runs at all.
_SCRIPT = 'trap "" INT; read _; [ -e "$1" ] && exec rm -rf -- "$1"'
_STOP_TIMEOUT = 2.0


class Janitor(HelperProcess):
    """The running janitor of one directory (see :func:`start_janitor`).

    ``aclose()`` lets it go now: it removes the directory, if still there.
    """

    def __init__(self, proc: trio.Process, control: int) -> None:
        super().__init__(proc, control, stop_timeout=_STOP_TIMEOUT)


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
