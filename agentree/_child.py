"""Entry point of a child actor: ``python -m agentree._child FD PARENT_PID``.

Imports only what the handshake needs. The forkserver calls :func:`run_from_fd` in a
freshly forked process instead. Either way the child dies with its parent: Linux's
``PR_SET_PDEATHSIG`` sends it SIGKILL, and end of file on the parent channel cancels
its runtime. It is also a Linux child subreaper, so that whatever its own code
starts stays below it and ends with it (see ``_runtime._reaper``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
from typing import NoReturn

__all__ = ["flush_and_exit", "run_from_fd", "set_parent_death_signal"]

_PR_SET_PDEATHSIG = 1


def set_parent_death_signal(expected_parent: int, sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` when our parent exits; exit now if it already has."""
    if sys.platform.startswith("linux"):
        # The running program's own symbols include libc's prctl; no library search.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != expected_parent:
        os._exit(70)


def run_from_fd(fd: int, expected_parent: int) -> int:
    """Become a child actor on the connected socket ``fd``; return the exit code."""
    set_parent_death_signal(expected_parent)
    # What the actor's code starts stays below it, even when orphaned (see _reaper).
    from ._runtime._reaper import become_subreaper

    become_subreaper()
    # The root owns Ctrl-C: it cancels the tree over IPC.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM kills a child (its parent's escalation relies on it), even when the
    # root was started with SIGTERM ignored, which ``exec`` would pass on.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import trio

    from ._runtime._serve import receive_spec, run_child

    sock = socket.socket(fileno=fd)
    spec = receive_spec(sock)
    if spec is None:
        sock.close()
        return 3
    if spec.infect_asyncio:
        from ._runtime._guest import run_as_asyncio_guest

        return run_as_asyncio_guest(run_child, sock, spec)
    return trio.run(run_child, sock, spec)


def main() -> None:
    """Console entry for the ``subprocess`` start method.

    Exits like a forked child: flush what was written, then ``os._exit``. The
    runtime already tore everything down; a full interpreter shutdown would only
    make the parent wait longer for the exit.
    """
    fd, parent = int(sys.argv[1]), int(sys.argv[2])
    code = run_from_fd(fd, parent)
    flush_and_exit(code)


def flush_and_exit(code: int) -> NoReturn:
    """Flush logging and stdio, then end the process at once with ``code``."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
