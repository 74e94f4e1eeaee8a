"""``feedback_queue()``: requests handed to the program as an async iterator."""

from __future__ import annotations

from typing import Any

import trio

from ._level import FeedbackRequest

__all__ = ["FeedbackQueue", "feedback_queue"]


class FeedbackQueue:
    """A feedback handler that hands each request to whoever iterates over it.

    Use it as a handler (``feedback=[queue]``) and, in a task of the program,
    ``async for req in queue: await req.answer(...)``. The handler waits until
    the request is over (answered or withdrawn); it never answers by itself.
    """

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[FeedbackRequest](1000)

    async def __call__(self, req: FeedbackRequest) -> Any:
        """Queue ``req`` and wait until it is answered or withdrawn."""
        await self._send.send(req)
        await req.wait_closed()
        return None

    def __aiter__(self) -> FeedbackQueue:
        return self

    async def __anext__(self) -> FeedbackRequest:
        """The next open request (withdrawn ones that were never seen are skipped)."""
        while True:
            req = await self._receive.receive()
            if not req.done:
                return req


def feedback_queue() -> FeedbackQueue:
    """A handler that queues requests for the program: an async iterator of them."""
    return FeedbackQueue()
