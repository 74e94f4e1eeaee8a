"""Run trio as a guest on an asyncio host loop (trio's guest mode).

An infected-asyncio actor runs asyncio as its main loop and the whole trio runtime
as a guest on it (:func:`trio.lowlevel.start_guest_run`): trio's ticks are asyncio
callbacks on the one thread, and trio waits for I/O in a helper thread. Asyncio code
then runs natively beside the actor's trio tasks; ``agentree.to_asyncio`` bridges
the two.

asyncio is imported only here and only when a guest run starts, so that
``import agentree`` stays free of it.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import outcome
import trio

if TYPE_CHECKING:
    import asyncio

__all__ = ["host_loop", "run_as_asyncio_guest"]

T = TypeVar("T")


def host_loop() -> asyncio.AbstractEventLoop | None:
    """Return the asyncio loop this trio run is a guest of, or ``None``.

    In guest mode trio's ticks run as callbacks of the host loop, so the loop is
    the thread's running loop. When asyncio was never imported, there is none.
    """
    aio = sys.modules.get("asyncio")
    if aio is None:
        return None
    loop: asyncio.AbstractEventLoop | None = aio.events._get_running_loop()
    return loop


def run_as_asyncio_guest(trio_main: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``trio_main(*args)`` under trio, as a guest on a new asyncio loop.

    Like :func:`trio.run`, but asyncio is the host: asyncio tasks run natively in
    this thread and ``agentree.to_asyncio`` works in every trio task of the run.
    Use it as the entry point of a program whose root actor is infected::

        agentree.run_as_asyncio_guest(main)

    When the asyncio side cancels the host (Ctrl-C under :func:`asyncio.run`
    cancels the main task), the trio run is cancelled and waited for before the
    cancellation propagates: no trio task is left behind.

    Args:
        trio_main: the trio entry point.
        *args: positional arguments for ``trio_main``.

    Returns:
        What ``trio_main`` returns.

    Raises:
        BaseException: whatever ``trio_main`` raises.
    """
    import asyncio

    return asyncio.run(_host_main(trio_main, args))


class _GuestHandle:
    """What the host needs to cancel its guest: the guest's token and root scope."""

    def __init__(self) -> None:
        self.token: trio.lowlevel.TrioToken | None = None
        self.scope: trio.CancelScope | None = None
        self.cancel_requested = False

    def cancel(self) -> None:
        self.cancel_requested = True
        if self.token is not None and self.scope is not None:
            self.token.run_sync_soon(self.scope.cancel)


async def _host_main(trio_main: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    import asyncio

    loop = asyncio.get_running_loop()
    done: asyncio.Future[outcome.Outcome[Any]] = loop.create_future()
    handle = _GuestHandle()

    async def guest_main() -> Any:
        handle.token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            handle.scope = scope
            if handle.cancel_requested:
                scope.cancel()
            return await trio_main(*args)
        # Only a host cancellation gets here; the host then raises its own error.
        return None

    trio.lowlevel.start_guest_run(
        guest_main,
        run_sync_soon_threadsafe=loop.call_soon_threadsafe,
        run_sync_soon_not_threadsafe=loop.call_soon,
        done_callback=done.set_result,
        host_uses_signal_set_wakeup_fd=True,
    )
    host_cancelled: asyncio.CancelledError | None = None
    while not done.done():
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError as exc:
            # The host was cancelled: cancel the guest, and wait for it to finish.
            host_cancelled = exc
            handle.cancel()
    result = done.result()
    if host_cancelled is not None and isinstance(result, outcome.Value):
        raise host_cancelled
    value: T = result.unwrap()
    return value
