"""Post-mortem in the root: its own uncaught error opens a REPL first.

python examples/debugging/root_error.py
"""

import trio

import agentree


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True):
        stock = {"apples": 3}
        print(f"pears: {stock['pears']}")


if __name__ == "__main__":
    try:
        trio.run(main)
    except* KeyError as group:
        for err in group.exceptions:
            print(f"root raised KeyError({err}) after its post-mortem")
