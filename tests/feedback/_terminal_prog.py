"""A program the terminal tests drive through a pty: ``_terminal_prog.py MODE``."""

from __future__ import annotations

import sys

import trio

import agentree
from agentree.devx._lock import root_lock
from tests.feedback import _funcs


async def main(mode: str) -> None:
    debug = mode == "repl"
    async with agentree.open_nursery(
        feedback=[agentree.terminal_feedback()], debug_mode=debug
    ) as an:
        if mode == "typed":
            for kind in ("int", "str", "approval"):
                portal = await an.run_in_actor(
                    _funcs.via_child, name=f"child-{kind}", target="ask", question=kind, kind=kind
                )
                print(f"answered {kind}: {await portal.wait_for_result()!r}", flush=True)
            value = await agentree.request_feedback("proceed?", answer=bool)
            print(f"answered bool: {value!r}", flush=True)
        elif mode == "withdraw":
            portal = await an.run_in_actor(
                _funcs.via_child,
                name="child",
                target="ask_then_hang",
                question="late?",
                seconds=2.0,
            )
            print(f"asker: {await portal.wait_for_result()}", flush=True)
        elif mode == "repl":
            paused = await an.run_in_actor(_funcs.pause_then_return, name="pauser")
            actor = agentree.current_actor()
            # The terminal lock has no event to wait on: poll until the REPL has it.
            while root_lock(actor).holder is None:  # noqa: ASYNC110
                await trio.sleep(0.01)
            asker = await an.run_in_actor(_funcs.ask, name="asker", question="in turn?")
            print(f"answered: {await asker.wait_for_result()!r}", flush=True)
            await paused.wait_for_result()


if __name__ == "__main__":
    trio.run(main, sys.argv[1])
