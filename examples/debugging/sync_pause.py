"""Pause synchronous code: in a worker thread, and with the builtin ``breakpoint()``.

``agentree.pause_from_sync()`` stops a ``trio.to_thread`` worker in a REPL while the
actor's trio loop keeps running. In debug mode the builtin ``breakpoint()`` does the
same; here it runs in the trio thread of a sub-actor (which uses ``greenback``, part
of the ``debug`` extra) and then of the root::

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


def check(total: int) -> bool:
    verdict = total == 45
    breakpoint()
    return verdict


async def crunch_and_check(n: int) -> list[object]:
    total = await trio.to_thread.run_sync(crunch, n)
    return [total, check(total)]


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(crunch_and_check, name="cruncher", n=10)
        total, verdict = await portal.wait_for_result()
        print(f"cruncher returned {total}, {verdict}; root check -> {check(total)}")


if __name__ == "__main__":
    trio.run(main)
