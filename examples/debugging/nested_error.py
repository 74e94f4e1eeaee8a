"""A sub-sub-actor's error: one post-mortem where it was raised, then up the tree.

The error passes through ``child`` as a ``RemoteActorError``; errors from other
actors get no second post-mortem on the way::

    python examples/debugging/nested_error.py
"""

import trio

import agentree


async def parse(text: str) -> int:
    digits = text.strip()
    return int(digits)


async def middle() -> int:
    # collapse_eg(): relay the grandchild's lone error bare, not in the nursery's group.
    async with agentree.trionics.collapse_eg(), agentree.open_nursery() as an:
        portal = await an.run_in_actor(parse, name="grandchild", text=" 4x2 ")
        return await portal.wait_for_result()


async def main() -> None:
    try:
        async with agentree.open_nursery(debug_mode=True) as an:
            portal = await an.run_in_actor(middle, name="child")
            await portal.wait_for_result()
    except* agentree.RemoteActorError as group:
        for err in group.exceptions:
            assert isinstance(err, agentree.RemoteActorError)
            path = " -> ".join(name for name, _ in err.relay_path)
            print(f"root got {err.boxed_type_str} via {path}")


if __name__ == "__main__":
    trio.run(main)
