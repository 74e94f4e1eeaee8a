"""Thread mode: a ``def`` method runs in a worker thread, cancellable by a flag.

A Python thread cannot be interrupted, so a cancelled caller sets the call's cancel
flag and the method sees it at its next :func:`check_cancelled`. Meanwhile the
serving task keeps waiting for the thread (a thread's call never outlives its
reply), then ends as cancelled. The caller itself is not held up: its side of the
call is cancelled at once.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any

import outcome
import trio

from .._exceptions import CallCancelled
from ._caps import FifoCap

__all__ = ["check_cancelled", "run_in_thread"]

_flag: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "agentree_call_cancelled", default=None
)


def check_cancelled() -> None:
    """Raise :class:`~agentree.CallCancelled` if the current call was cancelled.

    Call it now and then in a thread-mode agent method (a ``def``): it raises once
    the caller has cancelled the call (its cancel scope, a timeout, its own
    cancellation). Elsewhere (async code, or outside any agent call) it never
    raises: trio delivers cancellation to async code by itself.

    Raises:
        CallCancelled: the caller cancelled this call.
    """
    flag = _flag.get()
    if flag is not None and flag.is_set():
        raise CallCancelled("the caller cancelled this call")


def _run_flagged(
    flag: threading.Event, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    _flag.set(flag)
    return fn(*args, **kwargs)


async def run_in_thread(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], threads: FifoCap
) -> Any:
    """Run ``fn(*args, **kwargs)`` in a thread once one of ``threads`` is free.

    Raises:
        trio.Cancelled: this task was cancelled (after the thread returned).
        BaseException: whatever ``fn`` raised.
    """
    await threads.acquire()
    try:
        flag = threading.Event()
        context = contextvars.copy_context()
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome[Any]) -> None:
            token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        def abort(_: Any) -> trio.lowlevel.Abort:
            flag.set()
            return trio.lowlevel.Abort.FAILED

        trio.lowlevel.start_thread_soon(
            lambda: context.run(_run_flagged, flag, fn, args, kwargs), deliver
        )
        try:
            return await trio.lowlevel.wait_task_rescheduled(abort)
        finally:
            if flag.is_set():
                # Cancelled while the thread ran: end as cancelled (raises Cancelled),
                # whatever the thread made of it.
                await trio.lowlevel.checkpoint()
    finally:
        threads.release()
