"""Pause in an infected-asyncio actor: its trio task stops in the REPL while asyncio
is the actor's main loop.

Run it in a terminal, look around (``p fetched``) and type ``c``::

    python examples/debugging/infected_pause.py
"""

import asyncio

import trio

import agentree
from agentree import to_asyncio


async def fetch_and_pause() -> str:
    fetched = await to_asyncio.run_task(asyncio.sleep, delay=0.01, result="from asyncio")
    await agentree.pause()
    return str(fetched)


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(fetch_and_pause, name="aio", infect_asyncio=True)
        print(f"aio returned {await portal.wait_for_result()!r}")


if __name__ == "__main__":
    trio.run(main)
