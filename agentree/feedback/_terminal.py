"""``terminal_feedback()``: a person answers at the root's terminal.

The prompt is written under the debugger's terminal lock, so a feedback prompt
and a pdb REPL never share the terminal at once. Input is read from the
terminal's file descriptor through trio (no thread that could eat a later line),
so a withdrawn question's prompt is simply replaced by a notice.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import msgspec
import trio

from .._exceptions import FeedbackError
from .._runtime import current_actor
from ..devx._lock import acquire_terminal
from ._level import FeedbackRequest

__all__ = ["TerminalFeedback", "parse_answer", "terminal_feedback"]

_YES = {"y", "yes", "true", "1"}
_NO = {"n", "no", "false", "0"}


def parse_answer(text: str, kind: str) -> Any:
    """Parse a typed line as an answer of ``kind`` (see ``FeedbackRequest.answer_kind``).

    Raises:
        ValueError: the line does not parse as ``kind``.
    """
    text = text.strip()
    if kind == "bool":
        if text.lower() in _YES:
            return True
        if text.lower() in _NO:
            return False
        raise ValueError("answer y or n")
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "str":
        return text
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None


def _hint(req: FeedbackRequest) -> str:
    return {"bool": "y/n", "int": "int", "float": "float", "str": "text"}.get(
        req.answer_kind, f"{req.answer_type} as JSON"
    )


class TerminalFeedback:
    """A feedback handler that asks a person at the terminal (see :func:`terminal_feedback`)."""

    def __init__(self, *, fd: int | None = None) -> None:
        self._fd = fd
        self._buffer = b""

    def _write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    async def _readline(self) -> str | None:
        fd = sys.stdin.fileno() if self._fd is None else self._fd
        while b"\n" not in self._buffer:
            await trio.lowlevel.wait_readable(fd)
            chunk = os.read(fd, 4096)
            if not chunk:
                if not self._buffer:
                    return None
                break
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace")

    async def __call__(self, req: FeedbackRequest) -> Any:
        """Prompt for ``req`` under the terminal lock until the answer is accepted."""
        hold = await acquire_terminal(current_actor())
        try:
            if req.done:
                return None
            self._write(f"\n[feedback] {req.asker} asks: {_show(req.question)}\n")
            while True:
                self._write(f"[feedback] answer ({_hint(req)}) > ")
                line = await self._readline()
                if line is None:
                    raise FeedbackError("the terminal closed before an answer")
                try:
                    value = parse_answer(line, req.answer_kind)
                except ValueError as exc:
                    self._write(f"[feedback] could not read that: {exc}\n")
                    continue
                try:
                    await req.answer(value)
                except FeedbackError as exc:
                    if _over(req):
                        return None
                    self._write(f"[feedback] {exc}\n")
                    continue
                return None
        except trio.Cancelled:
            if req.withdrawn:
                self._write(f"\n[feedback] {req.asker} withdrew the question\n")
            raise
        finally:
            with trio.CancelScope(shield=True):
                await hold.release_and_wait()


def _over(req: FeedbackRequest) -> bool:
    return req.done


def _show(question: Any) -> str:
    if isinstance(question, str):
        return question
    return msgspec.json.encode(question).decode()


def terminal_feedback() -> TerminalFeedback:
    """A handler that prompts on the root's terminal, under the debugger's lock.

    The prompt names the asker and shows the question; the typed line is parsed
    as the asker's ``answer`` type (bool: y/n; int; float; str; anything else as
    JSON) and asked again when it does not parse or the asker refuses it. A
    question withdrawn while prompted is replaced by a notice. It reads this
    process's standard input: give it to the root (``open_root_actor(feedback=...)``)
    or to a supervisor that runs in the root's process.
    """
    return TerminalFeedback()
