"""One-way streaming from a remote async generator: ``portal.open_stream_from``.

The child runs the async generator and streams what it yields; the parent iterates.
Credit-based flow control keeps the generator at most ``msg_buffer_size`` items
ahead of the reader. Leaving the block early cancels the generator.

Run it from the repository root::

    python examples/streams/one_way.py
"""

import trio

import agentree


async def fibonacci(limit: int):  # type: ignore[no-untyped-def]
    """Yield the Fibonacci numbers below ``limit``."""
    a, b = 0, 1
    while a < limit:
        yield a
        a, b = b, a + b


async def naturals():  # type: ignore[no-untyped-def]
    """Yield 0, 1, 2, ... forever."""
    n = 0
    while True:
        yield n
        n += 1


async def main() -> None:
    """Stream a finite generator to its end, then stop an endless one early."""
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("generator", enable_modules=[__name__])
        async with portal.open_stream_from(fibonacci, limit=100) as stream:
            print(f"fibonacci below 100: {[n async for n in stream]}")
        total = 0
        async with portal.open_stream_from(naturals) as stream:
            async for n in stream:
                total += n
                if n == 1000:
                    break
        print(f"sum of 0..1000 from an endless generator: {total}")
        await portal.cancel_actor()
    print("generators stopped, nursery closed")


if __name__ == "__main__":
    trio.run(main)
