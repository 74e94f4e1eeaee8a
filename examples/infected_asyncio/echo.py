"""Echo through an asyncio task in an infected actor (tractor's README example).

``infect_asyncio=True`` starts an actor whose main loop is asyncio, with trio as a
guest on it. Inside, ``to_asyncio.open_channel_from`` starts an asyncio task and
gives the trio task a two-way channel to it. The root streams numbers to the actor
through a context; the actor's trio task hands each to the asyncio task, which
echoes it back, and the trio task streams the echo back to the root.

Run it from the repository root::

    python examples/infected_asyncio/echo.py
"""

import asyncio
import time
from statistics import mean

import trio

import agentree
from agentree import to_asyncio

ROUND_TRIPS = 1000


async def aio_echo_server(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
    """The asyncio side: echo whatever trio sends until trio closes its channel."""
    # The first value must come from this asyncio task: the trio side's
    # ``open_channel_from`` waits for it before its block starts.
    to_trio.send_nowait("start")
    async for msg in from_trio:
        to_trio.send_nowait(msg)
        await asyncio.sleep(0)


@agentree.context
async def trio_to_aio_echo_server(ctx: agentree.Context) -> None:
    """The infected actor's trio side: relay the root's stream to asyncio and back."""
    async with to_asyncio.open_channel_from(aio_echo_server) as (first, chan):
        assert first == "start"
        await ctx.started(first)
        async with ctx.open_stream() as stream:
            async for msg in stream:
                await chan.send(msg)
                await stream.send(await chan.receive())


async def main() -> None:
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("aio_server", enable_modules=[__name__], infect_asyncio=True)
        async with portal.open_context(trio_to_aio_echo_server) as (ctx, first):
            assert first == "start"
            delays = []
            async with ctx.open_stream() as stream:
                for count in range(ROUND_TRIPS):
                    sent = time.perf_counter()
                    await stream.send(count)
                    assert await stream.receive() == count
                    delays.append(time.perf_counter() - sent)
        print(f"{len(delays)} round trips root -> infected actor -> asyncio task -> root")
        print(f"mean round trip rate (Hz): {1 / mean(delays):.0f}")
        print(f"cancel_actor() -> {await portal.cancel_actor()}")


if __name__ == "__main__":
    trio.run(main)
