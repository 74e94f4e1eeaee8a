"""A connection to one peer actor: its message loop and its dialogs.

One task at a time reads the channel. It hands ``Start`` requests to the actor, cancels
served calls on ``Cancel``, and routes every other dialog message to the mailbox of
the dialog this side opened. The actor runs a plain call in the reading task itself;
if the call has to wait, a new task takes over the reading (see ``_inline``). When the
channel ends, every open dialog learns why, and every call the peer made here is
cancelled.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from .._exceptions import (
    ActorDied,
    AgentreeError,
    MsgEncodeError,
    ProtocolError,
    TransportClosed,
)
from .._ipc import Channel
from ..msg import (
    Aid,
    Cancel,
    CancelAck,
    Credit,
    Error,
    Msg,
    Return,
    Start,
    StartAck,
    Started,
    Stop,
    Yield,
    decode_msg,
    decode_payload,
    find_unencodable,
)
from ._boxing import box_error, cancelled_error, unbox_error
from ._dialog import Dialog

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = ["Conn"]

log = logging.getLogger("agentree.runtime")

Uid = tuple[str, str]
_SEND_REPLY_TIMEOUT = 2.0
# How long a failed send waits for the read loop to say why the channel ended.
_WHY_CLOSED_TIMEOUT = 2.0


class Conn:
    """One channel to a peer actor, with the dialogs on it in both directions.

    Args:
        actor: the local actor, which serves the peer's calls.
        chan: the channel, already through its handshake.
        peer_uid: the peer's ``(name, uuid)``.
    """

    def __init__(self, actor: Actor, chan: Channel, peer_uid: Uid) -> None:
        self.actor = actor
        self.chan = chan
        self.peer_uid = peer_uid
        self.peer_name = peer_uid[0]
        # Dialogs with a local owner: the calls this side made, and the contexts and
        # streams the peer opened here (whose messages go to the serving task).
        self._dialogs: dict[int, Dialog] = {}
        self._tasks: dict[int, trio.CancelScope] = {}
        self._closed_by: AgentreeError | None = None
        # The task that reads the channel now, and the nursery of reader tasks: a
        # reader that runs a served call which has to wait hands reading to a new one.
        self._reader: trio.lowlevel.Task | None = None
        # The reader while it lets a task it just woke run first (see _let_woken_run).
        self._parked: trio.lowlevel.Task | None = None
        self._readers: trio.Nursery | None = None
        # Set when the local actor is cancelled: its served calls here are cancelled
        # by it, not by the peer (which is whom a cancelled call names otherwise).
        self.calls_cancelled_locally = False
        # Set by the owner of a child's connection: awaited when the channel ends, it
        # returns the error every waiting dialog gets (ActorDied once the child's
        # process is reaped). Bounded by the hook itself.
        self.explain_end: Callable[[AgentreeError], Awaitable[AgentreeError]] | None = None
        self.closed = trio.Event()
        # The peer's pid, when known (a child's; a peer's from its Aid).
        self.peer_pid: int | None = None
        actor.add_conn(self)

    @property
    def uid(self) -> Uid:
        """The peer's ``(name, uuid)`` (tractor's ``chan.uid``)."""
        return self.peer_uid

    @property
    def aid(self) -> Aid:
        """The peer's identity (tractor's ``chan.aid``); ``pid`` is 0 when unknown."""
        return Aid(name=self.peer_uid[0], uuid=self.peer_uid[1], pid=self.peer_pid or 0)

    @property
    def raddr(self) -> Any:
        """The peer's socket address (tractor's ``chan.raddr``), ``None`` if it has none."""
        sock = getattr(self.chan.stream, "socket", None)
        try:
            return (sock.getpeername() or None) if sock is not None else None
        except OSError:
            return None

    # -- the message loop ----------------------------------------------------------

    async def process_messages(self) -> None:
        """Read and dispatch messages until the channel ends. Never raises for EOF.

        Returns once the channel is closed and every call the peer made here that
        ran in a reader task (see :meth:`hand_off_reading`) has ended.
        """
        async with trio.open_nursery() as readers:
            self._readers = readers
            await self._read_loop()

    def hand_off_reading(self) -> None:
        """Start a new reader task: the current one goes on running a served call."""
        assert self._readers is not None
        self._reader = None
        self._readers.start_soon(self._read_loop)

    async def _read_loop(self) -> None:
        reason: AgentreeError = TransportClosed(f"connection to {self.peer_name!r} ended")
        me = self._reader = trio.lowlevel.current_task()
        # The cancel scope of the call this task may end up running (see
        # ``Actor._call_here``): the call's own once it waits, when this task stops
        # reading. One scope per reader task, not one per call: most calls never
        # wait, and entering a scope costs more than the rest of serving them.
        handed_off = True
        with trio.CancelScope() as call_scope:
            try:
                while True:
                    msg = decode_msg(await self.chan.recv_frame())
                    match msg:
                        # The answer and the request of a call come first: most common.
                        case Return() | CancelAck():
                            if self._deliver(msg.cid, msg, final=True):
                                await self._let_woken_run()
                        case Start():
                            if await self.actor.start_rpc(self, msg, call_scope):
                                # Another task reads now; this one ran a call that waited.
                                return
                        case Yield() | Started() | Stop() | StartAck():
                            if self._deliver(msg.cid, msg):
                                await self._let_woken_run()
                        case Credit():
                            dialog = self._dialogs.get(msg.cid)
                            if dialog is not None:
                                dialog.grant(msg.n)
                        case Cancel():
                            scope = self._tasks.get(msg.cid)
                            if scope is not None:
                                scope.cancel()
                        case Error(cid=int(cid)):
                            self._deliver(cid, msg, final=True)
                            # The opener of a dialog served here failed: stop serving it.
                            scope = self._tasks.get(cid)
                            if scope is not None:
                                scope.cancel()
                        case Error():
                            log.error("actor %r reports a channel error: %s", self.peer_name, msg)
                        case _:
                            raise ProtocolError(
                                f"unexpected {type(msg).__name__} message from actor "
                                f"{self.peer_name!r}"
                            )
            except TransportClosed as exc:
                reason = TransportClosed(f"actor {self.peer_name!r} closed its channel: {exc}")
                reason.__cause__ = exc
                reason = await self._explain_end(reason, me)
            except ProtocolError as exc:
                reason = exc
                log.error(
                    "protocol error from actor %r, closing its channel: %s", self.peer_name, exc
                )
                with trio.move_on_after(_SEND_REPLY_TIMEOUT):
                    with contextlib.suppress(AgentreeError):
                        await self.chan.send(box_error(exc, cid=None, uid=self.actor.uid))
                reason = await self._explain_end(reason, me)
            finally:
                if self._reader is me:
                    self._shut(reason)
            handed_off = False
        if handed_off:
            # The call this task ran (which waited) is over, or was cancelled.
            return
        with trio.CancelScope(shield=True):
            await self.chan.aclose()

    async def _explain_end(self, reason: AgentreeError, me: trio.lowlevel.Task) -> AgentreeError:
        if self.explain_end is None or self._reader is not me:
            return reason
        with trio.CancelScope(shield=True):
            reason = await self.explain_end(reason)
        return reason

    def _deliver(self, cid: int, msg: Msg, *, final: bool = False) -> bool:
        """Hand ``msg`` to its dialog; whether that woke the dialog's task."""
        dialog = self._dialogs.get(cid)
        if dialog is not None:
            if final:
                dialog.note_final(msg)
            return dialog.put(msg)
        log.debug("dropping %s for a finished dialog from %r", msg, self.peer_name)
        return False

    async def _let_woken_run(self) -> None:
        """Let the task that a message just woke take its step before reading on.

        When its dialog is the only one open on this connection, nothing more can
        arrive for this side until that task acts, and it usually acts at once (the
        next call, a stream reply): its write should not wait behind this task's
        next read, which would find nothing and set up a wait for the socket. The
        woken task resumes this one first thing (:meth:`_resume_reader`, the
        dialog's ``on_wake``), so this waits for one step of that task at most.
        With several dialogs open, or frames already read, reading goes on at once:
        then the next read likely brings messages for other tasks.
        """
        if self.chan.buffered or len(self._dialogs) > 1:
            return
        self._parked = trio.lowlevel.current_task()
        await trio.lowlevel.wait_task_rescheduled(self._abort_park)

    def _abort_park(self, raise_cancel: object) -> trio.lowlevel.Abort:
        self._parked = None
        return trio.lowlevel.Abort.SUCCEEDED

    def _resume_reader(self) -> None:
        task, self._parked = self._parked, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    def _shut(self, reason: AgentreeError) -> None:
        self._closed_by = reason
        self.actor.discard_conn(self)
        for dialog in self._dialogs.values():
            dialog.close(reason)
        for scope in self._tasks.values():
            scope.cancel()
        self.closed.set()

    # -- caller side ---------------------------------------------------------------

    def open_dialog(self) -> tuple[int, Dialog]:
        """Allocate a dialog id and its state on this connection."""
        self._check_open()
        cid = self.chan.next_cid()
        dialog = self._dialogs[cid] = Dialog(cid, self._resume_reader)
        return cid, dialog

    def register_dialog(self, cid: int) -> Dialog:
        """Give a dialog the peer opened a local owner, to receive its messages.

        Raises:
            ProtocolError: the peer reused the id of a dialog that is still open.
        """
        self._check_open()
        if cid in self._dialogs:
            raise ProtocolError(f"actor {self.peer_name!r} reused dialog id {cid}")
        dialog = self._dialogs[cid] = Dialog(cid, self._resume_reader)
        return dialog

    def _check_open(self) -> None:
        closed_by = self._closed_by
        if closed_by is not None:
            if isinstance(closed_by, ActorDied):
                raise ActorDied(str(closed_by), exit=closed_by.exit) from closed_by
            raise TransportClosed(f"channel to actor {self.peer_name!r} is closed") from (
                closed_by
            )

    def went_away(self, ns: str, exc: BaseException | None) -> TransportClosed:
        """The error for a dialog running ``ns`` that the channel's end cut short.

        :class:`ActorDied` (naming the actor and how its process ended) when that is
        why the channel ended; a plain :class:`TransportClosed` otherwise.
        """
        if isinstance(exc, ActorDied):
            return ActorDied(f"{exc.exit.describe()} during {ns}()", exit=exc.exit)
        return TransportClosed(f"actor {self.peer_name!r} went away during {ns}(): {exc}")

    async def send_failed(self, ns: str, exc: TransportClosed) -> TransportClosed:
        """The error for a send of dialog ``ns`` that failed because the channel broke.

        Waits (bounded) for the read loop to learn why the channel ended, so that a
        send to a child that just died raises :class:`ActorDied` like a receive.
        """
        if self._closed_by is None:
            with trio.move_on_after(_WHY_CLOSED_TIMEOUT):
                await self.closed.wait()
        return self.went_away(ns, self._closed_by or exc)

    def close_dialog(self, cid: int) -> None:
        self._dialogs.pop(cid, None)

    async def send_start(
        self, cid: int, ns: str, kwargs: dict[str, Any], kind: str, *, schedule: bool = True
    ) -> None:
        """Send the ``Start`` of a dialog; name the bad argument if encoding fails.

        ``schedule=False`` skips the scheduler pass after a write that completes at
        once, for callers whose next step waits anyway (see ``Channel.send``).
        """
        try:
            await self.chan.send(
                Start(cid=cid, ns=ns, kwargs=kwargs, kind=kind),  # type: ignore[arg-type]
                schedule=schedule,
            )
        except MsgEncodeError:
            raise find_unencodable(kwargs, f"{ns}() in actor {self.peer_name!r}") from None

    async def call(self, ns: str, kwargs: dict[str, Any]) -> Any:
        """Call ``ns`` in the peer with ``kwargs`` and return its result.

        Cancelling the caller asks the peer to cancel the call.

        Raises:
            RemoteActorError: the call raised in the peer (``ContextCancelled`` when
                the peer's task was cancelled).
            TransportClosed: the peer went away before answering.
            MsgEncodeError: an argument cannot be encoded (nothing was sent).
        """
        # The steps of send_start and wait_final, inlined: this is every call's path.
        cid, dialog = self.open_dialog()
        try:
            try:
                # The wait for the reply is this call's schedule point.
                await self.chan.send(
                    Start(cid=cid, ns=ns, kwargs=kwargs),  # type: ignore[arg-type]
                    schedule=False,
                )
            except MsgEncodeError:
                raise find_unencodable(kwargs, f"{ns}() in actor {self.peer_name!r}") from None
            except TransportClosed as exc:
                raise await self.send_failed(ns, exc) from exc
            try:
                msg = await dialog.get()
            except trio.Cancelled:
                await self.cancel_dialog(cid)
                raise
            except TransportClosed as exc:
                raise self.went_away(ns, exc) from exc
            return self.unwrap_final(msg, ns)
        finally:
            self._dialogs.pop(cid, None)

    async def wait_final(self, cid: int, dialog: Dialog, ns: str) -> Msg:
        """Wait for dialog ``cid``'s next message; cancel the remote task if cancelled."""
        try:
            return await dialog.get()
        except trio.Cancelled:
            await self.cancel_dialog(cid)
            raise
        except TransportClosed as exc:
            raise self.went_away(ns, exc) from exc

    def unwrap_final(self, msg: Msg, ns: str) -> Any:
        """Turn a dialog's final message into its value, or raise its error."""
        kind = type(msg)
        if kind is Return:
            return decode_payload(msg.pld)  # type: ignore[union-attr]
        if kind is Error:
            raise unbox_error(msg)  # type: ignore[arg-type]
        if kind is CancelAck:
            raise cancelled_error(msg, self.peer_uid, ns)  # type: ignore[arg-type]
        raise ProtocolError(
            f"unexpected {kind.__name__} as the answer to {ns}() from {self.peer_name!r}"
        )

    async def cancel_dialog(self, cid: int) -> None:
        """Ask the peer to cancel dialog ``cid`` (best effort, never blocks long)."""
        if self._closed_by is not None:
            return
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(_SEND_REPLY_TIMEOUT),
            contextlib.suppress(AgentreeError),
        ):
            await self.chan.send(Cancel(cid=cid))

    # -- callee side -----------------------------------------------------------------

    def track_task(self, cid: int, scope: trio.CancelScope) -> None:
        self._tasks[cid] = scope
        if self._closed_by is not None or self.calls_cancelled_locally:
            scope.cancel()

    def cancel_served_calls(self) -> None:
        """Cancel every call the peer made here: the local actor is being cancelled.

        Calls that run in a reader task (see :mod:`._inline`) are outside the
        service nursery, so the actor cancels them here.
        """
        self.calls_cancelled_locally = True
        for scope in self._tasks.values():
            scope.cancel()

    def untrack_task(self, cid: int) -> None:
        self._tasks.pop(cid, None)

    async def send_reply(self, msg: Msg, *, shield: bool = True) -> bool:
        """Send a dialog's final message; ``False`` if the peer is gone.

        With ``shield`` the reply goes out even when the task that owes it is being
        cancelled. A reply that has to wait for the socket is bounded by the
        channel's write timeout, so a stuck peer cannot hold up a teardown forever
        (and the peer's parent reaps it on its own schedule).
        """
        if self._closed_by is not None:
            return False
        try:
            await self.chan.send(msg, schedule=False, shield=shield)
        except TransportClosed:
            return False
        return True
