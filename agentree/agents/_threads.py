"""Thread mode: a ``def`` method runs in a worker thread, cancellable by a flag.

The method runs through ``trio.to_thread.run_sync`` with a limiter of the agent's
``max_threads`` tokens (FIFO), and without abandoning the thread on cancellation:
a Python thread cannot be interrupted, so a cancelled caller marks the call
cancelled and the method sees it at its next :func:`check_cancelled`. The serving
task waits for the thread (a thread never outlives its call's reply) and then ends
as cancelled. The caller itself is not held up: its side of the call is cancelled
at once. Being a trio worker thread, the method may also use ``trio.from_thread``
to run code on the agent's loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from .._exceptions import CallCancelled

__all__ = ["check_cancelled", "run_in_thread"]


def check_cancelled() -> None:
    """Raise :class:`~agentree.CallCancelled` if the current call was cancelled.

    Call it now and then in a thread-mode agent method (a ``def``): it raises once
    the caller has cancelled the call (its cancel scope, a timeout, its own
    cancellation, or the agent stopping). Elsewhere (async code, threads the
    runtime did not start) it never raises: trio delivers cancellation to async
    code by itself.

    Raises:
        CallCancelled: the caller cancelled this call.
    """
    try:
        trio.from_thread.check_cancelled()
    except trio.Cancelled:
        raise CallCancelled("the caller cancelled this call") from None
    except RuntimeError:
        # Not a trio worker thread (the loop itself, or a thread of the user's).
        return


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return fn(*args, **kwargs)


async def run_in_thread(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    threads: trio.CapacityLimiter,
) -> Any:
    """Run ``fn(*args, **kwargs)`` in a thread once one of ``threads`` is free.

    Raises:
        trio.Cancelled: this task was cancelled (after the thread returned).
        BaseException: whatever ``fn`` raised.
    """
    try:
        return await trio.to_thread.run_sync(
            _call, fn, args, kwargs, limiter=threads, abandon_on_cancel=False
        )
    except CallCancelled:
        # Cancelled while the thread ran: end as cancelled (this raises Cancelled),
        # unless the method raised CallCancelled by itself.
        await trio.lowlevel.checkpoint()
        raise
