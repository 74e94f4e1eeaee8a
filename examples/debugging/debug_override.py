"""debug_mode per actor: children inherit it, ``start_actor(debug_mode=...)`` overrides.

The root runs without the debugger; ``inspected`` turns it on for itself, and its
REPL still gets the terminal from the root. ``plain`` inherits the root's setting,
so its pause() is refused with a clear error::

    python examples/debugging/debug_override.py
"""

import trio

import agentree


async def pause_and_report() -> str:
    me = agentree.current_actor().name
    await agentree.pause()
    return f"{me} resumed"


async def main() -> None:
    async with agentree.open_nursery() as an:
        inspected = await an.start_actor("inspected", enable_modules=[__name__], debug_mode=True)
        plain = await an.start_actor("plain", enable_modules=[__name__])
        print(await inspected.run(pause_and_report))
        try:
            await plain.run(pause_and_report)
        except agentree.RemoteActorError as err:
            print(f"plain refused: {err.boxed_type_str}: {err.message}")


if __name__ == "__main__":
    trio.run(main)
