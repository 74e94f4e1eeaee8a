"""A sub-actor killed while it holds the terminal releases it: no deadlock.

Kill the paused ``victim`` (its pid is printed) from another terminal; the root then
gets the terminal for its own REPL::

    python examples/debugging/killed_holder.py [forkserver|subprocess]
"""

import os
import sys

import trio

import agentree


async def pause_here() -> None:
    print(f"victim pid {os.getpid()} pausing", flush=True)
    await agentree.pause()


async def main(start_method: str) -> None:
    async with agentree.open_nursery(debug_mode=True, start_method=start_method) as an:
        victim = await an.start_actor("victim", enable_modules=[__name__])
        try:
            await victim.run(pause_here)
        except agentree.AgentreeError as err:
            print(f"victim is gone: {type(err).__name__}", flush=True)
        survivor = "root"
        await agentree.pause()
        print(f"{survivor} had the terminal after the victim died")


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "forkserver")
