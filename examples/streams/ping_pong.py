"""Ping-pong over a context: ten round trips on a two-way stream, then a clean close.

``portal.open_context(fn)`` starts ``fn(ctx)`` in the child and waits for its
``ctx.started(value)``. Both sides then open the context's stream and talk both
ways. When the parent leaves its stream block, the child's ``async for`` ends, its
function returns, and ``ctx.wait_for_result()`` gives the return value.

Run it from the repository root::

    python examples/streams/ping_pong.py
"""

import trio

import agentree


@agentree.context
async def ponger(ctx: agentree.Context, greeting: str) -> int:
    """Answer every ``ping N`` with ``pong N``; return how many pings came."""
    await ctx.started(f"{greeting} from {agentree.current_actor().name}")
    count = 0
    async with ctx.open_stream() as stream:
        async for msg in stream:
            await stream.send(msg.replace("ping", "pong"))
            count += 1
    return count


async def main() -> None:
    """Open the context, play ten rounds, and read the child's result."""
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("ponger", enable_modules=[__name__])
        async with portal.open_context(ponger, greeting="ready") as (ctx, first):
            print(f"started: {first}")
            async with ctx.open_stream() as stream:
                for i in range(10):
                    await stream.send(f"ping {i}")
                    print(f"ping {i} -> {await stream.receive()}")
            print(f"child counted {await ctx.wait_for_result()} pings")
        await portal.cancel_actor()
    print("context closed cleanly")


if __name__ == "__main__":
    trio.run(main)
