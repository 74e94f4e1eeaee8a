"""What the debugger installs in every actor runtime (through ``_runtime``'s hooks).

In debug mode, for the runtime's lifetime:

- SIGINT: the whole terminal's process group gets Ctrl-C. A REPL open in this
  process takes it (pdb prints ``--KeyboardInterrupt--`` and prompts again); while
  any actor holds the terminal the root ignores it (a proxied REPL, which has no
  terminal of its own, gets it from the root as a message: ``_proxy``); otherwise
  the root tears the tree down as usual and children keep ignoring it.
- ``sys.breakpointhook`` is :func:`~agentree.pause_from_sync`; the previous hook
  comes back when the runtime exits.
- post-mortem: an uncaught error of a served call, or of the root's own body,
  opens a REPL on the frame that raised before the error goes up the tree. Errors
  that come from other actors (``RemoteActorError``) already had their post-mortem
  where they were raised.
"""

from __future__ import annotations

import bdb
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

import trio

from .._exceptions import AgentreeError, RemoteActorError
from .._runtime import (
    Actor,
    ns_of,
    register_endpoint,
    register_error_hook,
    register_runtime_hook,
    register_stop_guard,
)
from ._api import breakpoint_hook, open_post_mortem
from ._lock import root_lock, tty_lock, wait_not_debugging
from ._repl import active_repl

__all__ = ["install"]

log = logging.getLogger("agentree.devx")


def _worth_post_mortem(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_worth_post_mortem(leaf) for leaf in exc.exceptions)
    return isinstance(exc, Exception) and not isinstance(exc, RemoteActorError | bdb.BdbQuit)


def _inspected(exc: BaseException) -> BaseException:
    """The error a post-mortem shows: the first one worth it inside a group."""
    if isinstance(exc, BaseExceptionGroup):
        for leaf in exc.exceptions:
            if _worth_post_mortem(leaf):
                return _inspected(leaf)
    return exc


async def _post_mortem_hook(actor: Actor, exc: BaseException) -> None:
    if not actor.options.debug_mode or not _worth_post_mortem(exc):
        return
    exc = _inspected(exc)
    if exc.__traceback__ is None:
        return
    try:
        await open_post_mortem(actor, exc, exc.__traceback__)
    except AgentreeError as why:
        # No terminal to be had: the actor, or the relay above it, is stopping (the
        # tree is being torn down). The call's caller still gets its error.
        log.info("no post-mortem of %s in %r: %s", type(exc).__name__, actor.name, why)


class _SigintHandler:
    """Ctrl-C while debugging: to the open REPL, else ignored or passed on."""

    def __init__(self, actor: Actor, previous: Any) -> None:
        self.actor = actor
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        repl = active_repl()
        if repl is not None:
            if repl.proxied:
                return  # its Ctrl-C comes from the root's terminal, as a message
            if repl.thread is threading.main_thread() and repl.allow_kbdint:
                raise KeyboardInterrupt
            # A REPL in a worker thread cannot be interrupted from here.
            return
        if not self.actor.is_root:
            return
        lock = root_lock(self.actor)
        if lock.holder is not None:
            # Another actor's REPL has the terminal and gets the Ctrl-C: in its own
            # process (same terminal), or as a message if that REPL is proxied.
            lock.interrupt()
            return
        if callable(self.previous):
            self.previous(signum, frame)
        elif self.previous == signal.SIG_DFL:
            raise KeyboardInterrupt


@contextlib.contextmanager
def _sigint_for(actor: Actor) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = _SigintHandler(actor, signal.getsignal(signal.SIGINT))
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is handler:
            signal.signal(signal.SIGINT, handler.previous)  # type: ignore[union-attr]


class _PortalGiver(trio.abc.Instrument):
    """Gives every new task a greenback portal, so sync code in it can pause."""

    def __init__(self, greenback: Any) -> None:
        self._greenback = greenback

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self._greenback.bestow_portal(task)


def _all_tasks() -> Iterator[trio.lowlevel.Task]:
    """Every task of this trio run, from its root task down."""
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        if task is None:
            continue
        yield task
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)


@contextlib.contextmanager
def _portals_for_sync_pause() -> Iterator[None]:
    try:
        import greenback
    except ImportError:
        yield
        return
    # Tasks that started before the runtime (a child's parent-channel reader, which
    # may run a served call itself) get one too, not only the tasks spawned from now.
    for task in _all_tasks():
        greenback.bestow_portal(task)
    instrument = _PortalGiver(greenback)
    trio.lowlevel.add_instrument(instrument)
    try:
        yield
    finally:
        trio.lowlevel.remove_instrument(instrument)


@asynccontextmanager
async def _debug_runtime(actor: Actor) -> AsyncIterator[None]:
    if not actor.options.debug_mode:
        yield
        return
    if actor.is_root:
        root_lock(actor)  # the lock saves the terminal's settings now, while sane
    previous_hook = sys.breakpointhook
    sys.breakpointhook = breakpoint_hook
    try:
        with _sigint_for(actor), _portals_for_sync_pause():
            try:
                yield
            except BaseException as exc:
                shown = _inspected(exc)
                if actor.is_root and _worth_post_mortem(exc) and shown.__traceback__ is not None:
                    with trio.CancelScope(shield=True):
                        await open_post_mortem(actor, shown, shown.__traceback__)
                raise
    finally:
        sys.breakpointhook = previous_hook


def install() -> None:
    """Register the debugger with the runtime (done when ``agentree`` is imported)."""
    register_endpoint(ns_of(tty_lock), tty_lock)
    register_runtime_hook("devx", _debug_runtime)
    register_error_hook("devx", _post_mortem_hook)
    register_stop_guard("devx", wait_not_debugging)
