"""The debugger's public calls: pause, breakpoint, pause_from_sync, post_mortem."""

from __future__ import annotations

import bdb
import os
import sys
from collections.abc import Callable
from types import FrameType, ModuleType, TracebackType
from typing import NoReturn

import trio

from .._exceptions import AgentreeError
from .._runtime import Actor, current_actor
from ._lock import acquire_terminal, root_lock
from ._proxy import NO_STEPPING, ProxyTerminal, greenback_portal
from ._repl import cancel_actor, header, in_trio_thread, make_repl

__all__ = [
    "breakpoint",
    "debug_mode",
    "maybe_enable_greenback",
    "open_post_mortem",
    "pause",
    "pause_from_sync",
    "post_mortem",
]


def _debug_actor(call: str) -> Actor:
    actor = current_actor()
    if not actor.options.debug_mode:
        raise AgentreeError(
            f"{call}() in actor {actor.name!r} needs the debugger: open the tree with "
            "debug_mode=True (or start this actor with start_actor(..., debug_mode=True))"
        )
    return actor


async def pause(*, shield: bool = False) -> None:
    """Stop this task in a REPL, at the line after the call, in any actor of the tree.

    The actor first gets the tree's terminal lock from the root (a sub-actor asks
    over IPC, through its parents), so one REPL at a time reads the terminal;
    ``continue`` or ``quit`` gives it back. The trio loop of this actor is stopped
    while the REPL is open, as with any ``pdb`` session.

    Args:
        shield: wait for the terminal even if this task is cancelled meanwhile.

    Raises:
        AgentreeError: this actor does not run in debug mode.
    """
    await _pause(sys._getframe(1), "pause", shield)


async def breakpoint(*, shield: bool = False) -> None:
    """Stop this task in a REPL: tractor's older name for :func:`pause`."""
    await _pause(sys._getframe(1), "breakpoint", shield)


async def _pause(frame: FrameType, call: str, shield: bool) -> None:
    actor = _debug_actor(call)
    with trio.CancelScope(shield=shield):
        hold = await acquire_terminal(actor)
    try:
        repl = make_repl(actor, hold.release, hold.term)
        header(actor, "Paused", hold.term)
        if hold.term is None or await greenback_portal():
            resume = repl.pause_at(frame)
        else:
            # A proxied REPL without greenback: in a worker thread, where its
            # reads can await the dialog (the task waits meanwhile). Stepping
            # would stop in this thread, where they cannot: it continues.
            resume = await trio.to_thread.run_sync(repl.pause_at, frame)
            if resume == "step":
                hold.term.write(NO_STEPPING)
                resume = "continue"
    except BaseException:
        hold.release()
        raise
    if resume == "step":
        repl.trace_from(frame)
        return
    # Wait until the root has the terminal back, so that whatever this task does
    # next (its result, a Ctrl-C) finds the terminal free.
    with trio.CancelScope(shield=True):
        await hold.release_and_wait()
    if resume == "quit":
        _quit(actor)


def _quit(actor: Actor) -> NoReturn:
    if not actor.is_root:
        cancel_actor(actor)
    raise bdb.BdbQuit


def pause_from_sync() -> None:
    """Stop in a REPL from synchronous code (also what ``breakpoint()`` calls in debug mode).

    Works in a worker thread of the actor (``trio.to_thread.run_sync``): the thread
    waits for the terminal while the actor's trio loop keeps running. In the
    actor's trio thread itself, the loop must keep running while this call waits
    for the terminal: with ``greenback`` installed (the ``debug`` extra) every task
    of a debug-mode actor can do that. Without it only the root can pause there,
    and only when the terminal is free.

    Raises:
        AgentreeError: not in debug mode; or, without greenback, in a sub-actor's
            trio thread or in the root's while another actor holds the terminal.
    """
    _pause_sync(sys._getframe(1))


def breakpoint_hook(*args: object, **kwargs: object) -> None:
    """``sys.breakpointhook`` in debug mode: ``breakpoint()`` pauses its caller.

    ``PYTHONBREAKPOINT=0`` still turns ``breakpoint()`` off.
    """
    if os.environ.get("PYTHONBREAKPOINT") == "0":
        return
    _pause_sync(sys._getframe(1))


def _pause_sync(frame: FrameType) -> None:
    actor = _debug_actor("pause_from_sync")
    release: Callable[[], None]
    wait_released: Callable[[], None]
    term: ProxyTerminal | None = None
    if not in_trio_thread():
        hold = trio.from_thread.run(acquire_terminal, actor)
        # The REPL runs in this worker thread: a proxied terminal reads through
        # trio.from_thread there.
        term = hold.term

        def release() -> None:
            trio.from_thread.run_sync(hold.release)

        def wait_released() -> None:
            trio.from_thread.run(hold.release_and_wait)

    elif _greenback_portal():
        import greenback

        greenback.await_(_pause(frame, "pause_from_sync", False))
        return
    elif actor.is_root:
        lock = root_lock(actor)
        if not lock.try_acquire(actor.uid):
            holder = lock.holder[0] if lock.holder else lock.waiting()[0][0]
            raise AgentreeError(
                f"pause_from_sync() in the root's trio thread: actor {holder!r} has the "
                "terminal and cannot give it back while this thread blocks the loop; "
                "use `await agentree.pause()` or run the code in trio.to_thread"
            )
        release = wait_released = lock.release
    else:
        raise AgentreeError(
            f"pause_from_sync() in sub-actor {actor.name!r}'s trio thread needs the "
            "`greenback` package (pip install 'agentree[debug]') to wait for the "
            "terminal; or use `await agentree.pause()`, or run the code in trio.to_thread"
        )
    try:
        repl = make_repl(actor, release, term)
        header(actor, "Paused", term)
        resume = repl.pause_at(frame)
    except BaseException:
        release()
        raise
    if resume == "step":
        repl.trace_from(frame)
        return
    wait_released()
    if resume == "quit":
        _quit(actor)


def _greenback_portal() -> bool:
    """Whether this task may await from sync code (greenback, set up in debug mode)."""
    try:
        import greenback
    except ImportError:
        return False
    return bool(greenback.has_portal())


async def post_mortem(exc: BaseException | None = None, *, shield: bool = False) -> None:
    """Open a post-mortem REPL on ``exc`` (default: the error being handled).

    Call it in an ``except`` block: the REPL shows the frame that raised, with its
    locals; ``continue`` returns.

    Args:
        exc: the error to inspect (default: the one being handled).
        shield: wait for the terminal even if this task is cancelled meanwhile.

    Raises:
        AgentreeError: not in debug mode, or no error to inspect.
    """
    if exc is None:
        exc = sys.exc_info()[1]
    if exc is None or exc.__traceback__ is None:
        raise AgentreeError("post_mortem() needs an error with a traceback")
    await open_post_mortem(_debug_actor("post_mortem"), exc, exc.__traceback__, shield=shield)


async def open_post_mortem(
    actor: Actor, exc: BaseException, tb: TracebackType, *, shield: bool = False
) -> None:
    """Get the terminal, show ``exc`` and open the REPL on its innermost frame."""
    with trio.CancelScope(shield=shield):
        hold = await acquire_terminal(actor)
    try:
        repl = make_repl(actor, hold.release, hold.term)
        header(actor, f"Post-mortem of {type(exc).__name__}: {exc}", hold.term)
        if hold.term is None or await greenback_portal():
            repl.post_mortem(tb)
        else:
            # A proxied REPL without greenback runs in a worker thread (see _pause).
            await trio.to_thread.run_sync(repl.post_mortem, tb)
    finally:
        with trio.CancelScope(shield=True):
            await hold.release_and_wait()


def debug_mode() -> bool:
    """Whether the debugger is on in this actor (``False`` outside any actor)."""
    actor = current_actor(err_on_no_runtime=False)
    return actor is not None and actor.options.debug_mode


async def maybe_enable_greenback(*, raise_not_found: bool = False) -> ModuleType | None:
    """Let this task's sync code await (``pause_from_sync``), if ``greenback`` is installed.

    In debug mode every task of an actor already gets this; the call is for code
    that wants it anyway.

    Args:
        raise_not_found: raise ``ModuleNotFoundError`` when ``greenback`` is missing
            instead of returning ``None``.

    Returns:
        The ``greenback`` module once this task has its portal, or ``None`` when
        ``greenback`` is not installed.
    """
    try:
        import greenback
    except ModuleNotFoundError:
        if raise_not_found:
            raise
        return None
    await greenback.ensure_portal()
    return greenback
