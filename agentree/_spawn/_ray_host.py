"""The thin Ray actor that hosts one agentree child on the node Ray picked.

It imports nothing of Ray: :mod:`agentree._spawn._ray` wraps it with ``ray.remote``
(Ray finds the class by its module on the node, so agentree must be installed
there). Its constructor starts ``python -m agentree._spawn._ray_child`` and writes the
boot record (the parent's address, the child's identity and the tree's secret) to
the child's stdin: the secret reaches it through Ray's spawn argument and a pipe,
never an environment variable or a command line.

The pipe stays open as the child's lifeline: when this host ends (``ray.kill``, a
node failure), the child reads end of file and kills itself.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from ._proc import child_env

__all__ = ["RayHost"]


class RayHost:
    """Starts one agentree child process and reports on it.

    Args:
        boot: the child's boot record (JSON, one line), secret included.
    """

    def __init__(self, boot: bytes) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "agentree._spawn._ray_child"],
            stdin=subprocess.PIPE,
            env=child_env(),
        )
        assert self._proc.stdin is not None
        self._proc.stdin.write(boot.rstrip(b"\n") + b"\n")
        self._proc.stdin.flush()

    def where(self) -> tuple[int, str, str]:
        """The child's pid, this machine's host name, and the Ray node's hex id."""
        import ray  # in a Ray worker: Ray is there

        return self._proc.pid, socket.gethostname(), ray.get_runtime_context().get_node_id()

    def wait(self) -> int:
        """Wait for the child to exit; its return code (negative: a signal)."""
        return self._proc.wait()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child, unless it has exited already."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.Signals(sig))
