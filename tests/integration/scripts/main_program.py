"""A program whose actor functions live in its own ``__main__``, as scripts often do.

Run as ``python main_program.py`` or ``python -m tests.integration.scripts.main_program``.
Children load this module to find the functions, without running the guarded block
below. Prints one JSON line with what it saw.
"""

from __future__ import annotations

import json

import trio

import agentree


async def greet(who: str) -> str:
    """Greet ``who`` from the actor this runs in."""
    return f"hello {who} from {agentree.current_actor().name}"


async def fail() -> None:
    """Raise a ``KeyError``."""
    raise KeyError("missing")


async def main() -> None:
    """Call this module's functions in a one-shot actor and a daemon; print the results."""
    report: dict[str, object] = {}
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            one_shot = await an.run_in_actor(greet, name="one-shot", who="a")
            daemon = await an.start_actor("daemon", enable_modules=["__main__"])
            report["rpc"] = await daemon.run(greet, who="b")
            try:
                await daemon.run(fail)
            except agentree.RemoteActorError as err:
                report["error"] = err.boxed_type_str
            report["result"] = await one_shot.wait_for_result()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    trio.run(main)
