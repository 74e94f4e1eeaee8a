"""The actor: identity, runtime options, and serving calls from its peers.

An actor is one trio program (one process) in the tree. It serves ``Start`` requests
from its parent and children by running the named function: a plain call in the
connection's reader task (which hands the reading on if the call has to wait, see
``_inline``), a context or stream in a task of its service nursery. Every dialog gets
exactly one final message: ``Return``, ``Error`` or ``CancelAck``.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import os
import types
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from .._exceptions import AgentreeError, FrameTooLarge, MsgEncodeError, MsgTypeError
from .._ipc import DEFAULT_MAX_FRAME_SIZE
from ..msg import Aid, CancelAck, Error, Return, Start, decode_payload
from ._boxing import box_error
from ._conn import Conn
from ._dialog import Dialog
from ._hooks import endpoints, run_error_hooks
from ._inline import drive
from ._lookup import resolve
from ._peers import Peers
from ._registry import Registry, child_conn_closed
from ._state import serving_peer

__all__ = ["Actor", "DialogRunner", "RuntimeOptions", "register_dialog_kind"]

log = logging.getLogger("agentree.runtime")

Uid = tuple[str, str]

START_METHODS = ("forkserver", "subprocess", "ray")

# Serves a dialog of a kind other than a plain call ("ctx", "gen"): given the
# connection, the dialog, the ns, the function, its kwargs and the task's cancel
# scope, it returns the dialog's final value. Registered by the layer above.
DialogRunner = Callable[
    [Conn, Dialog, str, Callable[..., Any], dict[str, Any], trio.CancelScope], Awaitable[Any]
]
_DIALOG_KINDS: dict[str, DialogRunner] = {}


def register_dialog_kind(kind: str, runner: DialogRunner) -> None:
    """Serve ``Start`` messages of ``kind`` with ``runner`` (contexts, streams)."""
    _DIALOG_KINDS[kind] = runner


@dataclass(frozen=True)
class RuntimeOptions:
    """Settings a tree shares; children inherit them from their parent.

    Attributes:
        start_method: ``"forkserver"`` (default), ``"subprocess"`` or ``"ray"``.
        debug_mode: whether the multi-process debugger is on.
        loglevel: a stdlib logging level name for agentree's own logs, or ``None``.
        max_frame_size: the largest frame any channel accepts or sends, in bytes.
        cancel_timeout: seconds a child gets to exit after a graceful cancel request,
            before it is sent SIGTERM.
        terminate_timeout: seconds a child gets to exit after SIGTERM, before SIGKILL.
        tmpdir: the tree's private 0700 directory (set by the root).
        forkserver_path: the forkserver's socket path, when the tree has one.
        main_path: the root's main script path, loaded in children on demand.
        main_name: the root's main module name (``python -m``), instead of a path.
        secret: the tree's secret for the authenticated handshake between actors.
        proxy_tty: this actor cannot reach the tree's terminal (it is Ray-hosted, or
            below such an actor): its REPLs read and write through the root.
    """

    start_method: str = "forkserver"
    debug_mode: bool = False
    loglevel: str | None = None
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    cancel_timeout: float = 1.0
    terminate_timeout: float = 1.0
    tmpdir: str | None = None
    forkserver_path: str | None = None
    main_path: str | None = None
    main_name: str | None = None
    secret: bytes = field(default=b"", repr=False)
    proxy_tty: bool = False

    def __post_init__(self) -> None:
        if self.start_method not in START_METHODS:
            raise ValueError(
                f"start_method must be one of {START_METHODS}, not {self.start_method!r}"
            )

    def evolve(self, **changes: Any) -> RuntimeOptions:
        """Return a copy with ``changes`` applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


@dataclass(eq=False)
class Actor:
    """One actor in the tree. Users get it from :func:`agentree.current_actor`.

    Attributes:
        name: the actor's name (not unique).
        uuid: a unique id, so ``uid = (name, uuid)`` names it in the tree.
        is_root: whether this is the tree's root actor.
        enable_modules: modules whose functions peers may call here.
        options: the tree-wide runtime options.
        parent_uid: the parent's uid, ``None`` in the root.
        infect_asyncio: whether trio runs as a guest on an asyncio loop here.
        path: the names from the root down to this actor, joined by ``/`` (its
            process title and its row in ``agentree tree``); its name when not given.
    """

    name: str
    uuid: str = field(default_factory=lambda: uuidlib.uuid4().hex)
    is_root: bool = False
    enable_modules: set[str] = field(default_factory=set)
    options: RuntimeOptions = field(default_factory=RuntimeOptions)
    parent_uid: Uid | None = None
    infect_asyncio: bool = False
    path: str = ""

    def __post_init__(self) -> None:
        self.pid = os.getpid()
        self.path = self.path or self.name
        self.parent_conn: Conn | None = None
        self._service: trio.Nursery | None = None
        self._scope: trio.CancelScope | None = None
        self.cancel_called = False
        # Who asked for this actor's cancellation, when a peer did: named as the
        # canceller of every dialog the cancellation ends.
        self.cancelled_by: Uid | None = None
        # Resolved functions by ns: the runtime endpoints, then what peers called.
        self._functions: dict[str, Callable[..., Any]] = {
            **endpoints(),
            "self:cancel": self._rpc_cancel,
        }
        # Open connections, whose served calls ``cancel_soon`` cancels.
        self._conns: set[Conn] = set()
        # What peers may still call once a cancel was requested: the runtime's own.
        self._runtime_ns = frozenset(self._functions)
        # Served calls that run in a task of their own and still owe their final
        # reply: a channel must not close under them (see wait_replies_sent).
        self._owing = 0
        self._owing_done: trio.Event | None = None
        # Discovery: this actor's listener and peer connections; the registry (root).
        self.peers: Peers | None = None
        self.registry: Registry | None = None
        # TCP (trees across hosts): this actor's TCP listener and what joined it.
        self.tcp: Any = None

    @property
    def uid(self) -> Uid:
        """``(name, uuid)``: the actor's id in the tree."""
        return (self.name, self.uuid)

    def child_path(self, name: str) -> str:
        """The path of this actor's child ``name``: this path, then the name.

        An agent's actor is named by its agent path, which starts with its owner's
        name (``app/helper`` started by ``app``): that part is not repeated.
        """
        prefix = self.name + "/"
        return f"{self.path}/{name[len(prefix) :] if name.startswith(prefix) else name}"

    @property
    def aid(self) -> Aid:
        """The actor's identity message: name, uuid and pid."""
        return Aid(name=self.name, uuid=self.uuid, pid=self.pid)

    @property
    def is_registrar(self) -> bool:
        """Whether this actor holds the tree's registry (the root does)."""
        return self.is_root

    is_arbiter = is_registrar

    def is_infected_aio(self) -> bool:
        """Whether this actor runs trio as a guest on an asyncio loop."""
        return self.infect_asyncio

    def __repr__(self) -> str:
        return f"<Actor {self.name!r} uuid={self.uuid[:8]} pid={self.pid}>"

    # -- lifecycle ---------------------------------------------------------------------

    def bind(self, service: trio.Nursery, scope: trio.CancelScope) -> None:
        """Attach the nursery that runs served calls and the runtime's cancel scope."""
        self._service = service
        self._scope = scope

    def add_conn(self, conn: Conn) -> None:
        """Register an open connection (done by ``Conn`` itself)."""
        self._conns.add(conn)
        if self.cancel_called:
            conn.cancel_served_calls()

    def discard_conn(self, conn: Conn) -> None:
        """Forget a connection that ended (done by ``Conn`` itself)."""
        self._conns.discard(conn)
        if self.peers is not None:
            child_conn_closed(self, conn)

    def cancel_soon(self) -> None:
        """Cancel the whole runtime: served calls, nurseries, and then the process.

        From now on peers' calls are refused (see :meth:`start_rpc`), and the calls
        in flight are cancelled; each still sends its final reply, which
        :meth:`wait_replies_sent` waits for.
        """
        self.cancel_called = True
        for conn in list(self._conns):
            conn.cancel_served_calls()
        if self._scope is not None:
            self._scope.cancel()

    async def cancel(self) -> bool:
        """Cancel this actor's runtime; returns ``True`` (tractor's API)."""
        self.cancel_soon()
        await trio.lowlevel.checkpoint()
        return True

    async def _rpc_cancel(self, canceller: Uid | None = None) -> bool:
        # Reply first, then cancel: the caller learns the request was taken.
        if self.cancel_called:
            # A repeated request (the runtime may be over already): it is under way.
            return True
        if canceller is None:
            canceller = serving_peer.get()
        if canceller is not None:
            self.cancelled_by = (canceller[0], canceller[1])
        # Calls that arrive from now on are refused, even before cancel_soon runs.
        self.cancel_called = True
        assert self._service is not None
        self._service.start_soon(self._cancel_after_checkpoint)
        return True

    async def _cancel_after_checkpoint(self) -> None:
        await trio.lowlevel.checkpoint()
        self.cancel_soon()

    def _owe_reply(self) -> None:
        self._owing += 1

    def _reply_sent(self) -> None:
        self._owing -= 1
        if not self._owing and self._owing_done is not None:
            self._owing_done.set()

    async def wait_replies_sent(self) -> None:
        """Wait until every served call that was running has sent its final reply.

        A child calls this after its runtime ended and before it closes its parent
        channel: calls cancelled with the actor may take a while to unwind (a
        shielded cleanup, a worker thread, an asyncio task), and each caller must
        get its ``CancelAck`` (or result, or error) rather than a closed channel.
        """
        while self._owing:
            self._owing_done = trio.Event()
            await self._owing_done.wait()

    # -- serving calls -------------------------------------------------------------------

    async def start_rpc(self, conn: Conn, msg: Start, scope: trio.CancelScope) -> bool:
        """Look up and start the call that ``msg`` asks for, or answer with an Error.

        A plain call runs in the calling task (the connection's reader) until it has
        to wait; see :mod:`._inline`. Contexts and streams get a task of the service
        nursery.

        Args:
            conn: the connection ``msg`` came in on.
            msg: the request.
            scope: the cancel scope around the calling reader task, which becomes a
                plain call's own if the call has to wait (see :meth:`_call_here`).

        Returns:
            Whether the call had to wait, so that this task handed the reading of
            ``conn`` to a new task and, now that the call is over, must stop reading.
        """
        if self.cancel_called and msg.ns not in self._runtime_ns:
            await conn.send_reply(self._refusal(conn, msg))
            return False
        dialog: Dialog | None = None
        runner: DialogRunner | None = None
        try:
            fn = self._functions.get(msg.ns)
            if fn is None:
                fn = self._functions[msg.ns] = resolve(msg.ns, self.enable_modules, self.name)
            kwargs = decode_payload(msg.kwargs)
            if not isinstance(kwargs, dict):
                raise MsgTypeError(f"arguments of {msg.ns} must be a map, not {type(kwargs)}")
            if msg.kind != "func":
                runner = _DIALOG_KINDS.get(msg.kind)
                if runner is None:
                    raise MsgTypeError(f"{msg.kind!r} dialogs are not served; cannot run {msg.ns}")
                dialog = conn.register_dialog(msg.cid)
        except AgentreeError as exc:
            log.info("refusing call %s from %r: %s", msg.ns, conn.peer_name, exc)
            await conn.send_reply(
                box_error(
                    exc,
                    cid=msg.cid,
                    uid=self.uid,
                    call=msg.ns,
                    max_frame_size=conn.chan.max_frame_size,
                )
            )
            return False
        if runner is not None:
            assert dialog is not None
            assert self._service is not None
            try:
                self._service.start_soon(
                    self._invoke, conn, msg.cid, msg.ns, fn, kwargs, runner, dialog
                )
            except RuntimeError:
                # The runtime already ended (a child's parent channel outlives it).
                conn.close_dialog(msg.cid)
                canceller = self.cancelled_by or self.uid
                await conn.send_reply(CancelAck(cid=msg.cid, canceller=canceller))
            return False
        return await self._call_here(conn, msg.cid, msg.ns, fn, kwargs, scope)

    def _refusal(self, conn: Conn, msg: Start) -> Error:
        """The answer to a call that arrives once this actor is being cancelled."""
        canceller = self.cancelled_by or self.uid
        log.info("refusing call %s from %r: this actor is being cancelled", msg.ns, conn.peer_name)
        return Error(
            cid=msg.cid,
            type_str="agentree.ContextCancelled",
            message=(
                f"actor {self.name!r} is being cancelled (by {canceller[0]!r}): "
                f"{msg.ns}() was not started"
            ),
            tb_str="",
            src_uid=self.uid,
            relay_path=[self.uid],
            call=msg.ns,
            canceller=canceller,
        )

    async def _call_here(
        self,
        conn: Conn,
        cid: int,
        ns: str,
        fn: Callable[..., Any],
        kwargs: dict[str, Any],
        scope: trio.CancelScope,
    ) -> bool:
        """Run a plain call in this (reader) task and send its one final message.

        The call runs in its own copy of the context. The first time it waits, this
        task hands the reading of ``conn`` to a new task (see :mod:`._inline`) and
        from then on runs only the call: ``scope``, the cancel scope around this
        reader task, becomes the call's own, registered with ``conn`` so that a
        ``Cancel`` message cancels the call like any other. Before that no ``Cancel``
        can be read, and nothing cancels ``scope``. A sync function never waits.

        Returns:
            Whether the call waited (and so this task no longer reads ``conn``).

        Raises:
            trio.Cancelled: the call was cancelled (its ``CancelAck`` went out).
        """
        handed_off = False

        def hand_off() -> None:
            nonlocal handed_off
            handed_off = True
            self._owe_reply()
            conn.track_task(cid, scope)
            conn.hand_off_reading()

        reply: Return | Error | CancelAck | None = None
        try:
            context = contextvars.copy_context()
            context.run(serving_peer.set, conn.peer_uid)
            result = context.run(fn, **kwargs)
            if type(result) is types.CoroutineType:
                result = await drive(result, context, hand_off)
            elif inspect.isawaitable(result):
                hand_off()
                result = await result
            reply = Return(cid=cid, pld=result)
        except BaseException as exc:
            if _is_cancellation(exc):
                if handed_off and scope.cancel_called:
                    # By a Cancel message, the connection's end or the actor's cancel.
                    reply = self._cancel_reply(conn, cid)
                else:
                    reply = CancelAck(cid=cid, canceller=self.cancelled_by or self.uid)
                # The reader task's scope ends the cancellation it started.
                raise
            reply = box_error(
                exc, cid=cid, uid=self.uid, call=ns, max_frame_size=conn.chan.max_frame_size
            )
            if not isinstance(exc, Exception):
                raise
            if handed_off:
                # The call is over: a late Cancel must not cancel the error hooks.
                conn.untrack_task(cid)
            else:
                # An error hook may wait for messages on this very connection (the
                # debugger's terminal lock does): another task must read them.
                handed_off = True
                self._owe_reply()
                conn.hand_off_reading()
            # The debugger's post-mortem, before the caller learns of the error; it
            # runs even if the call was cancelled before it failed.
            if scope.cancel_called:
                with trio.CancelScope(shield=True):
                    await self._run_error_hooks(exc)
            else:
                await self._run_error_hooks(exc)
        finally:
            if handed_off:
                conn.untrack_task(cid)
            try:
                if reply is not None:
                    # Shielded: the call may have been cancelled after its last checkpoint.
                    await self._send_final(conn, reply, ns, shield=True)
            finally:
                if handed_off:
                    self._reply_sent()
        return handed_off

    async def _run_error_hooks(self, exc: Exception) -> None:
        """Run the error hooks (the debugger's post-mortem) on a served call's error.

        A hook that fails is logged: the call's caller still gets its error, and
        the actor goes on serving.
        """
        try:
            await run_error_hooks(self, exc)
        except Exception as hook_error:
            log.error("an error hook failed on the error of a served call: %r", hook_error)

    def _cancel_reply(self, conn: Conn, cid: int) -> CancelAck:
        """The reply of a call whose own cancel scope caught its cancellation."""
        canceller = (
            (self.cancelled_by or self.uid) if conn.calls_cancelled_locally else conn.peer_uid
        )
        return CancelAck(cid=cid, canceller=canceller)

    async def _invoke(
        self,
        conn: Conn,
        cid: int,
        ns: str,
        fn: Callable[..., Any],
        kwargs: dict[str, Any],
        runner: DialogRunner,
        dialog: Dialog,
    ) -> None:
        """Serve a context or stream dialog in a service task; send its final message."""
        scope = trio.CancelScope()
        conn.track_task(cid, scope)
        self._owe_reply()
        serving_peer.set(conn.peer_uid)
        reply: Return | Error | CancelAck | None = None
        cancelled = True
        try:
            with scope:
                result = await runner(conn, dialog, ns, fn, kwargs, scope)
            if scope.cancelled_caught:
                reply = self._cancel_reply(conn, cid)
            else:
                reply = Return(cid=cid, pld=result)
                cancelled = False
        except BaseException as exc:
            if _is_cancellation(exc):
                # A cancellation from outside the task (the actor's own): a group of
                # nothing but Cancelled, from the function's nurseries, is one too.
                reply = CancelAck(cid=cid, canceller=self.cancelled_by or self.uid)
                raise
            reply = box_error(
                exc, cid=cid, uid=self.uid, call=ns, max_frame_size=conn.chan.max_frame_size
            )
            if not isinstance(exc, Exception):
                raise
            # The debugger's post-mortem, before the caller learns of the error.
            await self._run_error_hooks(exc)
        finally:
            conn.untrack_task(cid)
            try:
                if reply is not None:
                    await self._send_final(conn, reply, ns, shield=cancelled)
            finally:
                self._reply_sent()
                conn.close_dialog(cid)

    async def _send_final(
        self, conn: Conn, reply: Return | Error | CancelAck, ns: str, *, shield: bool
    ) -> None:
        """Send a served call's final message; if it cannot be sent, say why instead."""
        try:
            await conn.send_reply(reply, shield=shield)
            return
        except (MsgEncodeError, FrameTooLarge) as exc:
            problem: BaseException = exc
        except Exception as exc:
            # msgspec raises RecursionError for a value nested too deep, for one.
            problem = MsgEncodeError(f"{type(exc).__name__}: {exc}")
        if isinstance(reply, Error):
            # Even cut to fit (see box_error) the error does not go: its type
            # name, call or relay path is too large. Send what is certain to fit.
            log.warning("the error raised by %s cannot be sent back: %s", ns, problem)
            err: BaseException = type(problem)(
                f"the error raised by {ns} ({reply.type_str[:200]}) cannot be sent back: {problem}"
            )
        else:
            err = type(problem)(f"the return value of {ns} cannot be sent back: {problem}")
        await conn.send_reply(
            box_error(
                err, cid=reply.cid, uid=self.uid, call=ns, max_frame_size=conn.chan.max_frame_size
            ),
            shield=True,
        )


def _is_cancellation(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        try:
            return exc.split(trio.Cancelled)[1] is None
        except Exception:
            # A group whose ``derive()`` fails, or one nested past the recursion
            # limit: not a plain cancellation, so it is boxed and reported.
            return False
    return isinstance(exc, trio.Cancelled)
