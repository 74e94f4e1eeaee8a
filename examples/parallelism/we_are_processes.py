"""Zombie safety: an error in the root tears down a whole tree of busy processes.

The root starts one actor per CPU core. Each one announces its name and pid and
then sleeps forever. Once every worker has reported in, the root raises an
ordinary exception inside the actor nursery. The nursery cancels every child,
reaps every process, and only then lets the exception out (in an exception group,
caught with ``except*``), so the code after the block can check that none of the
worker pids is still alive.

Run it from the repository root, ideally next to a process monitor::

    python examples/parallelism/we_are_processes.py

    # or watch the tree appear and vanish:
    watch -n 0.1 "pstree -a $$" & python examples/parallelism/we_are_processes.py; kill $!
"""

import os

import trio

import agentree

# Set by ``target`` in each worker process once it has announced itself. Every
# worker loads this script separately, so each one has its own event.
_announced = trio.Event()


async def target() -> None:
    """Announce this actor's name and pid, then sleep until cancelled."""
    name = agentree.current_actor().name
    # flush: stdout may be a pipe, and this process will not exit on its own.
    print(f"Yo, i'm {name!r} running in pid {os.getpid()}", flush=True)
    _announced.set()
    await trio.sleep_forever()


async def wait_announced() -> int:
    """Return this worker's pid once ``target`` has printed its line."""
    await _announced.wait()
    return os.getpid()


def is_alive(pid: int) -> bool:
    """Tell whether a process with this pid still exists (a zombie counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def main() -> None:
    """Start one sleeping worker per core, then blow the tree up from the root."""
    workers = os.cpu_count() or 1
    pids: list[int] = []
    try:
        async with agentree.open_nursery() as an:
            portals = [await an.run_in_actor(target, name=f"worker_{i}") for i in range(workers)]

            # A real handshake, not a timer: each worker's first RPC returns only
            # after its ``target`` has printed.
            async def collect(portal: agentree.Portal) -> None:
                pids.append(await portal.run(wait_announced))

            async with trio.open_nursery() as tn:
                for portal in portals:
                    tn.start_soon(collect, portal)

            print(f"All {len(pids)} workers reported in; this tree will now self-destruct")
            # An error in the root cancels and reaps every child actor.
            raise Exception("Self Destructed")
    except* Exception as group:
        # The nursery raises its failures as an exception group, even a lone one
        # (as trio's nurseries do), so ``except*`` catches it whatever the count.
        for exc in group.exceptions:
            print(f"Caught {exc!r} outside the nursery")

    survivors = [pid for pid in pids if is_alive(pid)]
    assert not survivors, f"worker processes outlived the nursery: {survivors}"
    print(f"Zombies Contained: all {len(pids)} workers reaped")


if __name__ == "__main__":
    trio.run(main)
