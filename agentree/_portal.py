"""Portal: the caller's handle on another actor. Users never construct one."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

import trio

from ._context import Context, open_context, open_stream_from
from ._exceptions import ActorTooSlowError, AgentreeError, ContextCancelled, TransportClosed
from ._exit import ChildExit
from ._runtime import PING_NS, Conn, Dialog, ns_of
from ._runtime._boxing import cancelled_before_answer
from ._runtime._state import serving_peer
from ._streaming import MsgStream

if TYPE_CHECKING:
    from ._spawn import Child

__all__ = ["Portal"]


class Portal:
    """A handle for calling into one actor: returned by ``start_actor``/``run_in_actor``.

    Every call is a dialog over the shared channel, so many may run concurrently.
    """

    def __init__(self, conn: Conn, child: Child | None = None) -> None:
        self._conn = conn
        # The child process behind this portal, when this actor spawned it.
        self._child = child
        self._main: tuple[int, Dialog, str] | None = None
        self._result_ready = trio.Event()
        self._result: Any = None
        self._error: BaseException | None = None
        if child is not None and conn.peer_pid is None:
            conn.peer_pid = child.proc.pid

    @property
    def channel(self) -> Conn:
        """The connection to the actor (tractor's ``portal.channel``).

        ``.uid`` is the actor's ``(name, uuid)``, ``.aid`` its identity (name,
        uuid, pid) and ``.raddr`` the peer's socket address.
        """
        return self._conn

    @property
    def chan(self) -> Conn:
        """The connection to the actor: tractor's ``portal.chan``, as :attr:`channel`."""
        return self._conn

    @property
    def actor_uid(self) -> tuple[str, str]:
        """``(name, uuid)`` of the actor behind this portal."""
        return self._conn.peer_uid

    def __repr__(self) -> str:
        return f"<Portal to actor {self._conn.peer_name!r}>"

    async def run(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """Call module-level ``fn(**kwargs)`` in the actor and return its result.

        ``fn``'s module must be in the actor's ``enable_modules``. Cancelling the
        caller cancels the remote call.

        Raises:
            RemoteActorError: ``fn`` raised in the actor (``ModuleNotExposed`` or
                ``FunctionNotFound`` boxed inside when it may not or cannot be called).
            NotAddressable: ``fn`` is a lambda or nested function.
            MsgEncodeError: an argument cannot be sent; the error names it.
            TransportClosed: the actor went away before answering; ``ActorDied``
                (naming the actor and its exit code or signal) when it is a child
                of ours whose process ended.
        """
        return await self._conn.call(ns_of(fn), kwargs)

    async def run_from_ns(self, namespace_path: str, function_name: str, **kwargs: Any) -> Any:
        """Call ``namespace_path.function_name(**kwargs)`` in the actor, by name."""
        return await self._conn.call(f"{namespace_path}:{function_name}", kwargs)

    def open_context(
        self, fn: Callable[..., Any], **kwargs: Any
    ) -> AbstractAsyncContextManager[tuple[Context, Any]]:
        """Start ``@agentree.context`` function ``fn(ctx, **kwargs)`` in the actor.

        ``async with portal.open_context(fn, **kw) as (ctx, first):`` waits for the
        function's ``ctx.started(first)``. Leaving the block waits for its result;
        failing or being cancelled in the block cancels it. See :mod:`agentree` docs
        for the full contract.
        """
        return open_context(self._conn, fn, kwargs)

    def open_stream_from(
        self, fn: Callable[..., Any], **kwargs: Any
    ) -> AbstractAsyncContextManager[MsgStream]:
        """Stream the items of async generator ``fn(**kwargs)`` running in the actor.

        Leaving the block before the generator is exhausted cancels it.
        """
        return open_stream_from(self._conn, fn, kwargs)

    async def _submit_main(self, ns: str, kwargs: dict[str, Any]) -> None:
        cid, box = self._conn.open_dialog()
        self._main = (cid, box, ns)
        await self._conn.send_start(cid, ns, kwargs, "func")

    async def _collect_main(self) -> None:
        """Wait for the main call's answer and keep it for ``wait_for_result``.

        On cancellation the dialog stays open: the child may still answer with an
        error while it is being stopped (see :meth:`_late_error`).
        """
        assert self._main is not None
        cid, box, ns = self._main
        try:
            self._result = self._conn.unwrap_final(await self._conn.wait_final(cid, box, ns), ns)
        except trio.Cancelled:
            raise
        except BaseException as exc:
            self._error = exc
            self._result_ready.set()
            self._conn.close_dialog(cid)
            raise
        self._result_ready.set()
        self._conn.close_dialog(cid)

    def _late_error(self) -> BaseException | None:
        """The error the main call answered with after we stopped waiting, if any."""
        if self._main is None:
            return None
        cid, box, ns = self._main
        self._conn.close_dialog(cid)
        msg = box.get_nowait()
        late: BaseException | None = None
        try:
            if msg is None:
                raise cancelled_before_answer(self._conn, ns)
            self._result = self._conn.unwrap_final(msg, ns)
        except ContextCancelled as exc:
            self._error = exc
        except AgentreeError as exc:
            self._error = late = exc
        self._result_ready.set()
        return late

    async def wait_for_result(self) -> Any:
        """Wait for the result of the function given to ``run_in_actor``.

        Raises:
            RemoteActorError: the function raised in the actor.
            ActorDied: the actor's process ended before it answered.
            AgentreeError: this portal is for a daemon (``start_actor``), which has
                no single result.
        """
        if self._main is None:
            raise AgentreeError(
                f"actor {self._conn.peer_name!r} was started with start_actor(); only "
                "run_in_actor() portals have a result"
            )
        await self._result_ready.wait()
        if self._error is not None:
            raise self._error
        return self._result

    result = wait_for_result

    async def wait_for_exit(self) -> ChildExit:
        """Wait until the child actor's process has ended and been reaped; say how.

        Works in any nursery mode, for ``start_actor`` and ``run_in_actor``
        children alike, and returns at once for a child that already ended.

        Raises:
            AgentreeError: the actor behind this portal is not a child of this
                actor (a portal from a lookup): its process is not ours to reap.
        """
        child = self._child
        if child is None:
            raise AgentreeError(
                f"actor {self._conn.peer_name!r} is not a child of this actor: only the "
                "portals of spawned children can wait for their exit"
            )
        await child.exited.wait()
        assert child.exit is not None
        return child.exit

    async def ping(self, timeout: float | None = None) -> float:  # noqa: ASYNC109
        """Ask the actor's runtime for a sign of life; return the round trip in seconds.

        The actor answers from its message loop without running user code, so a
        ping is not held up by its calls in flight or any cap on its methods; it
        goes unanswered only when the actor's loop is blocked or its process is
        stopped.

        Args:
            timeout: seconds to wait for the answer (``None``: no limit).

        Raises:
            ActorTooSlowError: no answer within ``timeout``.
            TransportClosed: the actor went away (``ActorDied`` for a child whose
                process ended).
        """
        start = time.perf_counter()
        with trio.move_on_after(float("inf") if timeout is None else timeout):
            await self._conn.call(PING_NS, {})
            return time.perf_counter() - start
        raise ActorTooSlowError(
            f"actor {self._conn.peer_name!r} did not answer a ping within {timeout} s"
        )

    async def cancel_actor(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Ask the actor to cancel itself and exit; ``False`` if it did not answer.

        The actor's cancelled dialogs name the canceller: this actor, or, when this
        runs inside a call served for another actor, that actor (the cancellation
        started there).

        Args:
            timeout: seconds to wait for the acknowledgement (default: the tree's
                ``cancel_timeout``).
        """
        if self._conn.closed.is_set():
            return False
        if self._child is not None:
            # Our own child: its end is a stop by its parent, not an exit of its own.
            self._child.mark_stopping()
        canceller = serving_peer.get() or self._conn.actor.uid
        with trio.move_on_after(timeout or self._conn.actor.options.cancel_timeout):
            try:
                return bool(await self._conn.call("self:cancel", {"canceller": canceller}))
            except (TransportClosed, AgentreeError):
                return False
        return False
