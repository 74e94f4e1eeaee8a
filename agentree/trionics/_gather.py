"""``gather_contexts``: enter several async context managers at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio

from .._groups import strict

__all__ = ["gather_contexts"]


@asynccontextmanager
async def gather_contexts(
    mngrs: Iterable[AbstractAsyncContextManager[Any]],
) -> AsyncIterator[tuple[Any, ...]]:
    """Enter every manager in ``mngrs`` concurrently; yield their values in order.

    Each manager is entered in its own task, so slow set-ups (opening contexts in
    several actors, say) overlap. When the block ends, all of them are exited
    concurrently. If one fails to enter, the others are exited and the error comes
    out in a flat exception group, as from a trio nursery; so does an error of the
    block.

    Args:
        mngrs: async context managers (``portal.open_context(...)``, ...).

    Yields:
        The values the managers gave, in the order of ``mngrs``.
    """
    managers = list(mngrs)
    values: list[Any] = [None] * len(managers)
    entered = 0
    all_entered = trio.Event()
    leave = trio.Event()

    async def hold(index: int, manager: AbstractAsyncContextManager[Any]) -> None:
        nonlocal entered
        async with manager as value:
            values[index] = value
            entered += 1
            if entered == len(managers):
                all_entered.set()
            await leave.wait()

    if not managers:
        all_entered.set()
    try:
        async with trio.open_nursery() as tn:
            for index, manager in enumerate(managers):
                tn.start_soon(hold, index, manager)
            await all_entered.wait()
            try:
                yield tuple(values)
            finally:
                leave.set()
    except BaseException as exc:
        shaped = strict(exc, "errors in gather_contexts()")
        if shaped is exc:
            raise
        raise shaped from None
