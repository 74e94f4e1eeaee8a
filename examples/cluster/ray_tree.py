"""A tree whose workers Ray hosts: ``start_method="ray"``.

The root runs here; each worker is an agentree actor in a process that a thin Ray
actor starts on the node Ray picks (by the ``RayPlacement``: CPUs, GPUs, memory,
custom resources, a node or a placement group). The worker connects back to the
root over TCP and proves it holds the tree's secret; from then on it is an ordinary
actor: calls, streams and errors cross as between any two actors, and the
nursery's end stops every worker and its Ray host.

Run it from the repository root (needs ``pip install 'agentree[ray]'``)::

    python examples/cluster/ray_tree.py

It starts a local Ray, or joins the one ``RAY_ADDRESS`` names (for a real cluster:
``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on the
others, then run this with ``RAY_ADDRESS=auto`` on the head).
"""

import os
import socket
from collections.abc import AsyncIterator

import trio

import agentree


def where() -> str:
    """Say which actor, process and machine this runs in."""
    return f"{agentree.current_actor().name}: pid {os.getpid()} on {socket.gethostname()}"


async def squares(n: int) -> AsyncIterator[int]:
    """Stream the first ``n`` squares back to the caller."""
    for i in range(n):
        yield i * i


def divide(a: float, b: float) -> float:
    """Divide; ``b == 0`` raises, and the error crosses back to the caller."""
    return a / b


async def main() -> None:
    placement = agentree.RayPlacement(num_cpus=0.5)
    async with agentree.open_nursery(start_method="ray", placement=placement) as an:
        workers = [await an.start_actor(f"worker{i}", enable_modules=[__name__]) for i in range(2)]
        for worker in workers:
            print(await worker.run(where))
        async with workers[0].open_stream_from(squares, n=6) as stream:
            print("streamed:", [square async for square in stream])
        try:
            await workers[1].run(divide, a=1, b=0)
        except agentree.RemoteActorError as error:
            print("error crossed back:", error.boxed_type_str)
    print("the workers and their Ray hosts are gone")


if __name__ == "__main__":
    import ray  # here: the workers load this script too, and need no Ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False)
    else:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        trio.run(main)
    finally:
        ray.shutdown()
