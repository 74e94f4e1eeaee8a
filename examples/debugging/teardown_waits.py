"""Stopping a tree waits for a REPL that is open deep inside it.

The grandchild pauses; send the root SIGUSR1 (``kill -USR1 <root pid>``) and it stops
the tree. Its child and grandchild are cancelled, but nobody is killed while the
grandchild's REPL is open: the stop waits for ``continue``::

    python examples/debugging/teardown_waits.py
"""

import logging
import os
import signal

import trio

import agentree


async def leaf() -> None:
    await agentree.pause()
    await trio.sleep_forever()


async def middle() -> None:
    async with agentree.open_nursery() as an:
        portal = await an.run_in_actor(leaf, name="grandchild")
        await portal.wait_for_result()


async def main() -> None:
    logging.basicConfig(format="%(name)s: %(message)s")
    logging.getLogger("agentree.devx").setLevel(logging.INFO)
    print(f"root pid {os.getpid()}", flush=True)
    with trio.open_signal_receiver(signal.SIGUSR1) as signals:
        async with agentree.open_nursery(
            debug_mode=True, cancel_timeout=0.2, terminate_timeout=0.2
        ) as an:
            child = await an.start_actor("child", enable_modules=[__name__])
            async with trio.open_nursery() as tasks:
                tasks.start_soon(child.run, middle)
                async for _ in signals:
                    print("root: stopping the tree", flush=True)
                    tasks.cancel_scope.cancel()
                    break
    print("root: tree stopped")


if __name__ == "__main__":
    trio.run(main)
