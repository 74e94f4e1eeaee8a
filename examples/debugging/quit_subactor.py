"""``quit`` in a sub-actor's REPL cancels that actor; the tree then exits cleanly.

The quit raises ``bdb.BdbQuit`` in the paused task, which reaches the root like any
other error (as a ``RemoteActorError``); leaving the nursery stops the other daemon::

    python examples/debugging/quit_subactor.py
"""

import trio

import agentree


async def loop_forever() -> None:
    count = 0
    while True:
        count += 1
        await agentree.pause()


async def main() -> None:
    try:
        async with agentree.open_nursery(debug_mode=True) as an:
            await an.start_actor("bystander", enable_modules=[__name__])
            looper = await an.start_actor("looper", enable_modules=[__name__])
            await looper.run(loop_forever)
    except* agentree.RemoteActorError as group:
        for err in group.exceptions:
            assert isinstance(err, agentree.RemoteActorError)
            print(f"root got {err.boxed_type_str} from {err.src_uid[0]!r}; tree is down")


if __name__ == "__main__":
    trio.run(main)
