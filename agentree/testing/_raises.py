"""``raises_one``: expect one error out of a block, bare or in an exception group.

An actor nursery, the root and a supervisor raise a failure either bare or inside a
``BaseExceptionGroup`` (issue 16 makes them always group it, as trio's strict
nurseries do). A test that checks *which* error came out should not depend on that
wrapping: :func:`raises_one` accepts both and hands back the one error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import trio

__all__ = ["ErrorInfo", "leaves", "raises_one"]

E = TypeVar("E", bound=BaseException)


class ErrorInfo(Generic[E]):
    """What :func:`raises_one` caught: ``.value`` is the one matching error."""

    value: E
    raised: BaseException


def leaves(exc: BaseException) -> list[BaseException]:
    """Return the errors inside ``exc``, groups flattened, ``trio.Cancelled`` left out."""
    if isinstance(exc, BaseExceptionGroup):
        found: list[BaseException] = []
        for inner in exc.exceptions:
            found.extend(leaves(inner))
        return found
    if isinstance(exc, trio.Cancelled):
        return []
    return [exc]


@contextmanager
def raises_one(kind: type[E], *, match: str | None = None) -> Iterator[ErrorInfo[E]]:
    """Expect the block to raise exactly one ``kind`` error, bare or in a group.

    Args:
        kind: The error type expected (subclasses match).
        match: a regular expression that ``str()`` of the error must contain
            (``re.search``), as with ``pytest.raises(match=...)``.

    Yields:
        An :class:`ErrorInfo` whose ``.value`` is set once the block has raised.

    Raises:
        AssertionError: the block raised nothing, or not exactly one error, or one of
            another type (the raised error is chained as the cause).
    """
    info: ErrorInfo[E] = ErrorInfo()
    try:
        yield info
    except BaseException as raised:
        found = leaves(raised)
        if len(found) != 1 or not isinstance(found[0], kind):
            raise AssertionError(
                f"expected one {kind.__name__}, got {found!r} in {raised!r}"
            ) from raised
        if match is not None and not re.search(match, str(found[0])):
            raise AssertionError(
                f"expected one {kind.__name__} matching {match!r}, got {found[0]!r}"
            ) from raised
        info.value = found[0]
        info.raised = raised
        return
    raise AssertionError(f"expected one {kind.__name__}, nothing was raised")
