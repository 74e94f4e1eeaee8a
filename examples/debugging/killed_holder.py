"""A sub-actor killed while it holds the terminal releases it: no deadlock.

Kill the paused ``victim`` (its pid is printed) from another terminal; the root then
gets the terminal for its own REPL. With ``nested`` the victim is a grandchild, whose
lock request was relayed by its parent ``middle``::

    python examples/debugging/killed_holder.py [forkserver|subprocess] [nested]
"""

import os
import sys

import trio

import agentree


async def pause_here() -> None:
    print(f"victim pid {os.getpid()} pausing", flush=True)
    await agentree.pause()


async def pause_below() -> None:
    async with agentree.open_nursery() as an:
        victim = await an.start_actor("victim", enable_modules=[__name__])
        await victim.run(pause_here)


async def main(start_method: str, nested: bool) -> None:
    async with agentree.open_nursery(debug_mode=True, start_method=start_method) as an:
        if nested:
            target = await an.start_actor("middle", enable_modules=[__name__])
        else:
            target = await an.start_actor("victim", enable_modules=[__name__])
        try:
            await target.run(pause_below if nested else pause_here)
        except agentree.AgentreeError as err:
            print(f"victim is gone: {type(err).__name__}", flush=True)
        survivor = "root"
        await agentree.pause()
        print(f"{survivor} had the terminal after the victim died")


if __name__ == "__main__":
    args = sys.argv[1:]
    trio.run(main, args[0] if args else "forkserver", "nested" in args)
