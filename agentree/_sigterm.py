"""SIGTERM in the root: stop the whole tree gracefully, as Ctrl-C does, then exit 143.

SIGTERM is how systemd, Docker and Kubernetes stop a program. While a root actor is
open, its process handles SIGTERM by cancelling the root, which tears the tree down
the usual way (each child: a graceful cancel request, then SIGTERM after
``cancel_timeout``, then SIGKILL after ``terminate_timeout``). Once the root has
closed (children reaped, the forkserver stopped, the tree's directory removed), the
root raises ``SystemExit(143)``: an uncaught one ends the program with exit status
143 (128 + SIGTERM), the status Docker and Kubernetes report for a container stopped
by SIGTERM, after ``finally`` blocks, ``atexit`` handlers and buffered output have
run. (systemd counts 143 as a failure unless the unit says ``SuccessExitStatus=143``;
re-raising SIGTERM at the very end would skip that cleanup in an embedding program.)

Embedding, the previous SIGTERM disposition decides:

- default: handled as above, and the default comes back when the root closes;
- ignored (``SIG_IGN``), or a handler set outside Python: left alone, not handled;
- a Python handler: the tree is torn down first, then the handler comes back and is
  called with ``(SIGTERM, None)``; whatever it does (raise, set a flag) decides what
  follows. Without it raising, the root's block ends as a cancelled block does.

A second SIGTERM while the tree is being torn down kills the root at once (the
default action): the tree then goes as when the root is SIGKILLed. Only the root's
main thread can handle signals; a root running in another thread leaves SIGTERM alone.
Children never handle SIGTERM: it kills them (its default action), and it is the
second step of the parent's escalation.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import trio

from ._runtime import Actor

__all__ = ["EXIT_STATUS", "SigtermGuard"]

EXIT_STATUS = 128 + int(signal.SIGTERM)
"""The root's exit status after a SIGTERM (143)."""

log = logging.getLogger("agentree.runtime")

_Handler = Callable[[int, FrameType | None], Any]


class SigtermGuard:
    """The root's SIGTERM handling for one root's lifetime.

    Attributes:
        received: whether SIGTERM arrived while the guard was installed.
    """

    def __init__(self) -> None:
        self.received = False
        self._actor: Actor | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._previous: _Handler | int | None = None
        self._installed = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGTERM in this process around the block (see the module's docstring)."""
        previous = signal.getsignal(signal.SIGTERM)
        if previous is None or previous == signal.SIG_IGN:
            yield
            return
        self._token = trio.lowlevel.current_trio_token()
        self._previous = previous
        try:
            signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread: signals are not ours to take
            yield
            return
        self._installed = True
        try:
            yield
        finally:
            if signal.getsignal(signal.SIGTERM) == self._handle:
                signal.signal(signal.SIGTERM, previous)
            self._installed = False

    def watch(self, actor: Actor) -> None:
        """Cancel ``actor`` (the root, its runtime running) on SIGTERM, or now if it came."""
        self._actor = actor
        if self.received:
            actor.cancel_soon()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received:
            # Second SIGTERM: the default action, now.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        self.received = True
        assert self._token is not None
        self._token.run_sync_soon(self._cancel, idempotent=True)

    def _cancel(self) -> None:
        log.info("SIGTERM: cancelling the tree")
        if self._actor is not None:
            self._actor.cancel_soon()

    def after_close(self, error: BaseException | None) -> None:
        """Called once the root has closed: act on a SIGTERM that arrived, if any.

        Args:
            error: what the root's block raised, ``None`` if it ended normally.

        Raises:
            SystemExit: with status 143, when SIGTERM had the default disposition.
        """
        if not self.received:
            return
        if callable(self._previous):
            self._previous(signal.SIGTERM, None)
            return
        raise SystemExit(EXIT_STATUS) from error
