"""A context function for the concurrent-senders stream test."""

from __future__ import annotations

import agentree


@agentree.context
async def collect(ctx: agentree.Context, n: int, window: int) -> list[int]:
    """Open a stream with a small receive window; return the first ``n`` items."""
    await ctx.started(None)
    got: list[int] = []
    async with ctx.open_stream(msg_buffer_size=window) as stream:
        async for item in stream:
            got.append(item)
            if len(got) == n:
                break
    return got


@agentree.context
async def send_range(ctx: agentree.Context, n: int) -> None:
    """Send ``0 .. n-1`` on a stream, then end it."""
    await ctx.started(None)
    async with ctx.open_stream() as stream:
        for i in range(n):
            await stream.send(i)
