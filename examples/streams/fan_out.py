"""A streaming service with fan-out to several consumer actors.

A ``ticker`` actor streams price ticks to the root. The root subscribes one local
task per consumer actor to that stream (``stream.subscribe()``: every subscriber
gets every tick, decoded once) and each task forwards the ticks to its consumer
over a context of its own. Each consumer computes something different and returns
it when the stream ends.

Run it from the repository root::

    python examples/streams/fan_out.py
"""

import trio

import agentree

TICKS = 200


@agentree.context
async def ticker(ctx: agentree.Context, count: int) -> None:
    """Stream ``count`` ticks ``{"seq": n, "price": p}``, then close the stream."""
    await ctx.started("ticking")
    price = 100.0
    async with ctx.open_stream() as stream:
        for seq in range(count):
            price += 1.0 if seq % 3 else -0.5
            await stream.send({"seq": seq, "price": price})


@agentree.context
async def consumer(ctx: agentree.Context, kind: str) -> str:
    """Consume ticks until the stream ends; return a summary of kind ``kind``."""
    await ctx.started(None)
    prices: list[float] = []
    async with ctx.open_stream() as stream:
        async for tick in stream:
            prices.append(tick["price"])
    name = agentree.current_actor().name
    if kind == "max":
        return f"{name}: {len(prices)} ticks, max {max(prices):.1f}"
    if kind == "mean":
        return f"{name}: {len(prices)} ticks, mean {sum(prices) / len(prices):.2f}"
    return f"{name}: {len(prices)} ticks, last {prices[-1]:.1f}"


async def forward(
    source: agentree.MsgStream,
    portal: agentree.Portal,
    kind: str,
    ready: trio.Event,
    go: trio.Event,
    results: list[str],
) -> None:
    """Forward every tick of ``source`` to the consumer behind ``portal``.

    A subscriber gets the ticks from its subscription on: every forwarder
    subscribes (and reports ``ready``) before any of them starts reading (``go``).
    """
    async with (
        source.subscribe() as ticks,
        portal.open_context(consumer, kind=kind) as (ctx, _),
        ctx.open_stream() as stream,
    ):
        ready.set()
        await go.wait()
        async for tick in ticks:
            await stream.send(tick)
    results.append(await ctx.wait_for_result())


async def main() -> None:
    """Start the service and three consumers, fan the ticks out, print the summaries."""
    results: list[str] = []
    async with agentree.open_nursery() as an:
        service = await an.start_actor("ticker", enable_modules=[__name__])
        kinds = ["max", "mean", "last"]
        consumers = [
            await an.start_actor(f"consumer-{kind}", enable_modules=[__name__]) for kind in kinds
        ]
        async with (
            service.open_context(ticker, count=TICKS) as (ctx, first),
            ctx.open_stream() as source,
            trio.open_nursery() as tn,
        ):
            print(f"service: {first}")
            go = trio.Event()
            for portal, kind in zip(consumers, kinds, strict=True):
                ready = trio.Event()
                tn.start_soon(forward, source, portal, kind, ready, go, results)
                await ready.wait()
            go.set()
        for line in sorted(results):
            print(line)
        await an.cancel()
    print("service and consumers stopped")


if __name__ == "__main__":
    trio.run(main)
