"""Exception groups from agentree's nurseries, shaped the way trio's strict nurseries raise.

An actor nursery, the root and a supervisor raise a failure inside a
``BaseExceptionGroup`` even when there is only one (trio's ``strict_exception_groups``),
so the type to catch does not depend on how many children failed at once: catch with
``except*``. The group is flat: agentree's own nurseries nest inside each other, and
their groups are merged into one; ``trio.Cancelled`` riding along with a real error is
dropped. A lone ``KeyboardInterrupt``/``SystemExit`` (a stop, not a failure) and a lone
error that is itself a group of agentree's (``SupervisorGaveUp``) are raised bare.

:func:`collapse` is the internal, lenient form: one error bare, several as a group.
"""

from __future__ import annotations

from collections.abc import Iterator

import trio

__all__ = ["collapse", "is_plain_group", "leaves_of", "strict"]

# Stops rather than failures: raised bare when alone, as trio.run and Python expect.
_STOPS = (KeyboardInterrupt, SystemExit, GeneratorExit)


def is_plain_group(exc: BaseException) -> bool:
    """Whether ``exc`` is a bare (Base)ExceptionGroup, not a subclass with a meaning."""
    return type(exc) in (BaseExceptionGroup, ExceptionGroup)


def leaves_of(exc: BaseException) -> list[BaseException]:
    """The errors inside ``exc``: plain groups flattened, ``Cancelled`` left out, no repeats."""
    if not is_plain_group(exc):
        return [] if isinstance(exc, trio.Cancelled) else [exc]
    assert isinstance(exc, BaseExceptionGroup)
    # The same error can arrive twice (the block awaited a child's result and the
    # child's supervisor raised it too): it is still one failure.
    return list({id(leaf): leaf for leaf in _leaves(exc)}.values())


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        # Only plain groups are flattened: a subclass (SupervisorGaveUp) is one error.
        if isinstance(exc, BaseExceptionGroup) and is_plain_group(exc):
            yield from _leaves(exc)
        elif not isinstance(exc, trio.Cancelled):
            yield exc


def _group(message: str, leaves: list[BaseException]) -> BaseExceptionGroup[BaseException]:
    if all(isinstance(leaf, Exception) for leaf in leaves):
        return ExceptionGroup(message, leaves)  # type: ignore[type-var]
    return BaseExceptionGroup(message, leaves)


def collapse(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """Drop cancellations riding along with real errors and flatten nested groups.

    One error comes out bare; several as one flat group. A group of nothing but
    ``trio.Cancelled`` is returned as is, so the cancel scope that owns the
    cancellation still catches it.
    """
    if not is_plain_group(group):
        return group
    leaves = leaves_of(group)
    if not leaves:
        return group
    if len(leaves) == 1:
        return leaves[0]
    return _group(group.message, leaves)


def strict(exc: BaseException, message: str) -> BaseException:
    """What a nursery, the root or a supervisor raises for ``exc``: a flat group.

    Args:
        exc: what came out of the block (bare, or a group of any nesting).
        message: the group's message when a new group is made.

    Returns:
        ``exc`` itself when it is only cancellation (the owning cancel scope must
        catch it), a lone stop (``KeyboardInterrupt``, ``SystemExit``) or a lone
        group subclass (``SupervisorGaveUp``), or already a flat group; else a new
        flat group of its errors.
    """
    leaves = leaves_of(exc)
    if not leaves:
        return exc
    if len(leaves) == 1 and isinstance(leaves[0], (*_STOPS, BaseExceptionGroup)):
        return leaves[0]
    if (
        isinstance(exc, BaseExceptionGroup)
        and is_plain_group(exc)
        and len(exc.exceptions) == len(leaves)
        and all(a is b for a, b in zip(exc.exceptions, leaves, strict=True))
    ):
        return exc
    return _group(message, leaves)
