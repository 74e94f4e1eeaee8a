"""``agentree.post_mortem()``: look at an error you handle, then carry on.

    python examples/debugging/handled_error.py
"""

import trio

import agentree


async def lookup(key: str) -> str:
    table = {"a": "alpha"}
    try:
        return table[key]
    except KeyError:
        await agentree.post_mortem()
        return "default"


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(lookup, name="lookup", key="b")
        print(f"lookup returned {await portal.wait_for_result()!r}")


if __name__ == "__main__":
    trio.run(main)
