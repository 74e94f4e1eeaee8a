"""A long-lived daemon actor that serves remote procedure calls.

``start_actor`` starts an actor that does nothing on its own: it waits for calls.
``enable_modules=[__name__]`` lets callers run the functions of this very script
in it, and ``portal.run(fn, **kwargs)`` calls one and returns its result. The
daemon keeps its state between calls (a small key-value store here), serves
several calls at once, and ships an exception back as a ``RemoteActorError``
without dying. When we are done, ``portal.cancel_actor()`` stops it cleanly.

Run it from the repository root::

    python examples/rpc_daemon.py
"""

import os

import trio

import agentree

# The daemon's state. The root loads this script too, but only the daemon's copy
# is ever used: each process has its own.
_store: dict[str, int] = {}


def whoami() -> str:
    """Describe the actor this runs in (a plain function works as well as async)."""
    return f"{agentree.current_actor().name} (pid {os.getpid()})"


async def put(key: str, value: int) -> int:
    """Store ``value`` under ``key`` and return how many keys are stored."""
    _store[key] = value
    return len(_store)


async def get(key: str) -> int:
    """Return the value stored under ``key``.

    Raises:
        KeyError: nothing is stored under ``key``.
    """
    return _store[key]


async def slow_square(x: int) -> int:
    """Square ``x`` after a short nap, so that several calls overlap."""
    await trio.sleep(0.2)
    return x * x


async def main() -> None:
    """Start the daemon, call into it, catch a remote error, and cancel it."""
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("kvstore", enable_modules=[__name__])
        print(f"daemon up: {await portal.run(whoami)}")

        for key, value in [("apples", 3), ("pears", 5)]:
            count = await portal.run(put, key=key, value=value)
            print(f"put {key}={value} -> {count} key(s) stored")
        print(f"get apples -> {await portal.run(get, key='apples')}")

        # Calls are dialogs on one channel: these five overlap in the daemon, so
        # they take about as long as one of them.
        squares: dict[int, int] = {}

        async def square(x: int) -> None:
            squares[x] = await portal.run(slow_square, x=x)

        start = trio.current_time()
        async with trio.open_nursery() as tn:
            for x in range(1, 6):
                tn.start_soon(square, x)
        took = trio.current_time() - start
        print(f"5 concurrent calls: {[squares[x] for x in sorted(squares)]} in {took:.2f}s")

        try:
            await portal.run(get, key="bananas")
        except agentree.RemoteActorError as err:
            print(
                f"remote error caught: {err.boxed_type_str}({err.message}) "
                f"from actor {err.src_uid[0]!r}"
            )

        # The daemon survives its callers' errors; its state is still there.
        print(f"get pears -> {await portal.run(get, key='pears')}")

        cancelled = await portal.cancel_actor()
        print(f"cancel_actor() -> {cancelled}")
    print("daemon stopped, nursery closed")


if __name__ == "__main__":
    trio.run(main)
