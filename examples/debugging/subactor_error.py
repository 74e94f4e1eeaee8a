"""Post-mortem: an uncaught error in a sub-actor opens a REPL where it was raised.

After ``c`` the error goes up the tree as usual and reaches the root::

    python examples/debugging/subactor_error.py
"""

import trio

import agentree


async def divide(numerator: int, denominator: int) -> float:
    ratio = numerator / denominator
    return ratio


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        portal = await an.run_in_actor(divide, name="divider", numerator=7, denominator=0)
        await portal.wait_for_result()


if __name__ == "__main__":
    try:
        trio.run(main)
    except* agentree.RemoteActorError as group:
        for err in group.exceptions:
            assert isinstance(err, agentree.RemoteActorError)
            print(f"root got {err.boxed_type_str} from actor {err.src_uid[0]!r}")
