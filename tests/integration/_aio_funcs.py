"""Functions that the infected-asyncio tests run in child actors.

Module-level, so children find them by ``module:qualname``; daemons enable
``MODULE``. Per-actor state lives in ``_STATE`` (each actor is its own process).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import trio

import agentree
from agentree import to_asyncio

MODULE = __name__

_STATE: dict[str, Any] = {"log": []}


def _event(key: str) -> trio.Event:
    event = _STATE.get(key)
    if event is None:
        event = _STATE[key] = trio.Event()
    return event


def _bridged_tasks() -> list[str]:
    """Names of the asyncio tasks the bridge started that are still pending."""
    return sorted(
        task.get_name()
        for task in asyncio.all_tasks()
        if task.get_name().startswith("agentree.to_asyncio") and not task.done()
    )


# -- who am I -----------------------------------------------------------------------------


async def whoami() -> dict[str, Any]:
    actor = agentree.current_actor()
    try:
        loop: str | None = type(asyncio.get_running_loop()).__name__
    except RuntimeError:
        loop = None
    return {"name": actor.name, "infected": actor.is_infected_aio(), "loop": loop}


# -- run_task -------------------------------------------------------------------------------


async def aio_add(x: int, y: int) -> int:
    await asyncio.sleep(0)
    return x + y


async def add_in_asyncio(x: int, y: int) -> int:
    result: int = await to_asyncio.run_task(aio_add, x=x, y=y)
    return result


async def aio_raise(message: str) -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


async def raise_in_asyncio(message: str) -> None:
    await to_asyncio.run_task(aio_raise, message=message)


async def aio_cancel_self() -> None:
    me = asyncio.current_task()
    assert me is not None
    asyncio.get_running_loop().call_soon(me.cancel)
    await asyncio.sleep(math.inf)


async def cancelled_in_asyncio() -> None:
    await to_asyncio.run_task(aio_cancel_self)


async def aio_sleep_forever() -> None:
    _event("aio started").set()
    try:
        await asyncio.sleep(math.inf)
    except asyncio.CancelledError:
        _STATE["log"].append("asyncio task cancelled")
        raise
    finally:
        await asyncio.sleep(0)
        _STATE["log"].append("asyncio cleanup done")
        _event("aio cleaned up").set()


async def sleep_in_asyncio() -> None:
    await to_asyncio.run_task(aio_sleep_forever)


async def wait_aio_started() -> None:
    await _event("aio started").wait()


async def wait_aio_cleanup() -> dict[str, Any]:
    """Wait until the asyncio task finished its cleanup; report what is left."""
    await _event("aio cleaned up").wait()
    return {"log": _STATE["log"], "pending": _bridged_tasks()}


async def run_task_anyway() -> None:
    await to_asyncio.run_task(aio_add, x=1, y=2)


# -- open_channel_from --------------------------------------------------------------------


async def aio_echo_server(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
    to_trio.send_nowait("start")
    while True:
        to_trio.send_nowait(await from_trio.get())
        await asyncio.sleep(0)


@agentree.context
async def trio_to_aio_echo_server(ctx: agentree.Context) -> None:
    async with to_asyncio.open_channel_from(aio_echo_server) as (first, chan):
        assert first == "start"
        await ctx.started(first)
        async with ctx.open_stream() as stream:
            async for msg in stream:
                await chan.send(msg)
                await stream.send(await chan.receive())


async def aio_fail_after(
    to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio, count: int
) -> None:
    to_trio.send_nowait("start")
    for _ in range(count):
        to_trio.send_nowait(await from_trio.get())
    await from_trio.get()
    raise ValueError(f"asyncio gave up after {count}")


@agentree.context
async def failing_aio_stream(ctx: agentree.Context, count: int) -> None:
    async with to_asyncio.open_channel_from(aio_fail_after, count=count) as (first, chan):
        await ctx.started(first)
        async with ctx.open_stream() as stream:
            async for msg in stream:
                await chan.send(msg)
                await stream.send(await chan.receive())


async def aio_serve_forever(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
    to_trio.send_nowait("up")
    await aio_sleep_forever()


@agentree.context
async def hold_aio_channel(ctx: agentree.Context) -> None:
    async with to_asyncio.open_channel_from(aio_serve_forever) as (first, _chan):
        await ctx.started(first)
        await trio.sleep_forever()


async def aio_no_first(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> str:
    await asyncio.sleep(0)
    return "nothing"


async def channel_without_first() -> None:
    async with to_asyncio.open_channel_from(aio_no_first):
        pass
