"""The REPL: pdbp's ``Pdb+`` when installed, the standard library's ``pdb`` otherwise.

Each prompt names its actor, ``(Pdb+) [actor-name]``, because every actor of the
tree shares one terminal. ``continue`` and ``quit`` give the terminal lock back;
``quit`` also cancels the actor (its task gets ``bdb.BdbQuit``, which goes up the
tree like any other error).

Set ``AGENTREE_DEBUGGER=pdb`` to use the standard ``pdb`` even when pdbp is
installed. ``NO_COLOR`` (any value) or ``TERM=dumb`` turns pdbp's colours off.
"""

from __future__ import annotations

import os
import pdb
import re
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, Protocol, TextIO

import trio

from .._runtime import Actor

__all__ = ["Repl", "active_repl", "header", "in_trio_thread", "make_repl"]

# Frames of these modules are stepped over: the runtime is not the user's code.
_SKIP = ["agentree.*", "trio", "trio.*", "outcome", "outcome.*"]


class Repl(Protocol):
    """What the rest of devx needs from a REPL (pdbp's class or pdb's)."""

    actor: Actor
    thread: threading.Thread
    allow_kbdint: bool

    def start_trace(self, frame: FrameType) -> None:
        """Stop at the next line run in ``frame``."""

    def post_mortem(self, tb: TracebackType) -> None:
        """Open the REPL on the frame where ``tb``'s error was raised."""


# The REPL open in this process, if any: SIGINT goes to it.
_active: Repl | None = None


def active_repl() -> Repl | None:
    """The REPL open in this process, if one is."""
    return _active


def _plain() -> bool:
    return "NO_COLOR" in os.environ or os.environ.get("TERM", "dumb") == "dumb"


def _base_class() -> tuple[type[pdb.Pdb], dict[str, Any], str]:
    if os.environ.get("AGENTREE_DEBUGGER", "").lower() != "pdb":
        try:
            import pdbp
        except ImportError:
            pass
        else:
            kwargs: dict[str, Any] = {"Config": _pdbp_config(pdbp)}
            if _plain():
                kwargs["stdout"] = _PlainWriter(sys.stdout)
            return pdbp.Pdb, kwargs, "Pdb+"
    return pdb.Pdb, {}, "Pdb"


class _PlainWriter:
    """A text stream that drops ANSI escape sequences (pdbp writes some always)."""

    encoding = "utf-8"
    _escape = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(self._escape.sub("", text))

    def flush(self) -> None:
        self.stream.flush()


def _pdbp_config(pdbp: Any) -> type:
    plain = _plain()

    class Config(pdbp.DefaultConfig):  # type: ignore[misc]
        sticky_by_default = False
        disable_pytest_capturing = False
        highlight = not plain
        use_pygments = not plain

    return Config


def make_repl(actor: Actor, release: Callable[[], None]) -> Repl:
    """A REPL for ``actor`` that calls ``release`` once, on continue or quit."""
    base, kwargs, label = _base_class()

    class _Repl(base):  # type: ignore[valid-type,misc]
        def __init__(self) -> None:
            super().__init__(nosigint=True, skip=_SKIP, **kwargs)
            # A custom stdout turns line editing off in cmd; keep it on.
            self.use_rawinput = True
            self.prompt = f"({label}) [{actor.name}] "
            self.actor = actor
            self.thread = threading.current_thread()
            self._release: Callable[[], None] | None = release

        def _finish(self, quitting: bool) -> None:
            global _active
            if _active is self:
                _active = None
            release, self._release = self._release, None
            if release is not None:
                release()
            if quitting and not actor.is_root:
                _cancel_actor(actor, self.thread)

        def set_continue(self) -> None:
            try:
                super().set_continue()
            finally:
                if not self.breaks:
                    self._finish(quitting=False)

        def set_quit(self) -> None:
            try:
                super().set_quit()
            finally:
                self._finish(quitting=True)

        def start_trace(self, frame: FrameType) -> None:
            """Stop at the next line run in ``frame`` (or in a frame it calls)."""
            global _active
            _active = self
            self.set_trace(frame)

        def post_mortem(self, tb: TracebackType) -> None:
            """Open the REPL on the frame where ``tb``'s error was raised."""
            global _active
            _active = self
            try:
                self.reset()
                self.interaction(None, tb)
            finally:
                self._finish(quitting=False)

    repl: Repl = _Repl()
    return repl


def _cancel_actor(actor: Actor, thread: threading.Thread) -> None:
    if in_trio_thread():
        actor.cancel_soon()
    else:
        trio.from_thread.run_sync(actor.cancel_soon)


def in_trio_thread() -> bool:
    """Whether this code runs in the actor's trio thread (not a worker thread)."""
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def header(actor: Actor, what: str) -> None:
    """Print the line that tells whose REPL this is, before its first prompt."""
    print(f"\n{what} in actor {actor.name!r} (pid {os.getpid()})", file=sys.stdout, flush=True)
