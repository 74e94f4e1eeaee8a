"""A proxied terminal: the REPL of an actor that cannot reach the tree's terminal.

A Ray-hosted actor (and every actor below it, see ``proxy_tty`` in the runtime
options) has no terminal: its stdin is its Ray host's pipe, its stdout Ray's worker
log. Its REPL reads and writes through the terminal lock's dialog instead, once it
holds the lock (see ``_lock``):

- :class:`ProxyTerminal`, the REPL's ``stdin`` and ``stdout`` in that actor: what
  the REPL writes is buffered and goes up with its next request for a line
  (:class:`~agentree.msg.TermRead`), or as :class:`~agentree.msg.TermOut`;
- :class:`TermRelay`, in every actor between it and the root: forwards the
  requester's messages up and the root's answers down, checking each;
- :class:`TermServer`, in the root: writes the text to its stdout and answers each
  request with a line read from its stdin (:class:`LineReader`, a thread) or, after
  a Ctrl-C at the root, with :class:`~agentree.msg.TermInterrupt`, which the REPL
  takes as a local one takes a Ctrl-C.

The messages travel as msgpack bytes in the dialog's stream items, each decoded
against its direction's type: a malformed one raises ``MsgTypeError`` (or
``ProtocolError``) where it arrives.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO, TypeVar

import trio

from .._exceptions import AgentreeError, MsgTypeError
from .._streaming import MsgStream
from ..msg import decode_payload, encode
from ..msg._term import (
    MAX_TERM_TEXT,
    TermDown,
    TermInterrupt,
    TermLine,
    TermOut,
    TermRead,
    TermUp,
)
from ._repl import in_trio_thread

__all__ = [
    "NO_STEPPING",
    "LineReader",
    "ProxyTerminal",
    "TermRelay",
    "TermServer",
    "decode_term",
    "greenback_portal",
]

log = logging.getLogger("agentree.devx")

T = TypeVar("T")

# What a broken dialog raises on the requester's side: its REPL then reads end of
# file (and quits), as it would on a closed terminal.
_LOST = (trio.EndOfChannel, trio.BrokenResourceError, trio.ClosedResourceError)


def decode_term(item: Any, spec: Any, where: str) -> Any:
    """Decode one terminal message (msgpack bytes) against ``spec``.

    Raises:
        MsgTypeError: ``item`` is not bytes, or not a message of ``spec``.
        ProtocolError: ``item`` is not msgpack.
    """
    if not isinstance(item, bytes):
        raise MsgTypeError(
            f"proxied terminal {where}: expected a terminal message (bytes), "
            f"got {type(item).__name__}"
        )
    try:
        return decode_payload(item, spec)
    except AgentreeError as exc:
        raise type(exc)(f"proxied terminal {where}: {exc}") from exc


def _chunks(text: str) -> list[str]:
    return [text[i : i + MAX_TERM_TEXT] for i in range(0, len(text), MAX_TERM_TEXT)]


async def greenback_portal() -> bool:
    """Let this task's REPL await the dialog from its trio thread, if it can.

    Returns:
        Whether it can (``greenback`` is installed). Without it the REPL runs in a
        worker thread instead, and cannot step (see ``_api``).
    """
    try:
        import greenback
    except ImportError:
        return False
    await greenback.ensure_portal()
    return True


NO_STEPPING = (
    "*** stepping in this actor needs the `greenback` package (pip install "
    "'agentree[debug]'): it has no terminal of its own and its REPL runs in a worker "
    "thread; continuing\n"
)


class ProxyTerminal:
    """The ``stdin`` and ``stdout`` of a REPL that uses the root's terminal.

    Used from the REPL's thread: the actor's trio thread (through ``greenback``,
    see :func:`greenback_portal`) or a worker thread of it (``trio.from_thread``).

    Args:
        stream: the requester's side of the terminal lock's dialog, held.
        name: the actor's name, for errors.
    """

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, stream: MsgStream, name: str) -> None:
        self._stream = stream
        self._name = name
        self._out: list[str] = []
        self._size = 0
        self._lost = False

    # -- the REPL's stdout -------------------------------------------------------------

    def write(self, text: str) -> int:
        """Buffer ``text``; it goes up with the next request for a line (or a flush)."""
        self._out.append(text)
        self._size += len(text)
        if self._size > MAX_TERM_TEXT:
            self._call(self.drain)
        return len(text)

    def flush(self) -> None:
        """Nothing: the output goes up with the next line asked for, or at release."""

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def _take(self) -> str:
        text = "".join(self._out)
        self._out.clear()
        self._size = 0
        return text

    async def drain(self) -> None:
        """Send what is buffered, as ``TermOut`` messages (the release does this)."""
        text = self._take()
        if not text or self._lost:
            return
        with trio.CancelScope(shield=True):
            try:
                for chunk in _chunks(text):
                    await self._stream.send(encode(TermOut(text=chunk)))
            except (*_LOST, AgentreeError) as exc:
                self._lose(exc)

    # -- the REPL's stdin --------------------------------------------------------------

    def readline(self, size: int = -1) -> str:
        """Send the output so far, then wait for one line typed at the root.

        Returns ``""`` (end of file) when the root's stdin is at its end, or the
        dialog is lost.

        Raises:
            KeyboardInterrupt: Ctrl-C was pressed at the root.
            MsgTypeError: the answer is not a terminal message.
        """
        answer = self._call(self._ask)
        if isinstance(answer, TermInterrupt):
            raise KeyboardInterrupt
        line: str = answer.line
        return line

    async def _ask(self) -> TermLine | TermInterrupt:
        text = self._take()
        if self._lost:
            return TermLine(line="")
        with trio.CancelScope(shield=True):
            try:
                *before, last = _chunks(text) or [""]
                for chunk in before:
                    await self._stream.send(encode(TermOut(text=chunk)))
                await self._stream.send(encode(TermRead(text=last)))
                item = await self._stream.receive()
            except (*_LOST, AgentreeError) as exc:
                self._lose(exc)
                return TermLine(line="")
        answer: TermLine | TermInterrupt = decode_term(
            item, TermDown, f"of actor {self._name!r}: answer from the root"
        )
        return answer

    def _lose(self, exc: BaseException) -> None:
        if not self._lost:
            self._lost = True
            log.warning("actor %r lost the root's terminal: %r", self._name, exc)

    def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        if not in_trio_thread():
            return trio.from_thread.run(fn)
        import greenback  # there: greenback_portal() said so

        result: T = greenback.await_(fn())
        return result


class TermRelay:
    """A relay's part: the requester's messages go up, the root's answers down.

    Args:
        up: this actor's side of its own dialog with its parent.
        name: the requester's name, for errors.
    """

    def __init__(self, up: MsgStream, name: str) -> None:
        self._up = up
        self._name = name

    async def on_item(self, item: Any) -> None:
        """Forward one message of the requester's upward (checked first)."""
        decode_term(item, TermUp, f"of actor {self._name!r}")
        await self._up.send(item)

    async def run(self, down: MsgStream) -> None:
        """Forward the root's answers down, until the dialog ends."""
        try:
            async for item in self._up:
                decode_term(item, TermDown, f"of actor {self._name!r}: answer from above")
                await down.send(item)
        except (*_LOST, AgentreeError) as exc:
            log.warning("relay of %r's terminal ended: %r", self._name, exc)
        # No more answers can come: the REPL below reads end of file.
        await down.aclose()


class LineReader:
    """Lines of the root's stdin, read in a thread so that trio keeps running.

    A read goes on after the one who asked stops waiting (a Ctrl-C): the line it
    gets is kept for the next asker, not lost. ``stdin`` at its end gives ``""``.

    Args:
        stdin: what to read (default: ``sys.stdin`` when a read starts).
    """

    def __init__(self, stdin: TextIO | None = None) -> None:
        self._stdin = stdin
        self._line: str | None = None
        self._reading = False
        self._token = trio.lowlevel.current_trio_token()
        self._ready = trio.Event()

    def take(self) -> str | None:
        """A line read already, or ``None`` (a read is then under way)."""
        line, self._line = self._line, None
        if line is None and not self._reading:
            self._start()
        return line

    async def wait(self) -> None:
        """Wait until the read under way has a line."""
        await self._ready.wait()

    def _start(self) -> None:
        self._reading = True
        self._ready = trio.Event()
        stdin = self._stdin if self._stdin is not None else sys.stdin
        token = self._token

        def read() -> str:
            if stdin is None:
                return ""
            try:
                return stdin.readline(MAX_TERM_TEXT)
            except (OSError, ValueError):
                return ""

        def deliver(result: Any) -> None:
            try:
                line = result.unwrap()
            except BaseException:
                line = ""
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self._got, line)

        trio.lowlevel.start_thread_soon(read, deliver, name="agentree-term-stdin")

    def _got(self, line: str) -> None:
        self._line = line
        self._reading = False
        self._ready.set()


class TermServer:
    """The root's part: the REPL's text to stdout, lines from stdin, Ctrl-C.

    Args:
        reader: the root's stdin.
        name: the requester's name, for errors.
        stdout: where the text goes (default: ``sys.stdout``).
    """

    def __init__(self, reader: LineReader, name: str, stdout: TextIO | None = None) -> None:
        self._reader = reader
        self._name = name
        self._stdout = stdout
        self._asked = False
        self._interrupted = False
        self._wake = trio.Event()

    def interrupt(self) -> None:
        """Ctrl-C at the root: the REPL's read (now or next) is interrupted."""
        self._interrupted = True
        self._wake.set()

    def _write(self, text: str) -> None:
        out = self._stdout if self._stdout is not None else sys.stdout
        if text and out is not None:
            out.write(text)
            out.flush()

    async def on_item(self, item: Any) -> None:
        """Take one message of the requester's."""
        msg = decode_term(item, TermUp, f"of actor {self._name!r}")
        self._write(msg.text)
        if isinstance(msg, TermRead):
            if self._asked:
                raise MsgTypeError(
                    f"proxied terminal of actor {self._name!r}: asked for a line "
                    "before the previous one was answered"
                )
            self._asked = True
            self._wake.set()

    async def run(self, down: MsgStream) -> None:
        """Answer each request for a line, until the dialog ends."""
        try:
            while True:
                while not self._asked:
                    await self._next_wake()
                answer = await self._answer()
                self._asked = False
                await down.send(encode(answer))
        except (*_LOST, AgentreeError) as exc:
            log.info("terminal of %r: the dialog ended: %r", self._name, exc)

    async def _next_wake(self) -> None:
        await self._wake.wait()
        self._wake = trio.Event()

    async def _answer(self) -> TermLine | TermInterrupt:
        while True:
            if self._interrupted:
                self._interrupted = False
                return TermInterrupt()
            line = self._reader.take()
            if line is not None:
                return TermLine(line=line)
            async with trio.open_nursery() as nursery:

                async def line_came() -> None:
                    await self._reader.wait()
                    nursery.cancel_scope.cancel()

                async def interrupted() -> None:
                    await self._next_wake()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(line_came)
                nursery.start_soon(interrupted)
