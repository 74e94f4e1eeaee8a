"""Run one async function in its own process and collect its result.

``run_in_actor`` starts a fresh actor (an OS process running its own ``trio.run``),
calls the function there and hands back a portal; ``portal.wait_for_result()``
waits for the return value. Meanwhile the parent keeps its own core busy with the
same loop. When the ``async with`` block ends, the child has been reaped.

Run it from the repository root, ideally next to a process monitor::

    python examples/parallelism/single_func.py

    # or watch the tree come and go:
    watch -n 0.1 "pstree -a $$" & python examples/parallelism/single_func.py; kill $!
"""

import os

import trio

import agentree


async def burn_cpu(rounds: int = 20_000) -> int:
    """Keep the scheduler busy for a while, then say which process did the work.

    Args:
        rounds: how many scheduler checkpoints to spin through.

    Returns:
        The pid of the process this ran in.
    """
    for _ in range(rounds):
        # Each checkpoint is a full trip through trio's scheduler: busy, not idle.
        await trio.lowlevel.checkpoint()
    return os.getpid()


async def main() -> None:
    """Spawn one actor for ``burn_cpu``, burn in the parent too, print the child's pid."""
    async with agentree.open_nursery() as an:
        portal = await an.run_in_actor(burn_cpu)

        # The parent works at the same time, on its own core.
        parent_pid = await burn_cpu()

        child_pid = await portal.wait_for_result()

    # The nursery block has ended: the child process is gone.
    assert child_pid != parent_pid
    print(f"Collected subproc {child_pid}")


if __name__ == "__main__":
    trio.run(main)
