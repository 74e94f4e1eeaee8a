"""A pause waiting for the terminal while the tree fails: it does not open a REPL.

``alpha`` pauses and gets the terminal; ``beta`` pauses too and waits in line; then
the root fails. The tree stops: ``beta``'s wait is cancelled with it (agentree opens
no new REPL in an actor being torn down), while ``alpha``'s REPL, already open, is
never cut off: ``c`` lets it go on; the root's own error then gets its post-mortem
(``c`` again), and the tree exits with that error::

    python examples/debugging/failing_sibling.py

(``agentree.pause(shield=True)`` would keep waiting for the terminal instead.)
"""

import trio

import agentree
from agentree.devx._lock import root_lock


async def worker(label: str) -> str:
    secret = f"secret of {label}"
    await agentree.pause()
    return secret


async def main() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        lock = root_lock(agentree.current_actor())
        await an.run_in_actor(worker, name="alpha", label="alpha")
        await lock.wait_until(lambda lock: lock.holder is not None)
        await an.run_in_actor(worker, name="beta", label="beta")
        await lock.wait_until(lambda lock: bool(lock.waiting()))
        print("beta waits for the terminal; the root fails now", flush=True)
        raise RuntimeError("the root gave up")


if __name__ == "__main__":
    try:
        trio.run(main)
    except* RuntimeError as group:
        print(f"tree stopped: {group.exceptions[0]}")
