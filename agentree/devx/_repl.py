"""The REPL: pdbp's ``Pdb+`` when installed, the standard library's ``pdb`` otherwise.

Each prompt names its actor, ``(Pdb+) [actor-name]``, because every actor of the
tree shares one terminal. ``continue`` and ``quit`` give the terminal lock back;
``quit`` also cancels the actor (its task gets ``bdb.BdbQuit``, which goes up the
tree like any other error).

An actor with no terminal of its own (``proxy_tty``: Ray-hosted, or below such an
actor) gets a REPL whose ``stdin`` and ``stdout`` are the proxied terminal of the
lock it holds (see ``_proxy``): everything it prints and reads goes through the root.

Set ``AGENTREE_DEBUGGER=pdb`` to use the standard ``pdb`` even when pdbp is
installed. ``NO_COLOR`` (any value) or ``TERM=dumb`` turns pdbp's colours off.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TextIO

import trio

from .._runtime import Actor

if TYPE_CHECKING:
    import pdb

__all__ = ["Repl", "active_repl", "cancel_actor", "header", "in_trio_thread", "make_repl"]

# Frames of these modules are stepped over: the runtime is not the user's code.
_SKIP = ["agentree.*", "trio", "trio.*", "outcome", "outcome.*"]


class Repl(Protocol):
    """What the rest of devx needs from a REPL (pdbp's class or pdb's)."""

    actor: Actor
    thread: threading.Thread
    allow_kbdint: bool
    proxied: bool

    def pause_at(self, frame: FrameType) -> str:
        """Run the REPL on ``frame``; return ``"continue"``, ``"quit"`` or ``"step"``."""

    def trace_from(self, frame: FrameType) -> None:
        """Go on stepping from ``frame`` (after :meth:`pause_at` returned ``"step"``)."""

    def post_mortem(self, tb: TracebackType) -> None:
        """Run the REPL on ``tb``: its innermost frame of user code, with its locals."""


# The REPL open in this process, if any: SIGINT goes to it.
_active: Repl | None = None


def active_repl() -> Repl | None:
    """The REPL open in this process, if one is."""
    return _active


def _plain() -> bool:
    return "NO_COLOR" in os.environ or os.environ.get("TERM", "dumb") == "dumb"


def _base_class(out: Any = None) -> tuple[type[pdb.Pdb], dict[str, Any], str]:
    import pdb  # here, not at the top: most programs never open a REPL

    if out is None:
        out = sys.stdout
    if os.environ.get("AGENTREE_DEBUGGER", "").lower() != "pdb":
        try:
            import pdbp
        except ImportError:
            pass
        else:
            kwargs: dict[str, Any] = {"Config": _pdbp_config(pdbp)}
            if _plain():
                kwargs["stdout"] = _PlainWriter(out)
            return pdbp.Pdb, kwargs, "Pdb+"
    return pdb.Pdb, {}, "Pdb"


class _PlainWriter:
    """A text stream that drops ANSI escape sequences (pdbp writes some always)."""

    encoding = "utf-8"
    _escape = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

    def __init__(self, stream: TextIO | Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        # pdbp ends some blocks with a newline and a cursor-up: together, nothing.
        return self.stream.write(self._escape.sub("", text.replace("\n\x1b[F", "")))

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _pdbp_config(pdbp: Any) -> type:
    plain = _plain()

    class Config(pdbp.DefaultConfig):  # type: ignore[misc]
        sticky_by_default = False
        disable_pytest_capturing = False
        highlight = not plain
        use_pygments = not plain

    return Config


def make_repl(actor: Actor, release: Callable[[], None], term: Any = None) -> Repl:
    """A REPL for ``actor``; on the proxied terminal ``term`` when given.

    The caller of :meth:`~Repl.pause_at` gives the terminal back itself. Once the
    REPL steps on (:meth:`~Repl.trace_from`), a later ``continue`` or ``quit`` in it
    calls ``release`` (once), and ``quit`` cancels a sub-actor.
    """
    base, kwargs, label = _base_class(term)
    if term is not None:
        kwargs = {"stdout": term, **kwargs, "stdin": term}

    class _Repl(base):  # type: ignore[valid-type,misc]
        def __init__(self) -> None:
            super().__init__(nosigint=True, skip=_SKIP, **kwargs)
            # A custom stdout turns line editing off in cmd; keep it on, except on
            # a proxied terminal: lines come from its readline().
            self.use_rawinput = term is None
            self.proxied = term is not None
            self.prompt = f"({label}) [{actor.name}] "
            self.actor = actor
            self.thread = threading.current_thread()
            self._release: Callable[[], None] | None = release
            self._resume = "step"
            self._tracing = False

        def _finish(self, quitting: bool) -> None:
            global _active
            if _active is self:
                _active = None
            release, self._release = self._release, None
            if release is not None:
                release()
            if quitting and not actor.is_root:
                cancel_actor(actor)

        def set_continue(self) -> None:
            super().set_continue()
            self._resume = "continue"
            if self._tracing and not self.breaks:
                self._finish(quitting=False)

        def set_quit(self) -> None:
            super().set_quit()
            self._resume = "quit"
            if self._tracing:
                self._finish(quitting=True)

        def setup(self, frame: FrameType | None, tb: TracebackType | None) -> Any:
            done = super().setup(frame, tb)
            if tb is not None:
                self._select_user_frame()
            return done

        def _select_user_frame(self) -> None:
            # A post-mortem starts on the innermost frame of the user's code, not
            # in agentree's or trio's (``d`` still goes down into them).
            for index in range(len(self.stack) - 1, -1, -1):
                frame = self.stack[index][0]
                if not self.is_skipped_module(frame.f_globals.get("__name__")):
                    self.curindex = index
                    self.curframe = frame
                    self.curframe_locals = frame.f_locals
                    return

        def _run(self, frame: FrameType | None, tb: TracebackType | None) -> str:
            global _active
            _active = self
            self._resume = "step"
            self.reset()
            try:
                self.interaction(frame, tb)
            finally:
                if _active is self:
                    _active = None
            return self._resume

        def pause_at(self, frame: FrameType) -> str:
            resume = self._run(frame, None)
            if resume != "step":
                self._release = None
            return resume

        def trace_from(self, frame: FrameType) -> None:
            global _active
            _active = self
            self._tracing = True
            current: FrameType | None = frame
            while current is not None:
                current.f_trace = self.trace_dispatch
                self.botframe = current
                current = current.f_back
            sys.settrace(self.trace_dispatch)

        def post_mortem(self, tb: TracebackType) -> None:
            self._run(None, tb)
            self._release = None

    repl: Repl = _Repl()
    return repl


def cancel_actor(actor: Actor) -> None:
    """Cancel ``actor`` from its trio thread or from one of its worker threads."""
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


def header(actor: Actor, what: str, out: Any = None) -> None:
    """Print the line that tells whose REPL this is, before its first prompt."""
    print(
        f"\n{what} in actor {actor.name!r} (pid {os.getpid()})",
        file=sys.stdout if out is None else out,
        flush=True,
    )
