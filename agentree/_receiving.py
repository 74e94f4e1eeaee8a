"""``async for`` over anything with a trio-style ``receive()``.

Stream-like objects of the runtime (a broadcast subscriber, the channels between
trio and asyncio) give their items with ``receive()``, which raises
:class:`trio.EndOfChannel` at the end; iterating them ends there.
"""

from __future__ import annotations

from typing import Any, Self

import trio

__all__ = ["ReceiveIterator"]


class ReceiveIterator:
    """``async for item in obj`` takes ``await obj.receive()`` until the end of the channel."""

    __slots__ = ()

    async def receive(self) -> Any:
        """The next item; :class:`trio.EndOfChannel` after the last one."""
        raise NotImplementedError

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
