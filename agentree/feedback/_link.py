"""Feedback links: one long-lived dialog per connection carries every ask on it.

An actor that asks opens (once, lazily) a *link* to a peer: a context dialog with
a two-way stream, served by :func:`feedback_link`. Each ask on it has an id
(``aid``), and each message of an ask is one stream item: ``[kind, aid, ...]``.

- asker to level (in batches: each stream item is a list of these):
  ``["ask", aid, params, level_id]``, ``["ok", aid]``,
  ``["refused", aid, reason]``, ``["withdraw", aid]`` and, from a relay whose way
  down broke, ``["gone", aid]``;
- level to asker: ``["answer", aid, value]``, ``["error", aid, text]`` and
  ``["route", aid, route]`` (where the level is, for the asker's later asks).

The first ask of an actor goes to its parent. An actor that has a level for the
child that asked (a supervisor of that child, or the root's handlers) serves it;
any other relays it on its own link to its parent, like the debugger's terminal
lock. The level answers with its *route* (its id, its actor and that actor's
address): the asker's later asks go straight to it over a direct connection, one
message per step and no relay. The nearest level of an actor never changes while
the actor lives (a supervisor's level opens before its children start and closes
after they end), so a route stays right for the asker's whole life.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any

import trio

from .._context import Context, context, open_context
from .._exceptions import AgentreeError, MsgEncodeError, TransportClosed
from .._runtime import Actor, Conn
from .._streaming import MsgStream
from ..msg import Yield
from ._level import Level, _Attached

__all__ = ["Slot", "Uplink", "feedback_link", "uplink_to"]

log = logging.getLogger("agentree.feedback")

# Items each side may have unread on a link (credit is granted half a window at a time).
LINK_WINDOW = 1024
_SEND_TIMEOUT = 5.0

# The levels of this process by id (for asks that name theirs), with their actor.
levels_by_id: dict[str, tuple[Actor, Level]] = {}


class Slot:
    """The asker's mailbox for the messages of one ask."""

    __slots__ = ("_ended", "_queue", "_waiter")

    def __init__(self) -> None:
        self._queue: deque[list[Any]] = deque()
        self._waiter: trio.lowlevel.Task | None = None
        self._ended = False

    def put(self, msg: list[Any]) -> None:
        self._queue.append(msg)
        if self._waiter is not None:
            trio.lowlevel.reschedule(self._waiter)
            self._waiter = None

    async def on_msg(self, msg: list[Any]) -> None:
        self.put([msg[0], *msg[2:]])

    async def on_end(self) -> None:
        self._ended = True
        if self._waiter is not None:
            trio.lowlevel.reschedule(self._waiter)
            self._waiter = None

    async def get(self) -> list[Any]:
        """The next message; ``trio.EndOfChannel`` once the way to the level ended."""
        while not self._queue:
            if self._ended:
                raise trio.EndOfChannel
            self._waiter = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        return self._queue.popleft()

    def _abort(self, raise_cancel: object) -> trio.lowlevel.Abort:
        self._waiter = None
        return trio.lowlevel.Abort.SUCCEEDED


class Uplink:
    """This actor's end of the link over one connection: asks go out, replies come in."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.targets: dict[int, Any] = {}
        self.ready = trio.Event()
        self.failed: BaseException | None = None
        self.ended = False
        self._stream: Any = None
        self._next = 0
        # Messages posted and not yet written: the writer sends them as one item.
        self._outbox: list[list[Any]] = []
        self._more = trio.Event()
        # The writer's wait while nothing has to go out at once (its deadline is
        # when a deferred message is due).
        self._idle: trio.CancelScope | None = None

    def add(self, target: Any) -> int:
        """Register ``target`` (``on_msg``/``on_end``) for a new ask; its id."""
        self._next += 1
        self.targets[self._next] = target
        return self._next

    def remove(self, aid: int) -> None:
        self.targets.pop(aid, None)

    def post(self, msg: list[Any], *, wake: bool = True, within: float | None = None) -> None:
        """Queue ``msg`` for the peer (never waits).

        Messages posted before they are written go out together as one stream
        item (an asker's ``ok`` and its next ``ask``, say): one frame, one read at
        the other end.

        Args:
            msg: the message.
            wake: have the link's writer task send it at once. ``False``: the
                caller sends it itself (:meth:`flush`) before it waits.
            within: instead of at once, send it within this many seconds, unless
                a :meth:`flush` sends it first (an asker's ``ok``: its next ask
                usually carries it, and no task wakes up for it).

        Raises:
            trio.BrokenResourceError: the link ended.
        """
        if self.ended:
            raise trio.BrokenResourceError("the feedback link ended")
        self._outbox.append(msg)
        if within is not None:
            scope = self._idle
            if scope is not None:
                scope.deadline = min(scope.deadline, trio.current_time() + within)
            else:
                self._more.set()
        elif wake:
            self._more.set()

    async def flush(self) -> None:
        """Send what was posted, from this task (an asker about to wait)."""
        if self._outbox and self._stream is not None:
            batch, self._outbox = self._outbox, []
            if self._idle is not None:
                self._idle.deadline = math.inf
            await send_item(self._stream, batch)

    async def _write(self, stream: Any) -> None:
        while True:
            with trio.CancelScope() as self._idle:
                await self._more.wait()
            self._idle = None
            self._more = trio.Event()
            if self._outbox:
                batch, self._outbox = self._outbox, []
                await stream.send(batch)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        started = False
        try:
            async with (
                open_context(self.conn, feedback_link, {}) as (ctx, _),
                ctx.open_stream(msg_buffer_size=LINK_WINDOW) as stream,
            ):
                self._stream = stream
                started = True
                task_status.started()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._write, stream)
                    async for msg in stream:
                        if not _well_formed(msg):
                            log.warning("feedback link: dropping a bad message %r", msg)
                            continue
                        target = self.targets.get(msg[1])
                        if target is not None:
                            await target.on_msg(msg)
                    nursery.cancel_scope.cancel()
        except Exception as exc:
            if not started:
                raise
            log.debug("feedback link to %r ended: %r", self.conn.peer_name, exc)
        finally:
            self.ended = True
            if _uplinks.get(self.conn) is self:
                del _uplinks[self.conn]
            with trio.CancelScope(shield=True):
                for target in list(self.targets.values()):
                    await target.on_end()
            self.targets.clear()


_uplinks: dict[Conn, Uplink] = {}


async def uplink_to(actor: Actor, conn: Conn) -> Uplink:
    """This actor's link over ``conn`` (opened by the first ask that needs it).

    Raises:
        AgentreeError: the link cannot be opened (the connection ended).
    """
    up = _uplinks.get(conn)
    if up is None or up.ended:
        up = _uplinks[conn] = Uplink(conn)
        service = actor._service
        try:
            if service is None:
                raise trio.BrokenResourceError(f"actor {actor.name!r} is not running")
            await service.start(up.run)
        except BaseException as exc:
            up.failed = exc
            up.ended = True
            if _uplinks.get(conn) is up:
                del _uplinks[conn]
            raise
        finally:
            up.ready.set()
        return up
    if not up.ready.is_set():
        await up.ready.wait()
    if up.failed is not None:
        raise trio.BrokenResourceError(f"the feedback link failed: {up.failed!r}")
    return up


async def send_item(stream: MsgStream, item: Any) -> None:
    """``stream.send(item)``, without its pass of the scheduler when the write is done.

    Every sender on a link waits right after it sends (an asker for the answer, a
    level's task for the asker's reply, a reader for its next item), so the send
    need not be a schedule point of its own; it is one on the slow paths (no
    credit, a socket that does not take the frame at once).

    Raises:
        trio.BrokenResourceError: the link ended (also while the send waited for
            credit, however its dialog ended).
    """
    ctx = stream.ctx
    dialog = ctx._dialog
    if dialog.credit > 0 and not dialog.over:
        dialog.credit -= 1
        try:
            await ctx._conn.chan.send(Yield(cid=ctx.cid, pld=item), schedule=False)
        except TransportClosed as exc:
            raise trio.BrokenResourceError(f"the feedback link ended: {exc}") from exc
        return
    try:
        await stream.send(item)
    except MsgEncodeError:
        raise
    except AgentreeError as exc:
        # The dialog ended while this send waited for credit (the link's peer
        # failed, was cancelled or went away): the link ended, whoever ended it.
        raise trio.BrokenResourceError(f"the feedback link ended: {exc!r}") from exc


def _well_formed(msg: Any) -> bool:
    return (
        isinstance(msg, list) and len(msg) >= 2 and isinstance(msg[0], str) and type(msg[1]) is int
    )


def route_of(actor: Actor, level: Level) -> list[Any]:
    """Where ``level`` (of ``actor``) is: ``[level id, name, uuid, address or None]``."""
    peers = actor.peers
    return [level.id, actor.uid[0], actor.uid[1], None if peers is None else peers.path]


class _LinkPort:
    """A level's way to one asker on a link."""

    __slots__ = ("aid", "down")

    def __init__(self, down: _Downlink, aid: int) -> None:
        self.down = down
        self.aid = aid

    async def send(self, msg: list[Any]) -> None:
        if msg[0] == "error":
            self.down.asks.pop(self.aid, None)
        await self.down.send([msg[0], self.aid, *msg[1:]])


class _Relay:
    """One ask passing through this actor: from a link below to the link above."""

    __slots__ = ("aid", "down", "up", "up_aid")

    def __init__(self, down: _Downlink, aid: int, up: Uplink) -> None:
        self.down = down
        self.aid = aid
        self.up = up
        self.up_aid = up.add(self)

    async def on_msg(self, msg: list[Any]) -> None:
        if msg[0] == "error":
            self._forget()
        try:
            await self.down.send([msg[0], self.aid, *msg[2:]])
        except Exception as exc:
            log.debug("feedback relay: the way down broke: %r", exc)

    async def on_end(self) -> None:
        self._forget()
        with trio.move_on_after(_SEND_TIMEOUT):
            try:
                await self.down.send(["error", self.aid, "the feedback level went away"])
            except Exception as exc:
                log.debug("feedback relay: the way down broke: %r", exc)

    def from_below(self, msg: list[Any]) -> None:
        if msg[0] in ("ok", "withdraw", "gone"):
            self._forget()
        try:
            self.up.post([msg[0], self.up_aid, *msg[2:]])
        except trio.BrokenResourceError as exc:
            log.debug("feedback relay: the way up broke: %r", exc)

    def _forget(self) -> None:
        self.down.asks.pop(self.aid, None)
        self.up.remove(self.up_aid)


class _Downlink:
    """The serving end of a link: the asks of one peer (a child, or a direct asker)."""

    def __init__(self, ctx: Context, stream: Any) -> None:
        self.ctx = ctx
        self.conn: Conn = ctx.chan
        self.actor: Actor = ctx.chan.actor
        self.stream = stream
        self.asks: dict[int, _Attached | _Relay] = {}

    async def send(self, msg: Any) -> None:
        await send_item(self.stream, msg)

    async def handle(self, msg: list[Any]) -> None:
        kind, aid = msg[0], msg[1]
        if kind == "ask":
            await self._ask(aid, msg)
            return
        target = self.asks.get(aid)
        if target is None:
            return
        if isinstance(target, _Relay):
            target.from_below(msg)
            return
        if kind in ("ok", "withdraw", "gone"):
            del self.asks[aid]
        target.req._level.deliver(target, [kind, *msg[2:]])

    async def _ask(self, aid: int, msg: list[Any]) -> None:
        if len(msg) < 4 or not isinstance(msg[2], dict) or "key" not in msg[2]:
            await self.send(["error", aid, f"a bad feedback request {msg!r}"])
            return
        params, level_id = msg[2], msg[3]
        level = self._level(level_id)
        if level is not None:
            if params.get("route"):
                await self.send(["route", aid, route_of(self.actor, level)])
            at = await level.open_ask(params, _LinkPort(self, aid))
            if at is not None and not at.req.done:
                self.asks[aid] = at
            return
        actor = self.actor
        if level_id is not None:
            await self.send(["error", aid, f"the feedback level {level_id!r} is closed"])
        elif actor.is_root or actor.parent_conn is None:
            await self.send(["error", aid, f"no feedback handler in the tree of {actor.name!r}"])
        else:
            try:
                up = await uplink_to(actor, actor.parent_conn)
            except Exception as exc:
                await self.send(["error", aid, f"actor {actor.name!r} cannot relay: {exc!r}"])
                return
            relay = self.asks[aid] = _Relay(self, aid, up)
            relay.from_below(msg)

    def _level(self, level_id: Any) -> Level | None:
        if level_id is not None:
            entry = levels_by_id.get(str(level_id))
            return entry[1] if entry is not None and entry[0] is self.actor else None
        from ._ask import level_for_child, root_level

        return level_for_child(self.conn) or root_level(self.actor)

    async def end(self) -> None:
        """The peer's side ended (it died or stopped): its asks stay open above."""
        asks, self.asks = self.asks, {}
        for target in asks.values():
            if isinstance(target, _Relay):
                target.up.remove(target.up_aid)
                try:
                    target.up.post(["gone", target.up_aid])
                except trio.BrokenResourceError as exc:
                    log.debug("feedback relay: the way up broke: %r", exc)
            else:
                target.req._level.detach(target)


@context
async def feedback_link(ctx: Context) -> None:
    """Serve a peer's feedback link: its asks, answered here or relayed up."""
    await ctx.started(None)
    async with ctx.open_stream(msg_buffer_size=LINK_WINDOW) as stream:
        down = _Downlink(ctx, stream)
        try:
            async for batch in stream:
                for msg in batch if isinstance(batch, list) else [batch]:
                    if not _well_formed(msg):
                        log.warning(
                            "feedback link from %r: a bad message %r", ctx.chan.peer_name, msg
                        )
                        continue
                    await down.handle(msg)
        finally:
            with trio.CancelScope(shield=True):
                await down.end()
