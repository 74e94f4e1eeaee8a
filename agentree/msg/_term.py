"""Payloads of a proxied terminal: a REPL's text up to the root, lines back down.

An actor with no access to the tree's terminal (a Ray-hosted actor, and every
actor below it) runs its REPL on the terminal-lock dialog's stream (see
``agentree.devx._proxy``). While it holds the lock, the requester sends
:class:`TermOut` and :class:`TermRead`; the root answers each ``TermRead`` with
exactly one :class:`TermLine` or :class:`TermInterrupt`. Every text is bounded
(``MAX_TERM_TEXT`` characters): longer output travels in several messages.

They travel as msgpack bytes in the dialog's stream items and are decoded against
:data:`TermUp` or :data:`TermDown`, so a malformed one is a ``MsgTypeError``. They
are payloads, not frames: not part of the ``Msg`` union, nor of ``agentree.msg``'s
exports.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Struct

__all__ = [
    "MAX_TERM_TEXT",
    "TermDown",
    "TermInterrupt",
    "TermLine",
    "TermOut",
    "TermRead",
    "TermUp",
]

MAX_TERM_TEXT = 64 * 1024
"""The most characters one terminal message carries."""

_Text = Annotated[str, msgspec.Meta(max_length=MAX_TERM_TEXT)]


class _TermBase(Struct, array_like=True, tag_field="t"):
    pass


class TermOut(_TermBase, tag="tout"):
    """Text the REPL wrote, for the root's stdout."""

    text: _Text


class TermRead(_TermBase, tag="tread"):
    """Write ``text`` (the output so far and the prompt), then send one line of input."""

    text: _Text = ""


class TermLine(_TermBase, tag="tline"):
    """One line the root read from its stdin (with its newline); ``""`` is end of file."""

    line: _Text


class TermInterrupt(_TermBase, tag="tintr"):
    """Ctrl-C at the root while the REPL waited for a line (or before it asked)."""


TermUp = TermOut | TermRead
"""What a proxied REPL sends toward the root."""

TermDown = TermLine | TermInterrupt
"""What the root answers a :class:`TermRead` with."""
