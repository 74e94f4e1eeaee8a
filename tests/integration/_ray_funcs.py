"""Functions the Ray tests call in Ray-hosted actors."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import trio

import agentree

_cancelled: list[str] = []


def whoami() -> str:
    return agentree.current_actor().name


def pid() -> int:
    return os.getpid()


def fail(msg: str) -> None:
    raise ValueError(msg)


async def numbers(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def blobs(n: int, size: int) -> AsyncIterator[bytes]:
    blob = b"x" * size
    for _ in range(n):
        yield blob


@agentree.context
async def wait_to_be_cancelled(ctx: agentree.Context) -> None:
    await ctx.started("waiting")
    try:
        await trio.sleep_forever()
    except trio.Cancelled:
        _cancelled.append("ctx")
        raise


@agentree.context
async def echo(ctx: agentree.Context) -> int:
    await ctx.started(agentree.current_actor().name)
    seen = 0
    async with ctx.open_stream() as stream:
        async for item in stream:
            seen += 1
            await stream.send(item)
    return seen


def cancellations() -> list[str]:
    return list(_cancelled)


async def spawn_grandchild() -> tuple[str, int]:
    async with agentree.open_nursery() as an:
        portal = await an.run_in_actor(whoami, name="grandchild")
        return await portal.wait_for_result(), os.getpid()


async def aio_answer() -> int:
    import asyncio

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert agentree.current_actor().is_infected_aio()
    return await agentree.to_asyncio.run_task(answer)


async def call_by_name(name: str) -> str:
    """Find the actor ``name`` through discovery and ask it who it is."""
    async with agentree.find_actor(name) as portal:
        assert portal is not None
        return await portal.run(whoami)


async def pause_here() -> None:
    await agentree.pause()
