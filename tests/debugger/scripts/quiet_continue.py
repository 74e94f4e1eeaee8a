"""Two daemons with a loglevel set: one pauses in a loop, the other fails.

``looper`` pauses again and again; ``failer`` raises, so its post-mortem REPL
opens and the tree is torn down once it is left. Typing ``c`` at every prompt
must end the run quietly: no warning that a dialog "did not end after
cancellation", that an actor "died holding the terminal lock", or that an
error hook failed. Run by ``tests/debugger/test_quiet_continue.py``::

    python tests/debugger/scripts/quiet_continue.py
"""

import time

import trio

import agentree


async def pause_forever() -> None:
    while True:
        await agentree.pause()


async def fail() -> None:
    raise NameError("failer gave up")


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True, loglevel="warning") as an:
        looper = await an.start_actor("looper", enable_modules=[__name__])
        failer = await an.start_actor("failer", enable_modules=[__name__])
        async with trio.open_nursery() as tn:
            tn.start_soon(looper.run, pause_forever)
            tn.start_soon(failer.run, fail)


if __name__ == "__main__":
    started = time.monotonic()
    try:
        trio.run(main)
    except* Exception as group:
        errors = sorted(str(exc).split(":")[0] for exc in group.exceptions)
        print(f"tree stopped after {time.monotonic() - started:.1f}s: {errors}")
