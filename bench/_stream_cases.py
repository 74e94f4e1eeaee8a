"""agentree side of the stream workloads (see ``_raw_stream.py`` for the rows).

The functions the child actors run live here too: children import this module by
name (the bench dir is on their ``PYTHONPATH``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from _common import CaseResult, Config
from _raw_stream import SIZES, count, mb_note

import agentree


@agentree.context
async def echo_stream(ctx: agentree.Context) -> None:
    """Echo every item of the context's stream."""
    await ctx.started(None)
    async with ctx.open_stream() as stream:
        async for item in stream:
            await stream.send(item)


async def blobs(n: int, size: int) -> AsyncIterator[bytes]:
    """Yield the same ``size``-byte object ``n`` times."""
    payload = b"x" * size
    for _ in range(n):
        yield payload


async def _pingpong(cfg: Config) -> CaseResult:
    n = count("ctxpingpong", cfg)
    rates: list[float] = []
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("pingpong", enable_modules=[__name__])
        async with (
            portal.open_context(echo_stream) as (ctx, _),
            ctx.open_stream() as stream,
        ):
            for rep in range(cfg.repeat + 1):
                t0 = time.perf_counter()
                for i in range(n):
                    await stream.send(i)
                    if await stream.receive() != i:
                        raise RuntimeError("agentree: bad ping-pong reply")
                elapsed = time.perf_counter() - t0
                if rep:
                    rates.append(n / elapsed)
        await portal.cancel_actor()
    return rates, None


def _one_way(key: str):  # type: ignore[no-untyped-def]
    async def case(cfg: Config) -> CaseResult:
        n, size = count(key, cfg), SIZES[key]
        rates: list[float] = []
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("source", enable_modules=[__name__])
            for rep in range(cfg.repeat + 1):
                t0 = time.perf_counter()
                got = 0
                async with portal.open_stream_from(blobs, n=n, size=size) as stream:
                    async for item in stream:
                        if len(item) != size:
                            raise RuntimeError("agentree: bad stream item")
                        got += 1
                elapsed = time.perf_counter() - t0
                if got != n:
                    raise RuntimeError(f"agentree: {got} of {n} stream items arrived")
                if rep:
                    rates.append(n / elapsed)
            await portal.cancel_actor()
        return rates, mb_note(rates, size)

    return case


STREAM_CASES = {"ctxpingpong": _pingpong, **{key: _one_way(key) for key in SIZES}}
