"""Contexts: a dialog between a parent and a child task, each side able to stream,
stop, cancel and fail, and the other side always learning which.

The opener (``portal.open_context(fn, **kwargs)``) starts ``fn(ctx, **kwargs)`` in the
other actor and waits for its ``ctx.started(value)``. Both sides may then open a
stream. The dialog ends with exactly one final message from the served side:

- ``Return``: ``fn`` returned; the opener gets the value from ``ctx.wait_for_result()``.
- ``Error``: ``fn`` raised; the opener gets a :class:`~agentree.RemoteActorError`.
- ``CancelAck``: ``fn``'s task was cancelled; the opener gets
  :class:`~agentree.ContextCancelled` naming the canceller, unless it asked for the
  cancellation itself (``ctx.cancel()``), in which case its block ends quietly.

If the opener's block fails or is cancelled, the served task is cancelled and the
opener waits (bounded by ``cancel_timeout``) for it to end before the error goes on.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from contextvars import ContextVar
from typing import Any, Literal, NoReturn, TypeVar, overload

import trio

from ._exceptions import (
    AgentreeError,
    ContextCancelled,
    MsgEncodeError,
    MsgTypeError,
    ProtocolError,
    TransportClosed,
)
from ._runtime import Conn, Dialog, ns_of, register_dialog_kind
from ._runtime._boxing import box_error, cancelled_error, unbox_error
from ._streaming import DEFAULT_MSG_BUFFER_SIZE, MsgStream
from .msg import CancelAck, Error, Msg, Return, Started, Stop, Yield, decode_payload

__all__ = ["Context", "context", "current_ipc_ctx", "open_context", "open_stream_from"]

log = logging.getLogger("agentree.context")

F = TypeVar("F", bound=Callable[..., Any])
_UNSET: Any = object()
_NIL = b"\xc0"  # msgpack's None

# The context of the dialog the current task serves, or whose block it is in.
_current_ctx: ContextVar[Context | None] = ContextVar("agentree_ipc_ctx", default=None)


def current_ipc_ctx(error_on_not_set: bool = False) -> Context | None:
    """The :class:`Context` of the dialog this task serves or opened (tractor's name).

    In a ``@agentree.context`` function it is the function's ``ctx``; inside a
    ``portal.open_context()`` block, the opener's ``ctx``.

    Args:
        error_on_not_set: raise instead of returning ``None`` outside any context.

    Raises:
        AgentreeError: ``error_on_not_set`` and this task is in no context.
    """
    ctx = _current_ctx.get()
    if ctx is None and error_on_not_set:
        raise AgentreeError("current_ipc_ctx(): this task serves or opened no context")
    return ctx


@overload
def context(fn: F, /) -> F: ...
@overload
def context(*, pld_spec: Any = None) -> Callable[[F], F]: ...
def context(fn: Any = None, /, *, pld_spec: Any = None) -> Any:
    """Mark an async function as a context function: ``fn(ctx, **kwargs)``.

    Args:
        fn: the function (when used as a bare ``@agentree.context``).
        pld_spec: a msgspec type (a ``Struct``, a union of them, ...) that every
            payload of the dialog must match: ``started`` values, stream items and
            the return value (which may also be ``None``). A mismatch raises
            :class:`~agentree.MsgTypeError` on the receiving side, naming the field,
            and the sending side learns of it.
    """

    def mark(func: F) -> F:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"@agentree.context needs an async function, not {func!r}")
        func._agentree_context = True  # type: ignore[attr-defined]
        func._agentree_pld_spec = pld_spec  # type: ignore[attr-defined]
        return func

    return mark(fn) if fn is not None else mark


class Context:
    """One side of a context dialog. Users get it from ``open_context`` or as the
    first argument of their ``@agentree.context`` function; they never construct it.

    Attributes:
        cid: the dialog's id on its channel.
        side: ``"parent"`` on the opener's side, ``"child"`` on the served side.
        cancel_called: whether this side called :meth:`cancel`.
    """

    def __init__(
        self,
        conn: Conn,
        dialog: Dialog,
        *,
        side: Literal["parent", "child"],
        ns: str,
        pld_spec: Any = None,
        scope: trio.CancelScope | None = None,
    ) -> None:
        self._conn = conn
        self._dialog = dialog
        self.cid = dialog.cid
        self.side = side
        self._ns = ns
        self._spec = pld_spec
        self._scope = scope
        self.cancel_called = False
        self._stream: MsgStream | None = None
        self._started = False
        self._result: Any = _UNSET
        self._error: BaseException | None = None
        self._reported = False
        # Stream messages taken from the inbox by wait_for_result(), for the stream.
        self._stash: deque[Msg] = deque()
        self._stream_open = False

    @property
    def chan(self) -> Conn:
        """The connection the dialog runs on (tractor's ``ctx.chan``)."""
        return self._conn

    @property
    def peer_uid(self) -> tuple[str, str]:
        """``(name, uuid)`` of the actor on the other side."""
        return self._conn.peer_uid

    def __repr__(self) -> str:
        return f"<Context {self._ns} cid={self.cid} side={self.side}>"

    # -- sending ---------------------------------------------------------------------

    async def _send(self, msg: Msg, *, quiet: bool = False) -> None:
        final = self._dialog.final
        if isinstance(final, Error):
            # The other side failed: this side learns it on its next move.
            raise unbox_error(final)
        try:
            await self._conn.chan.send(msg)
        except MsgEncodeError as exc:
            raise MsgEncodeError(f"{exc} (in {self._ns}() with {self._conn.peer_name!r})") from exc
        except TransportClosed as exc:
            if not quiet:
                raise await self._conn.send_failed(self._ns, exc) from exc

    async def started(self, value: Any = None) -> None:
        """Hand ``value`` to the opener, whose ``open_context`` then yields it.

        Raises:
            AgentreeError: called on the opener's side, or called twice.
        """
        if self.side != "child":
            raise AgentreeError("only the served side of a context calls started()")
        if self._started:
            raise AgentreeError(f"{self._ns}: started() was already called")
        self._started = True
        await self._send(Started(cid=self.cid, pld=value))

    # -- receiving -------------------------------------------------------------------

    def _decode(self, raw: Any) -> Any:
        return decode_payload(raw, self._spec)

    async def _next(self) -> Msg:
        try:
            return await self._dialog.get()
        except TransportClosed as exc:
            raise self._conn.went_away(self._ns, exc) from exc

    def _take_final(self, msg: Msg) -> None:
        """Record the dialog's final message; raise what it carries, if an error."""
        if isinstance(msg, Return):
            # A typed dialog's function may still return None.
            self._result = None if bytes(msg.pld) == _NIL else self._decode(msg.pld)
            return
        if isinstance(msg, Error):
            self._error = unbox_error(msg)
        elif isinstance(msg, CancelAck):
            self._error = cancelled_error(msg, self._conn.peer_uid, self._ns)
        else:
            raise ProtocolError(f"unexpected {type(msg).__name__} ending {self._ns}()")
        raise self._error

    def _raise_dialog_over(self, what: str) -> None:
        final = self._dialog.final
        if isinstance(final, Error):
            raise unbox_error(final)
        if self._dialog.closed_by is not None:
            raise self._conn.went_away(self._ns, self._dialog.closed_by) from (
                self._dialog.closed_by
            )
        raise trio.BrokenResourceError(
            f"cannot {what} {self._ns}(): the other side's task already ended"
        )

    def _end_of_items(self, msg: Msg | None) -> NoReturn:
        """Handle a message other than a stream item where one was awaited (``None``:
        the final message was already taken): raise ``trio.EndOfChannel`` (the peer
        stopped or returned) or the dialog's error."""
        if msg is None:
            if self._error is not None:
                raise self._error
        elif not isinstance(msg, Stop):
            self._take_final(msg)
        raise trio.EndOfChannel

    def _final_taken(self) -> bool:
        return self._result is not _UNSET or self._error is not None

    async def _report(self, exc: BaseException) -> None:
        """Tell the served side why the opener gives up (a bad payload it sent, or an
        error in the opener's block); the served task is then cancelled."""
        if self.side == "parent" and not self._dialog.over and not self._reported:
            self._reported = True
            with trio.CancelScope(shield=True):
                await self._send(
                    box_error(
                        exc,
                        cid=self.cid,
                        uid=self._conn.actor.uid,
                        call=self._ns,
                        max_frame_size=self._conn.chan.max_frame_size,
                    ),
                    quiet=True,
                )

    async def _wait_started(self) -> Any:
        msg = await self._next()
        if isinstance(msg, Started):
            try:
                return self._decode(msg.pld)
            except MsgTypeError as exc:
                await self._report(exc)
                raise
        if isinstance(msg, Return):
            self._take_final(msg)
            raise AgentreeError(
                f"{self._ns}() in actor {self._conn.peer_name!r} returned without calling "
                "ctx.started()"
            )
        self._take_final(msg)
        raise ProtocolError(f"unexpected {type(msg).__name__} before {self._ns}() started")

    async def wait_for_result(self) -> Any:
        """Wait for the served function's return value (the opener's side only).

        Called inside this side's open stream block, stream items that arrive
        meanwhile are kept for the stream (at most its window: no credit is granted
        while nobody reads). After the stream block, unread items are dropped.

        Raises:
            RemoteActorError: the function raised.
            ContextCancelled: its task was cancelled.
        """
        if self.side != "parent":
            raise AgentreeError("only the opener of a context waits for its result")
        while self._result is _UNSET and self._error is None:
            msg = await self._next()
            if isinstance(msg, Yield | Stop):
                if self._stream_open:
                    self._stash.append(msg)
                else:
                    log.debug("%s: dropping an unread %s", self._ns, type(msg).__name__)
                continue
            self._take_final(msg)
        if self._error is not None:
            raise self._error
        return self._result

    result = wait_for_result

    # -- streams and cancellation ----------------------------------------------------

    @asynccontextmanager
    async def open_stream(
        self,
        *,
        allow_overruns: bool = True,
        msg_buffer_size: int = DEFAULT_MSG_BUFFER_SIZE,
    ) -> AsyncIterator[MsgStream]:
        """Open this side's stream; both sides open one to talk both ways.

        Args:
            allow_overruns: when the peer's receive window is full, ``send`` waits
                (``True``, backpressure) or raises ``StreamOverrun`` (``False``).
            msg_buffer_size: this side's receive window: at most this many items
                the peer may have sent that this side has not received yet.
        """
        if self._stream is not None:
            raise AgentreeError(f"{self._ns}: this side already opened its stream")
        stream = self._stream = MsgStream(
            self, msg_buffer_size=msg_buffer_size, allow_overruns=allow_overruns
        )
        await stream._grant_window()
        self._stream_open = True
        try:
            yield stream
        except BaseException:
            # The dialog fails (or is cancelled) rather than ending cleanly: no Stop,
            # so the peer does not mistake this for the end of the stream.
            stream._send_closed = True
            raise
        finally:
            self._stream_open = False
        await stream.aclose()

    async def cancel(self) -> None:
        """Cancel the served task.

        On the opener's side: ask the other actor to cancel it. The opener's block
        then ends without an error (its pending ``receive`` raises ``ContextCancelled``,
        which the block absorbs because this side asked). On the served side: cancel
        this task itself; the opener gets ``ContextCancelled`` naming this actor.
        """
        self.cancel_called = True
        if self.side == "parent":
            await self._conn.cancel_dialog(self.cid)
        else:
            assert self._scope is not None
            self._scope.cancel()
            await trio.lowlevel.checkpoint()

    @asynccontextmanager
    async def _opener_block(self, *, one_way: bool = False) -> AsyncIterator[None]:
        """Run the opener's block and end the dialog after it (see the module docstring).

        Args:
            one_way: the block reads a remote generator (``open_stream_from``): left
                before the generator was exhausted, the generator is cancelled.
        """
        with self._watch_block() as block:
            try:
                yield
            except BaseException as exc:
                self._stream_open = False
                await self._finish(exc)
                if self._own_cancel(exc):
                    return
                raise
        self._stream_open = False
        if block.cancelled_caught:
            self._raise_remote_end()
            return
        if one_way and self._stream is not None and not self._stream._eof:
            await self.cancel()
        await self._finish(None)

    @contextmanager
    def _watch_block(self) -> Iterator[trio.CancelScope]:
        """Run the opener's block in a scope that the dialog's end cancels.

        An error or a cancellation of the served task, or the loss of the connection,
        then reaches the block even while it waits on something else than the dialog;
        after the block, :meth:`_raise_remote_end` raises it. A ``Return`` leaves the
        block alone: the served task finished, and the block goes on to read what is
        left of the stream.
        """
        with trio.CancelScope() as block:

            def dialog_over() -> None:
                if not isinstance(self._dialog.final, Return):
                    block.cancel()

            self._dialog.on_over(dialog_over)
            try:
                yield block
            finally:
                self._dialog.on_over(None)

    def _raise_remote_end(self) -> None:
        """Raise why the dialog ended under the opener's block; nothing if this side
        cancelled it (``ctx.cancel()``). :meth:`_finish` has taken the final message."""
        if self._error is not None:
            if not self._own_cancel(self._error):
                raise self._error
            return
        if self._dialog.closed_by is not None:
            raise self._conn.went_away(self._ns, self._dialog.closed_by) from (
                self._dialog.closed_by
            )

    def _own_cancel(self, exc: BaseException) -> bool:
        return (
            self.cancel_called
            and isinstance(exc, ContextCancelled)
            and exc.canceller == self._conn.actor.uid
        )

    async def _finish(self, exc: BaseException | None) -> None:
        """End the dialog from the opener's side (see the module docstring)."""
        if exc is None:
            if self._stream is not None:
                await self._stream.aclose()
            elif not self._dialog.over:
                # No stream on this side: it will send nothing, so the served side's
                # stream (if it opens one) ends instead of waiting forever.
                with trio.CancelScope(shield=True):
                    await self._send(Stop(cid=self.cid), quiet=True)
            try:
                await self.wait_for_result()
            except ContextCancelled as cancelled:
                if not self._own_cancel(cancelled):
                    raise
            return
        if self._result is not _UNSET or self._error is not None:
            return
        if not self._dialog.over:
            if isinstance(exc, Exception) and not self._own_cancel(exc):
                # The served side learns why: RemoteActorError where it waits on the
                # dialog next, and its task is cancelled.
                await self._report(exc)
            elif not self._reported:
                await self._conn.cancel_dialog(self.cid)
                self.cancel_called = True
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + self._conn.actor.options.cancel_timeout
            with suppress(AgentreeError, trio.BrokenResourceError):
                await self.wait_for_result()
        if scope.cancelled_caught:
            log.warning("%s in %r did not end after cancellation", self._ns, self._conn.peer_name)


@asynccontextmanager
async def open_context(
    conn: Conn, fn: Callable[..., Any], kwargs: dict[str, Any]
) -> AsyncIterator[tuple[Context, Any]]:
    """The opener's side of ``portal.open_context(fn, **kwargs)``."""
    if not getattr(fn, "_agentree_context", False):
        raise TypeError(f"{fn!r} is not a context function: decorate it with @agentree.context")
    ns = ns_of(fn)
    cid, dialog = conn.open_dialog()
    ctx = Context(
        conn, dialog, side="parent", ns=ns, pld_spec=getattr(fn, "_agentree_pld_spec", None)
    )
    try:
        await conn.send_start(cid, ns, kwargs, "ctx")
        try:
            first = await ctx._wait_started()
        except BaseException as exc:
            await ctx._finish(exc)
            raise
        token = _current_ctx.set(ctx)
        try:
            async with ctx._opener_block():
                yield ctx, first
        finally:
            _current_ctx.reset(token)
    finally:
        conn.close_dialog(cid)


@asynccontextmanager
async def open_stream_from(
    conn: Conn, fn: Callable[..., Any], kwargs: dict[str, Any]
) -> AsyncIterator[MsgStream]:
    """The receiving side of ``portal.open_stream_from(async_gen_fn, **kwargs)``."""
    if not inspect.isasyncgenfunction(fn):
        raise TypeError(f"{fn!r} is not an async generator function")
    ns = ns_of(fn)
    cid, dialog = conn.open_dialog()
    ctx = Context(conn, dialog, side="parent", ns=ns)
    stream = ctx._stream = MsgStream(ctx, can_send=False)
    try:
        await conn.send_start(cid, ns, kwargs, "gen")
        await stream._grant_window()
        ctx._stream_open = True
        async with ctx._opener_block(one_way=True):
            yield stream
    finally:
        conn.close_dialog(cid)


async def _serve_context(
    conn: Conn,
    dialog: Dialog,
    ns: str,
    fn: Callable[..., Any],
    kwargs: dict[str, Any],
    scope: trio.CancelScope,
) -> Any:
    if not getattr(fn, "_agentree_context", False):
        raise TypeError(f"{ns} is not a context function: decorate it with @agentree.context")
    # The context's own scope: ctx.cancel() on this side cancels only the function,
    # and the opener learns that this side cancelled itself.
    with trio.CancelScope() as own:
        ctx = Context(
            conn,
            dialog,
            side="child",
            ns=ns,
            pld_spec=getattr(fn, "_agentree_pld_spec", None),
            scope=own,
        )
        _current_ctx.set(ctx)
        return await fn(ctx, **kwargs)
    me = conn.actor.uid
    raise ContextCancelled(
        f"{ns}() cancelled itself",
        canceller=me,
        boxed_type_str="agentree.ContextCancelled",
        boxed_type=ContextCancelled,
        src_uid=me,
        tb_str="",
        relay_path=[],
        call=ns,
    )


async def _serve_generator(
    conn: Conn,
    dialog: Dialog,
    ns: str,
    fn: Callable[..., Any],
    kwargs: dict[str, Any],
    scope: trio.CancelScope,
) -> None:
    if not inspect.isasyncgenfunction(fn):
        raise TypeError(f"{ns} is not an async generator function")
    ctx = Context(conn, dialog, side="child", ns=ns, scope=scope)
    stream = ctx._stream = MsgStream(ctx)
    agen = fn(**kwargs)
    try:
        async for item in agen:
            await stream.send(item)
    finally:
        await agen.aclose()
    await stream.aclose()


register_dialog_kind("ctx", _serve_context)
register_dialog_kind("gen", _serve_generator)
