"""Two sub-actors pause at once: they get the terminal one after the other.

Each prompt names its actor; ``c`` in the first REPL lets the second one in::

    python examples/debugging/two_pausing.py
"""

import trio

import agentree


async def worker(label: str) -> str:
    secret = f"secret of {label}"
    await agentree.pause()
    return secret


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        one = await an.run_in_actor(worker, name="alpha", label="alpha")
        two = await an.run_in_actor(worker, name="beta", label="beta")
        print(f"results: {await one.wait_for_result()!r}, {await two.wait_for_result()!r}")


if __name__ == "__main__":
    trio.run(main)
