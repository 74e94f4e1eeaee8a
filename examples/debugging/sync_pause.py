"""Pause synchronous code: in a sub-actor's worker thread, and with ``breakpoint()``.

``agentree.pause_from_sync()`` stops a ``trio.to_thread`` worker in a REPL while the
actor's trio loop keeps running. In debug mode the builtin ``breakpoint()`` does the
same (here in the root's own trio thread)::

    python examples/debugging/sync_pause.py
"""

import threading

import trio

import agentree


def crunch(n: int) -> int:
    total = sum(range(n))
    thread = threading.current_thread().name
    agentree.pause_from_sync()
    print(f"cruncher ran in thread {thread!r}")
    return total


async def crunch_in_thread(n: int) -> int:
    return await trio.to_thread.run_sync(crunch, n)


def check(total: int) -> bool:
    verdict = total == 45
    breakpoint()
    return verdict


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(crunch_in_thread, name="cruncher", n=10)
        total = await portal.wait_for_result()
        print(f"cruncher returned {total}; check -> {check(total)}")


if __name__ == "__main__":
    trio.run(main)
