"""A sub-sub-actor pauses: its request for the terminal climbs through its parent.

python examples/debugging/nested_pause.py
"""

import os

import trio

import agentree


async def leaf(depth: int) -> str:
    me = agentree.current_actor().name
    await agentree.pause()
    return f"{me} at depth {depth} (pid {os.getpid()})"


async def middle() -> str:
    async with agentree.open_nursery() as an:
        portal = await an.run_in_actor(leaf, name="grandchild", depth=2)
        return await portal.wait_for_result()


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(middle, name="child")
        print(f"root got: {await portal.wait_for_result()}")


if __name__ == "__main__":
    trio.run(main)
