"""Ctrl-C goes to an open REPL; with no REPL open it tears the tree down.

python examples/debugging/ctrl_c.py
"""

import trio

import agentree


async def pause_once() -> str:
    await agentree.pause()
    return "child done"


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        daemon = await an.start_actor("sleeper", enable_modules=[__name__])
        print(await daemon.run(pause_once))
        print("no REPL open now: press Ctrl-C to stop the tree", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    try:
        trio.run(main)
    except KeyboardInterrupt:
        print("tree torn down by Ctrl-C")
