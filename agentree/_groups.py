"""Exception groups from trio nurseries, shaped for users.

agentree's own nurseries (the root's service nursery, an actor nursery) are an
implementation detail: one failure comes out bare, several as a group.
"""

from __future__ import annotations

from collections.abc import Iterator

import trio

__all__ = ["collapse"]


def collapse(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """Drop cancellations riding along with real errors and flatten nested groups.

    One error comes out bare; several as one flat group. A group of nothing but
    ``trio.Cancelled`` is returned as is, so the cancel scope that owns the
    cancellation still catches it.
    """
    if type(group) not in (BaseExceptionGroup, ExceptionGroup):
        return group
    rest = group.split(trio.Cancelled)[1]
    if rest is None:
        return group
    # The same error can arrive twice (the block awaited a child's result and the
    # child's supervisor raised it too): it is still one failure.
    leaves = list({id(leaf): leaf for leaf in _leaves(rest)}.values())
    if len(leaves) == 1:
        return leaves[0]
    if all(isinstance(leaf, Exception) for leaf in leaves):
        return ExceptionGroup(rest.message, leaves)  # type: ignore[type-var]
    return BaseExceptionGroup(rest.message, leaves)


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        # Only trio's own groups are flattened: a subclass (SupervisorGaveUp) is one error.
        if isinstance(exc, BaseExceptionGroup) and type(exc) in (
            BaseExceptionGroup,
            ExceptionGroup,
        ):
            yield from _leaves(exc)
        else:
            yield exc
