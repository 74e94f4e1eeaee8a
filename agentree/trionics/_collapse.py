"""``collapse_eg``: re-raise a lone error out of an exception group bare."""

from __future__ import annotations

from types import TracebackType
from typing import Literal

from .._groups import leaves_of

__all__ = ["collapse_eg"]


class collapse_eg:
    """Around a block, turn a group holding one error into that error, bare.

    agentree's nurseries, the root and supervisors raise a failure inside a
    ``BaseExceptionGroup`` even when it is alone (as trio's strict nurseries do).
    Code that wants the old shape wraps the block::

        async with agentree.trionics.collapse_eg():
            async with agentree.open_nursery() as an:
                ...

    Nested plain groups are flattened first and ``trio.Cancelled`` riding along is
    dropped; a group of several errors (or of nothing but cancellations) comes out
    unchanged. Both ``with`` and ``async with`` work.

    Args:
        hide_tb: accepted for tractor compatibility; tracebacks are never trimmed.
    """

    def __init__(self, *, hide_tb: bool = True) -> None:
        self.hide_tb = hide_tb

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if not isinstance(exc, BaseExceptionGroup):
            return False
        leaves = leaves_of(exc)
        if len(leaves) != 1:
            return False
        raise leaves[0] from None

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        return self.__exit__(kind, exc, tb)
