"""Run asyncio code from trio tasks in an infected-asyncio actor.

An actor started with ``infect_asyncio=True`` (or a root started with
:func:`run_as_asyncio_guest`) runs asyncio as its main loop and trio as a guest on
it, in one thread. Its trio tasks reach asyncio through this module:

- :func:`run_task` runs an asyncio coroutine function as an asyncio task and
  returns its result;
- :func:`open_channel_from` starts an asyncio task with a two-way channel to it.

The asyncio side of :func:`open_channel_from` is a coroutine function that takes
two keyword arguments besides its own (or, in tractor's current form, one ``chan``:
see :class:`LinkedTaskChannel`)::

    async def aio_echo(to_trio: ToTrio, from_trio: FromTrio) -> None:
        to_trio.send_nowait("ready")       # the first value: required, sent first
        async for msg in from_trio:        # ends when the trio side closes
            to_trio.send_nowait(msg)

    async with to_asyncio.open_channel_from(aio_echo) as (first, chan):
        await chan.send(1)
        assert await chan.receive() == 1

Errors and cancellation cross the bridge:

- an exception raised by the asyncio task is raised on the trio side, as is (in
  another actor it arrives as a ``RemoteActorError`` boxing that type);
- an asyncio task cancelled from the asyncio side raises
  :class:`~agentree.AsyncioCancelled` on the trio side, with the asyncio
  ``CancelledError`` as its ``__cause__``;
- cancelling the trio side cancels the asyncio task and waits for it to finish:
  no asyncio task outlives the trio call that started it;
- an asyncio task that ends before its first value raises
  :class:`~agentree.AsyncioTaskExited`;
- any of these outside an infected actor raise :class:`~agentree.NotInfectedAsyncio`.

Importing this module imports asyncio; ``import agentree`` does not (it imports
this module on first use of ``agentree.to_asyncio``).
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import trio

from ._exceptions import AsyncioCancelled, AsyncioTaskExited, NotInfectedAsyncio
from ._receiving import ReceiveIterator
from ._runtime._guest import host_loop, run_as_asyncio_guest

__all__ = [
    "FromTrio",
    "LinkedChannel",
    "LinkedTaskChannel",
    "ToTrio",
    "open_channel_from",
    "run_as_asyncio_guest",
    "run_task",
]

AioFn = Callable[..., Coroutine[Any, Any, Any]]


# LinkedChannel.receive() takes a schedule point at least once per this many values.
_SCHEDULE_EVERY = 16


class _Eof:
    """Queued on the asyncio side when the trio side closes its channel."""


_EOF = _Eof()


def _fn_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _require_loop(call: str, fn: Callable[..., Any]) -> asyncio.AbstractEventLoop:
    loop = host_loop()
    if loop is None:
        from ._runtime import current_actor_or_none

        actor = current_actor_or_none()
        where = f"actor {actor.name!r}" if actor is not None else "this trio run"
        raise NotInfectedAsyncio(
            f"to_asyncio.{call}({_fn_name(fn)}) needs an infected-asyncio actor, but "
            f"{where} does not run on an asyncio loop: start the actor with "
            "infect_asyncio=True (or the program with agentree.run_as_asyncio_guest)"
        )
    return loop


class _Task:
    """An asyncio task run for a trio task, and what the trio side knows of its end."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: AioFn,
        kwargs: dict[str, Any],
        call: str,
    ) -> None:
        self.name = _fn_name(fn)
        coro = fn(**kwargs)
        if not asyncio.iscoroutine(coro):
            raise TypeError(
                f"to_asyncio.{call}() needs an asyncio coroutine function; "
                f"{self.name}() returned {type(coro).__name__}"
            )
        self.done = trio.Event()
        self.cancelled_by_trio = False
        self._failure: BaseException | None = None
        self._failure_read = False
        self.on_done: Callable[[], None] | None = None
        self.task = loop.create_task(coro, name=f"agentree.to_asyncio:{self.name}")
        self.task.add_done_callback(self._finished)

    def _finished(self, _task: asyncio.Task[Any]) -> None:
        # Runs as an asyncio callback, between trio's ticks on the same thread:
        # trio's synchronous calls are safe here.
        self.done.set()
        if self.on_done is not None:
            self.on_done()

    def failure(self) -> BaseException | None:
        """The error the finished task ended with, as the trio side raises it.

        Reading it also marks the task's exception as retrieved, so asyncio never
        logs it as lost. The same error object is returned every time.
        """
        if not self._failure_read:
            self._failure_read = True
            self._failure = self._read_failure()
        return self._failure

    def raise_failure(self) -> None:
        """Raise the error the finished task failed with (see :meth:`failure`)."""
        error = self.failure()
        if error is not None:
            raise error

    def _read_failure(self) -> BaseException | None:
        task = self.task
        if task.cancelled():
            try:
                task.result()
            except asyncio.CancelledError as exc:
                error = AsyncioCancelled(
                    f"asyncio task {self.name}() was cancelled from the asyncio side"
                )
                error.__cause__ = exc
                return error
        return task.exception()

    async def cancel_and_wait(self) -> None:
        """Cancel the task (unless it is done) and wait until it has finished."""
        if not self.task.done():
            self.cancelled_by_trio = True
            self.task.cancel()
        with trio.CancelScope(shield=True):
            await self.done.wait()


async def run_task(aio_fn: AioFn, **kwargs: Any) -> Any:
    """Run ``aio_fn(**kwargs)`` as an asyncio task and return its result.

    Args:
        aio_fn: an asyncio coroutine function.
        **kwargs: its keyword arguments.

    Returns:
        What ``aio_fn`` returns.

    Raises:
        NotInfectedAsyncio: trio does not run on an asyncio loop here.
        AsyncioCancelled: the task was cancelled from the asyncio side.
        TypeError: ``aio_fn`` is not a coroutine function.
        BaseException: whatever ``aio_fn`` raises.
    """
    loop = _require_loop("run_task", aio_fn)
    task = _Task(loop, aio_fn, kwargs, "run_task")
    try:
        await task.done.wait()
    except BaseException:
        # Cancelled on the trio side: the asyncio task goes too, and is waited for.
        await task.cancel_and_wait()
        if task.failure() is None or isinstance(task.failure(), AsyncioCancelled):
            raise
        # An error the task raised while being cancelled replaces the cancellation.
    error = task.failure()
    if error is not None:
        raise error
    return task.task.result()


class ToTrio:
    """The asyncio side's sender to trio: values go to the trio side's ``receive()``.

    The buffer is unbounded: sending never blocks, and nothing is dropped.
    """

    def __init__(self, send: trio.MemorySendChannel[Any]) -> None:
        self._send = send

    def send_nowait(self, value: Any) -> None:
        """Send ``value`` to the trio side.

        Raises:
            trio.BrokenResourceError: the trio side closed its channel.
            trio.ClosedResourceError: this side was closed.
        """
        self._send.send_nowait(value)

    async def send(self, value: Any) -> None:
        """Send ``value`` to the trio side, then yield to the asyncio loop once."""
        self._send.send_nowait(value)
        await asyncio.sleep(0)

    def close(self) -> None:
        """End the trio side's iteration (after what was already sent)."""
        self._send.close()


class FromTrio(ReceiveIterator):
    """The asyncio side's receiver from trio: what the trio side's ``send()`` sent.

    ``get()`` (alias ``receive()``) and ``async for`` give values in order. Once the
    trio side has closed its channel and every value was taken, ``get()`` raises
    :class:`trio.EndOfChannel` and ``async for`` ends.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._eof = False

    def _put(self, value: Any) -> None:
        self._queue.put_nowait(value)

    def _close(self) -> None:
        if not self._eof:
            self._eof = True
            self._queue.put_nowait(_EOF)

    def _check(self, value: Any) -> Any:
        if value is _EOF:
            self._queue.put_nowait(_EOF)  # every later get() sees the end too
            raise trio.EndOfChannel("the trio side closed its channel")
        return value

    async def get(self) -> Any:
        """Wait for the next value from trio.

        Raises:
            trio.EndOfChannel: the trio side closed its channel.
        """
        return self._check(await self._queue.get())

    receive = get

    def get_nowait(self) -> Any:
        """Take the next value if there is one.

        Raises:
            asyncio.QueueEmpty: nothing is waiting.
            trio.EndOfChannel: the trio side closed its channel.
        """
        return self._check(self._queue.get_nowait())

    def qsize(self) -> int:
        """How many values (and end marks) wait to be taken."""
        return self._queue.qsize()


class LinkedTaskChannel(ReceiveIterator):
    """The asyncio side's two-way channel to trio, in tractor's current form.

    An asyncio function that takes one ``chan`` argument instead of ``to_trio``
    and ``from_trio`` gets this: ``chan.started_nowait(first)`` sends the first
    value, ``chan.send_nowait(v)`` (or ``await chan.send(v)``) the next ones, and
    ``await chan.get()`` (or ``async for``) receives what the trio side sent; once
    the trio side closed its channel, ``get()`` raises :class:`trio.EndOfChannel`
    and ``async for`` ends.
    """

    def __init__(self, to_trio: ToTrio, from_trio: FromTrio) -> None:
        self._to_trio = to_trio
        self._from_trio = from_trio
        self._started = False

    def started_nowait(self, value: Any = None) -> None:
        """Send the first value: the one ``open_channel_from`` hands to its block.

        Raises:
            RuntimeError: the first value was sent already.
        """
        if self._started:
            raise RuntimeError("started_nowait() was called already: use send_nowait()")
        self._started = True
        self._to_trio.send_nowait(value)

    def send_nowait(self, value: Any) -> None:
        """Send ``value`` to the trio side (the first one counts as started)."""
        self._started = True
        self._to_trio.send_nowait(value)

    async def send(self, value: Any) -> None:
        """Send ``value`` to the trio side, then yield to the asyncio loop once."""
        self._started = True
        await self._to_trio.send(value)

    async def get(self) -> Any:
        """Wait for the next value from trio (see :meth:`FromTrio.get`)."""
        return await self._from_trio.get()

    receive = get

    def get_nowait(self) -> Any:
        """Take the next value from trio if there is one (see :meth:`FromTrio.get_nowait`)."""
        return self._from_trio.get_nowait()

    def close(self) -> None:
        """End the trio side's iteration (after what was already sent)."""
        self._to_trio.close()


def _takes_chan(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is of tractor's current form: one ``chan`` argument."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "chan" in params and not ({"to_trio", "from_trio"} & params.keys())


class LinkedChannel(ReceiveIterator):
    """The trio side of :func:`open_channel_from`: a two-way channel to one asyncio task.

    ``send()`` goes to the task's ``from_trio``; ``receive()`` and ``async for`` give
    what the task sent with ``to_trio``, every value it sent, even after it failed.
    Iteration ends when the task closes ``to_trio`` or returns; if the task failed,
    ``receive()`` then raises its error.
    Users get one from :func:`open_channel_from`, never construct it.
    """

    def __init__(
        self, task: _Task, recv: trio.MemoryReceiveChannel[Any], from_trio: FromTrio
    ) -> None:
        self._task = task
        self._recv = recv
        self._from_trio = from_trio
        self._closed = False
        self._fast_receives = 0

    async def send(self, value: Any) -> None:
        """Send ``value`` to the asyncio task (never blocks: the buffer is unbounded).

        Raises:
            trio.ClosedResourceError: this channel was closed.
            trio.BrokenResourceError: the asyncio task has ended.
            BaseException: the error the asyncio task failed with.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._closed:
            raise trio.ClosedResourceError("this channel to asyncio was closed")
        if self._task.task.done():
            self._raise_failure()
            raise trio.BrokenResourceError(f"asyncio task {self._task.name}() has ended")
        self._from_trio._put(value)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def receive(self) -> Any:
        """Wait for the next value the asyncio task sent.

        Raises:
            trio.EndOfChannel: the task closed ``to_trio`` or returned.
            trio.ClosedResourceError: this channel was closed.
            AsyncioCancelled: the task was cancelled from the asyncio side.
            BaseException: the error the asyncio task failed with.
        """
        if not self._task.task.done():
            # While the task runs, a cancelled caller takes nothing from the buffer.
            # Once it has ended, what it sent is still handed out, cancelled or not:
            # the values it sent before failing are never lost.
            await trio.lowlevel.checkpoint_if_cancelled()
        try:
            value = self._recv.receive_nowait()
        except trio.WouldBlock:
            return await self._receive_blocking()
        except trio.EndOfChannel:
            self._raise_failure()
            await trio.lowlevel.checkpoint()
            raise
        # A value was ready: skip the schedule point (each one costs the guest a tick
        # of the host loop), but take one every so often so that a long burst of
        # ready values does not starve the other trio tasks.
        self._fast_receives += 1
        if self._fast_receives >= _SCHEDULE_EVERY:
            self._fast_receives = 0
            await trio.lowlevel.cancel_shielded_checkpoint()
        return value

    async def _receive_blocking(self) -> Any:
        self._fast_receives = 0
        try:
            return await self._recv.receive()
        except trio.EndOfChannel:
            self._raise_failure()
            raise

    def _raise_failure(self) -> None:
        if _is_failure(self._task):
            self._task.raise_failure()

    async def aclose(self) -> None:
        """Close this side: the asyncio task's ``from_trio`` iteration ends."""
        self._close()
        await trio.lowlevel.checkpoint()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._from_trio._close()
            self._recv.close()


@asynccontextmanager
async def open_channel_from(aio_fn: AioFn, **kwargs: Any) -> AsyncIterator[tuple[Any, Any]]:
    """Start ``aio_fn(to_trio=..., from_trio=..., **kwargs)`` as an asyncio task.

    The block gets ``(first, chan)``: the first value the task sent with
    ``to_trio.send_nowait()`` and the trio side of the channel
    (:class:`LinkedChannel`).

    tractor's current form is chosen by ``aio_fn``'s signature: a function with a
    ``chan`` parameter (and neither ``to_trio`` nor ``from_trio``) is called as
    ``aio_fn(chan=..., **kwargs)`` with a :class:`LinkedTaskChannel`, and the block
    gets ``(chan, first)``, the trio side first. If the task fails
    (or is cancelled from the asyncio side) while the block runs, the block is
    cancelled and the task's error is raised from ``async with``. When the block
    ends, ``from_trio`` is closed, the task is cancelled if it still runs, and it
    is waited for; an error it raises meanwhile is raised from ``async with``.

    Args:
        aio_fn: an asyncio coroutine function taking ``to_trio`` (:class:`ToTrio`)
            and ``from_trio`` (:class:`FromTrio`) keyword arguments, or one
            ``chan`` (:class:`LinkedTaskChannel`).
        **kwargs: its other keyword arguments.

    Raises:
        NotInfectedAsyncio: trio does not run on an asyncio loop here.
        AsyncioTaskExited: the task ended (or closed ``to_trio``) before sending
            its first value.
        AsyncioCancelled: the task was cancelled from the asyncio side.
        TypeError: ``aio_fn`` is not a coroutine function, or ``kwargs`` names
            ``to_trio`` or ``from_trio``.
        BaseException: whatever ``aio_fn`` raises.
    """
    loop = _require_loop("open_channel_from", aio_fn)
    chan_form = _takes_chan(aio_fn)
    taken = sorted(({"chan"} if chan_form else {"to_trio", "from_trio"}) & kwargs.keys())
    if taken:
        raise TypeError(
            f"to_asyncio.open_channel_from({_fn_name(aio_fn)}): {', '.join(taken)} is "
            "passed by the bridge itself, not as an argument"
        )
    send, recv = trio.open_memory_channel[Any](math.inf)
    from_trio = FromTrio()
    fn_kwargs: dict[str, Any]
    if chan_form:
        fn_kwargs = {"chan": LinkedTaskChannel(ToTrio(send), from_trio), **kwargs}
    else:
        fn_kwargs = {"to_trio": ToTrio(send), "from_trio": from_trio, **kwargs}
    try:
        task = _Task(loop, aio_fn, fn_kwargs, "open_channel_from")
    except BaseException:
        send.close()
        recv.close()
        raise
    chan = LinkedChannel(task, recv, from_trio)
    with trio.CancelScope() as scope:

        def finished() -> None:
            send.close()
            if _is_failure(task):
                scope.cancel()  # the block stops; the task's error is raised below

        task.on_done = finished
        try:
            first = await _first_value(task, chan)
            yield (chan, first) if chan_form else (first, chan)
        except BaseException as exc:
            chan._close()
            await task.cancel_and_wait()
            if _is_failure(task) and task.failure() is not exc:
                if isinstance(exc, trio.Cancelled):
                    raise  # our scope absorbs it, then the task's error is raised
                if exc.__context__ is None:
                    exc.__context__ = task.failure()
            raise
        chan._close()
        await task.cancel_and_wait()
    if _is_failure(task):
        task.raise_failure()


def _is_failure(task: _Task) -> bool:
    """Whether the finished task failed, beyond the ends the trio side caused."""
    if not task.task.done():
        return False
    error = task.failure()
    if error is None:
        return False
    if task.cancelled_by_trio and isinstance(error, AsyncioCancelled):
        return False
    # from_trio.get() after the trio side closed: a normal end, not a failure.
    return not isinstance(error, trio.EndOfChannel)


async def _first_value(task: _Task, chan: LinkedChannel) -> Any:
    try:
        return await chan.receive()
    except trio.EndOfChannel:
        if task.task.done():
            returned = repr(task.task.result())
            raise AsyncioTaskExited(
                f"asyncio task {task.name}() returned {returned} before sending a first "
                "value with to_trio.send_nowait()"
            ) from None
        raise AsyncioTaskExited(
            f"asyncio task {task.name}() closed to_trio before sending a first value"
        ) from None
