"""A feedback level: the handlers that answer the requests of a part of the tree.

A request reaches a level through a *port* (an ask on a feedback link, see
``_link``, or an ask in the level's own process); the asker's replies come back
by :meth:`Level.deliver`, and its end by :meth:`Level.detach`. The level keeps
one :class:`FeedbackRequest` per key while it is open: an asker that dies leaves
its request open (orphaned), the next ask with the same key adopts it, and an
answer given while nobody is attached is kept in the journal for that next ask.
Every answer is recorded in the journal before it is sent (see ``_journal``).

Messages, as lists: to the asker ``["answer", value]`` and ``["error", text]``;
from it ``["ok"]``, ``["refused", reason]``, ``["withdraw"]`` and ``["gone"]``
(from a relay whose way down broke: the asker died).
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec
import trio

from .._exceptions import FeedbackError
from .._runtime._control import track
from ._journal import Journal

__all__ = ["FeedbackRequest", "Handler", "Level", "Port"]

log = logging.getLogger("agentree.feedback")

Handler = Callable[["FeedbackRequest"], Any]


class Port(Protocol):
    """The level's end of one ask: how it sends to the asker.

    The asker's messages reach the level by :meth:`Level.deliver`, and the end of
    the way to the asker by :meth:`Level.detach`.
    """

    async def send(self, msg: list[Any]) -> None:
        """Send ``msg`` to the asker."""
        ...


class _Attached:
    """One asker attached to an open request: its port, and its latest reply."""

    __slots__ = ("gone", "port", "reply", "req", "wake")

    def __init__(self, req: FeedbackRequest, port: Port) -> None:
        self.req = req
        self.port = port
        self.reply: list[Any] | None = None
        self.gone = False
        # Set when the asker replied to an answer or went away.
        self.wake = trio.Event()


def _reply_of(at: _Attached) -> list[Any] | None:
    return at.reply


class FeedbackRequest:
    """A question asked of the level's handlers, open until answered or withdrawn.

    Attributes:
        question: the question, as decoded from the wire (builtins and lists/dicts).
        key: the request's key (the same for every incarnation of its asker).
        asker: the path of the agent (or the name of the actor) that asked.
        withdrawn: whether the asker withdrew the question (it was cancelled).
        answer_kind: how the answer is typed: ``"bool"``, ``"int"``, ``"float"``,
            ``"str"`` or ``"json"`` (any other type, as JSON).
        answer_type: the name of the asker's ``answer`` type.
    """

    def __init__(
        self, level: Level, question: Any, key: str, asker: str, answer: Any = None
    ) -> None:
        kind = answer if isinstance(answer, list) and len(answer) == 2 else ["json", "?"]
        self.answer_kind = str(kind[0])
        self.answer_type = str(kind[1])
        self.question = question
        self.key = key
        self.asker = asker
        self.withdrawn = False
        self._level = level
        self._at: _Attached | None = None
        self._closed = trio.Event()
        # One answer is offered at a time: ``_busy`` while one waits for the asker.
        self._busy = False
        self._idle = trio.Event()
        # An answer a handler returned, sent by the level without a task waiting
        # for the asker's reply: ``(encoded answer, index of that handler)``.
        self._fast: tuple[bytes, int] | None = None
        self._handlers_scope = trio.CancelScope()
        # The task running the handlers, and the task whose answer is being offered:
        # when they are the same, the end of the request need not cancel it.
        self._handler_task: trio.lowlevel.Task | None = None
        self._answerer: trio.lowlevel.Task | None = None

    def __repr__(self) -> str:
        return f"<FeedbackRequest {self.key!r} from {self.asker!r}>"

    @property
    def done(self) -> bool:
        """Whether the request is over: answered, failed or withdrawn."""
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        """Wait until the request is over (answered, failed or withdrawn)."""
        await self._closed.wait()

    async def answer(self, value: Any) -> None:
        """Answer the question with ``value``.

        Returns once the asker accepted it, or, if the asker is gone, once the
        answer is in the level's journal for the asker's next incarnation.

        Raises:
            FeedbackError: the request is over already (answered or withdrawn), the
                value cannot be encoded, or the asker refused it (it does not match
                the asker's ``answer`` type; the question stays open).
        """
        try:
            raw = msgspec.msgpack.encode(value)
        except (TypeError, msgspec.EncodeError) as exc:
            raise FeedbackError(f"answer to {self.key!r} cannot be encoded: {exc}") from None
        await self._acquire()
        self._answerer = trio.lowlevel.current_task()
        try:
            self._check_open()
            await self._level.journal.record(self.key, raw)
            await self._offer(value, raw, kept=False)
        finally:
            self._answerer = None
            self._release()

    async def _acquire(self) -> None:
        while self._busy:
            await self._idle.wait()
        self._busy = True
        self._idle = trio.Event()

    def _release(self) -> None:
        self._busy = False
        self._idle.set()

    async def _offer(self, value: Any, raw: bytes, *, kept: bool) -> None:
        """Give ``value`` to the attached asker, or keep it for the next one."""
        journal = self._level.journal
        if self.withdrawn or self.done:
            if self.withdrawn and not kept:
                await journal.forget(self.key)
            self._check_open()
        at = self._at
        if at is None:
            journal.keep(self.key, raw)
            self._finish()
            return
        at.reply = None
        at.wake = trio.Event()
        try:
            await at.port.send(["answer", value])
        except Exception as exc:
            log.debug("feedback %r: the answer did not reach the asker: %r", self.key, exc)
            self._level.detach(at)
        await at.wake.wait()
        reply = _reply_of(at)
        if reply is not None and reply[0] == "ok":
            return
        if reply is not None and reply[0] == "refused":
            await journal.forget(self.key)
            raise FeedbackError(f"{self.asker!r} refused the answer to {self.key!r}: {reply[1]}")
        if self.withdrawn:
            if kept:
                journal.keep(self.key, raw)
            else:
                await journal.forget(self.key)
            raise FeedbackError(f"the question {self.key!r} was withdrawn")
        # The asker went away before it took the answer: keep it for the next one.
        journal.keep(self.key, raw)
        self._finish()

    def _check_open(self) -> None:
        if self.withdrawn:
            raise FeedbackError(f"the question {self.key!r} of {self.asker!r} was withdrawn")
        if self.done:
            raise FeedbackError(f"the question {self.key!r} of {self.asker!r} is answered already")

    def _finish(self) -> None:
        if self._fast is not None:
            # An answer the level sent is settled by this end (the level closed).
            self._fast = None
            self._release()
        if not self._closed.is_set():
            self._closed.set()
            if self._answerer is None or self._answerer is not self._handler_task:
                # Someone else answered (or nobody: withdrawn, failed): stop the
                # handler that is still waiting (a prompt, say).
                self._handlers_scope.cancel()
            if self._level.pending.get(self.key) is self:
                del self._level.pending[self.key]
        at = self._at
        if at is not None:
            self._at = None
            at.wake.set()

    async def _fail(self, text: str) -> None:
        at = self._at
        if at is not None and not self.done:
            try:
                await at.port.send(["error", text])
            except Exception:
                log.warning("feedback %r: the asker is gone; dropped: %s", self.key, text)
        self._finish()


class Level:
    """The handlers of one level of the tree (the root, or a supervisor).

    Args:
        handlers: the handlers, in the order they are tried.
        journal: where answers are recorded (default: in memory).
    """

    def __init__(self, handlers: Sequence[Handler], journal: Journal | None = None) -> None:
        for handler in handlers:
            if not callable(handler):
                raise TypeError(
                    f"feedback=[...]: {handler!r} is not a handler "
                    "(an async function of a FeedbackRequest)"
                )
        self.handlers = list(handlers)
        self.journal: Journal = journal if journal is not None else Journal()
        self.pending: dict[str, FeedbackRequest] = {}
        self.id = uuid.uuid4().hex
        self._nursery: trio.Nursery | None = None
        track(self)  # agentree tree counts the open questions

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the level's handler tasks until cancelled (loads the journal first)."""
        try:
            await self.journal.load()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            with trio.CancelScope(shield=True):
                for req in list(self.pending.values()):
                    req.withdrawn = True
                    at = req._at
                    req._finish()
                    if at is not None:
                        with trio.move_on_after(1):
                            try:
                                await at.port.send(["error", "the feedback level closed"])
                            except Exception as exc:
                                log.debug("feedback %r: %r", req.key, exc)

    async def open_ask(self, params: dict[str, Any], port: Port) -> _Attached | None:
        """Take one ask: attach its asker to its request (opened if new).

        The asker's later messages go to :meth:`deliver` with the returned
        attachment; ``None`` means the ask is over already (an error was sent).
        """
        key = str(params["key"])
        req = self.pending.get(key)
        if req is not None and req._at is not None:
            await port.send(["error", f"a question with key {key!r} is pending already"])
            return None
        raw = self.journal.take(key)
        if req is None:
            if self._nursery is None:
                if raw is not None:
                    self.journal.keep(key, raw)
                await port.send(["error", "the feedback level is closed"])
                return None
            req = FeedbackRequest(
                self, params.get("question"), key, str(params["asker"]), params.get("answer")
            )
            self.pending[key] = req
            at = req._at = _Attached(req, port)
            if raw is not None:
                self._nursery.start_soon(self._offer_kept, req, raw)
            else:
                await self._start_handlers(req, at)
        else:
            # An orphaned request (its asker died): the new incarnation adopts it.
            at = req._at = _Attached(req, port)
        return at

    def deliver(self, at: _Attached, msg: list[Any]) -> None:
        """A message from the asker attached as ``at``."""
        req = at.req
        if req._at is not at:
            return
        kind = msg[0]
        if req._fast is not None:
            if kind in ("ok", "refused"):
                at.reply = msg
                self._settle_fast(req, msg)
            elif kind == "withdraw":
                req.withdrawn = True
                self._settle_fast(req, None)
            elif kind == "gone":
                self.detach(at)
            return
        if kind in ("ok", "refused"):
            at.reply = msg
            if kind == "ok":
                req._finish()
            at.wake.set()
        elif kind == "withdraw":
            req.withdrawn = True
            req._finish()
        elif kind == "gone":
            self.detach(at)

    def detach(self, at: _Attached) -> None:
        """The asker attached as ``at`` is gone: its request stays open for the next."""
        at.gone = True
        req = at.req
        if req._at is at:
            req._at = None
            if req._fast is not None:
                self._settle_fast(req, None)
        at.wake.set()

    async def _offer_kept(self, req: FeedbackRequest, raw: bytes) -> None:
        await req._acquire()
        try:
            await req._offer(msgspec.msgpack.decode(raw), raw, kept=True)
        except FeedbackError as exc:
            if req.done:
                return
            log.warning("feedback %r: the kept answer was not taken: %s", req.key, exc)
        else:
            return
        finally:
            req._release()
        await self._run_handlers(req)

    async def _run_handlers(
        self, req: FeedbackRequest, start: int = 0, first: Awaitable[Any] | None = None
    ) -> None:
        """Try the handlers from index ``start`` (``first``: what it returned already)."""
        req._handler_task = trio.lowlevel.current_task()
        with req._handlers_scope:
            for index in range(start, len(self.handlers)):
                handler = self.handlers[index]
                try:
                    if first is not None:
                        value, first = await first, None
                    else:
                        value = handler(req)
                        if inspect.isawaitable(value):
                            value = await value
                except Exception as exc:
                    log.error("feedback handler %r failed on %r", handler, req, exc_info=exc)
                    await req._fail(f"feedback handler {handler!r} raised {exc!r}")
                    return
                if req._closed.is_set():
                    return
                if value is None:
                    continue
                try:
                    await req.answer(value)
                except FeedbackError as exc:
                    if req._closed.is_set():
                        return
                    log.error("feedback handler %r: %s", handler, exc)
                    continue
                return
            await req._fail(f"no feedback handler answered {req.key!r}")

    async def _start_handlers(self, req: FeedbackRequest, at: _Attached) -> None:
        """Run the handlers of a new request: plain functions at once, here.

        Handlers that are plain functions (they return the answer, or ``None``)
        run in the task that took the ask, and an answer one of them returns is
        sent from here; the asker's reply settles it (see :meth:`deliver`), with
        no task waiting for it. From the first handler that returns an awaitable
        on, the handlers run in a task of the level. (A level that writes its
        answers to a store runs them all in a task: the write comes first.)
        """
        assert self._nursery is not None
        if type(self.journal) is not Journal:
            self._nursery.start_soon(self._run_handlers, req)
            return
        for index, handler in enumerate(self.handlers):
            try:
                value = handler(req)
            except Exception as exc:
                log.error("feedback handler %r failed on %r", handler, req, exc_info=exc)
                await req._fail(f"feedback handler {handler!r} raised {exc!r}")
                return
            if inspect.isawaitable(value):
                self._nursery.start_soon(self._run_handlers, req, index, value)
                return
            if value is None:
                continue
            try:
                raw = msgspec.msgpack.encode(value)
            except (TypeError, msgspec.EncodeError) as exc:
                log.error(
                    "feedback handler %r: answer to %r cannot be encoded: %s",
                    handler,
                    req.key,
                    exc,
                )
                continue
            if req._busy or req._at is not at or req.done:
                self._nursery.start_soon(self._run_handlers, req, index + 1)
                return
            req._busy = True
            req._idle = trio.Event()
            req._fast = (raw, index)
            at.reply = None
            try:
                await at.port.send(["answer", value])
            except Exception as exc:
                log.debug("feedback %r: the answer did not reach the asker: %r", req.key, exc)
                self.detach(at)
            return
        await req._fail(f"no feedback handler answered {req.key!r}")

    def _settle_fast(self, req: FeedbackRequest, reply: list[Any] | None) -> None:
        """The asker's reply (``None``: it went away) to an answer sent by the level."""
        fast = req._fast
        assert fast is not None
        raw, index = fast
        req._fast = None
        req._release()
        if reply is not None and reply[0] == "ok":
            req._finish()
        elif reply is not None and reply[0] == "refused":
            log.error(
                "feedback handler %r: %r refused the answer to %r: %s",
                self.handlers[index],
                req.asker,
                req.key,
                reply[1:],
            )
            if self._nursery is not None:
                self._nursery.start_soon(self._run_handlers, req, index + 1)
        elif req.withdrawn:
            req._finish()
        else:
            self.journal.keep(req.key, raw)
            req._finish()
