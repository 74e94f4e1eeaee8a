"""Pause the root actor in a REPL, then continue.

Run it in a terminal and type ``p answer`` then ``c``::

    python examples/debugging/root_pause.py
"""

import trio

import agentree


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True):
        answer = 42
        await agentree.pause()
        print(f"root continued with answer={answer}")


if __name__ == "__main__":
    trio.run(main)
