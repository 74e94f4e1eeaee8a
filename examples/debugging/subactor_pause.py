"""Pause a sub-actor: its REPL gets the terminal from the root, then it returns.

Run it in a terminal, look around (``p x``, ``ll``) and type ``c``::

    python examples/debugging/subactor_pause.py [forkserver|subprocess]

Both start methods give the child the root's terminal.
"""

import sys

import trio

import agentree


async def double(x: int) -> int:
    doubled = x * 2
    await agentree.pause()
    return doubled


async def main(start_method: str) -> None:
    async with agentree.open_nursery(debug_mode=True, start_method=start_method) as an:
        portal = await an.run_in_actor(double, name="doubler", x=21)
        print(f"doubler returned {await portal.wait_for_result()}")


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "forkserver")
