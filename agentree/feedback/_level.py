"""A feedback level: the handlers that answer the requests of a part of the tree.

A request reaches a level over a *link* (a dialog stream from a child, or memory
channels for an ask in the level's own process). The level keeps one
:class:`FeedbackRequest` per key while it is open: an asker that dies leaves its
request open (orphaned), the next ask with the same key adopts it, and an answer
given while nobody is attached goes to the journal for that next ask.

Messages, as lists: to the asker ``["answer", value]`` and ``["error", text]``;
from it ``["ok"]``, ``["refused", reason]`` and ``["withdraw"]``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec
import trio

from .._exceptions import FeedbackError
from .._runtime._control import track
from ._journal import Journal, MemoryJournal

__all__ = ["FeedbackRequest", "Handler", "Level", "Link"]

log = logging.getLogger("agentree.feedback")

Handler = Callable[["FeedbackRequest"], Awaitable[Any]]


class Link(Protocol):
    """The level's end of one ask: send to the asker, receive from it."""

    async def send(self, msg: list[Any]) -> None:
        """Send ``msg`` to the asker."""
        ...

    async def receive(self) -> list[Any]:
        """The asker's next message; raises when the asker is gone."""
        ...

    def asker_died(self) -> bool:
        """Whether the link ended because the asker (or a relay) died."""
        ...


class _Attached:
    def __init__(self, link: Link) -> None:
        self.link = link
        self.reply: list[Any] | None = None
        self.replied = trio.Event()
        self.gone = trio.Event()
        self.died = False
        self.scope = trio.CancelScope()


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
        self._offering = trio.Lock()
        self._handlers_scope = trio.CancelScope()

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
        async with self._offering:
            self._check_open()
            at = self._at
            if at is None:
                self._level.journal.put(self.key, raw)
                self._finish()
                return
            at.reply = None
            at.replied = trio.Event()
            try:
                await at.link.send(["answer", value])
            except Exception:
                at.gone.set()
            with trio.CancelScope() as wait:
                async with trio.open_nursery() as nursery:

                    async def gone() -> None:
                        await at.gone.wait()
                        wait.cancel()

                    nursery.start_soon(gone)
                    await at.replied.wait()
                    nursery.cancel_scope.cancel()
            reply = _reply_of(at)
            if reply is not None and reply[0] == "ok":
                return
            if reply is not None and reply[0] == "refused":
                raise FeedbackError(
                    f"{self.asker!r} refused the answer to {self.key!r}: {reply[1]}"
                )
            if self.withdrawn:
                raise FeedbackError(f"the question {self.key!r} was withdrawn")
            # The asker went away before it took the answer: keep it for the next one.
            self._level.journal.put(self.key, raw)
            self._finish()

    def _check_open(self) -> None:
        if self.withdrawn:
            raise FeedbackError(f"the question {self.key!r} of {self.asker!r} was withdrawn")
        if self.done:
            raise FeedbackError(f"the question {self.key!r} of {self.asker!r} is answered already")

    def _finish(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._handlers_scope.cancel()
            if self._level.pending.get(self.key) is self:
                del self._level.pending[self.key]
        if self._at is not None:
            self._at.scope.cancel()

    async def _fail(self, text: str) -> None:
        at = self._at
        if at is not None and not self.done:
            try:
                await at.link.send(["error", text])
            except Exception:
                log.warning("feedback %r: the asker is gone; dropped: %s", self.key, text)
        self._finish()


class Level:
    """The handlers of one level of the tree (the root, or a supervisor)."""

    def __init__(self, handlers: Sequence[Handler], journal: Journal | None = None) -> None:
        for handler in handlers:
            if not callable(handler):
                raise TypeError(
                    f"feedback=[...]: {handler!r} is not a handler "
                    "(an async function of a FeedbackRequest)"
                )
        self.handlers = list(handlers)
        self.journal: Journal = journal if journal is not None else MemoryJournal()
        self.pending: dict[str, FeedbackRequest] = {}
        self._nursery: trio.Nursery | None = None
        track(self)  # agentree tree counts the open questions

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the level's handler tasks until cancelled."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            for req in list(self.pending.values()):
                req.withdrawn = True
                req._finish()

    async def serve(self, params: dict[str, Any], link: Link) -> None:
        """Serve one ask that arrived over ``link``, until it is over for this link."""
        key = str(params["key"])
        raw = self.journal.take(key)
        if raw is not None and await self._offer_kept(key, raw, link):
            return
        req = self.pending.get(key)
        if req is not None and req._at is not None:
            await link.send(["error", f"a question with key {key!r} is pending already"])
            return
        if req is None:
            if self._nursery is None:
                await link.send(["error", "the feedback level is closed"])
                return
            req = FeedbackRequest(
                self, params.get("question"), key, str(params["asker"]), params.get("answer")
            )
            self.pending[key] = req
            req._at = at = _Attached(link)
            self._nursery.start_soon(self._run_handlers, req)
        else:
            req._at = at = _Attached(link)
        try:
            with at.scope:
                await self._pump(req, at)
        finally:
            at.gone.set()
            if req._at is at:
                req._at = None
                if not req.done and not at.died and not link.asker_died():
                    # The ask was cancelled while its asker lives: a withdrawal (the
                    # asker was cancelled before it could say so). A dead asker's
                    # request stays open for its next incarnation.
                    req.withdrawn = True
                    req._finish()

    async def _offer_kept(self, key: str, raw: bytes, link: Link) -> bool:
        try:
            await link.send(["answer", msgspec.msgpack.decode(raw)])
            reply = await link.receive()
        except BaseException:
            self.journal.put(key, raw)
            raise
        if reply[0] == "ok":
            return True
        if reply[0] == "withdraw":
            self.journal.put(key, raw)
            return True
        log.warning("feedback %r: the kept answer was refused: %s", key, reply[1:])
        return False

    async def _pump(self, req: FeedbackRequest, at: _Attached) -> None:
        while True:
            msg = await at.link.receive()
            kind = msg[0]
            if kind == "gone":
                at.died = True
                return
            if kind == "withdraw":
                req.withdrawn = True
                req._finish()
                at.gone.set()
                return
            if kind in ("ok", "refused"):
                at.reply = msg
                if kind == "ok":
                    req._finish()
                at.replied.set()
                if kind == "ok":
                    return

    async def _run_handlers(self, req: FeedbackRequest) -> None:
        with req._handlers_scope:
            for handler in self.handlers:
                try:
                    value = await handler(req)
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
