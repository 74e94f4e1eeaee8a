"""A root whose children Ray hosts, for the SIGKILL test of test_ray_cluster.

Joins the running Ray cluster with ``ray.init(address="auto")`` (the test sets
``RAY_ADDRESS``), starts one Ray-hosted child on each node named on stdin (one JSON
line: a list of custom resource names), prints ``child <pid> <host actor id>`` for
each, then ``ready``, and waits to be killed.
"""

from __future__ import annotations

import json
import sys

import ray
import trio

import agentree


async def main() -> None:
    resources = json.loads(sys.stdin.readline())
    async with agentree.open_nursery(start_method="ray") as an:
        for i, resource in enumerate(resources):
            placement = agentree.RayPlacement(resources={resource: 0.5})
            portal = await an.start_actor(f"child{i}", placement=placement)
            child = portal._child
            assert child is not None
            host = child.proc.host  # type: ignore[attr-defined]
            print("child", child.pid, host._actor_id.hex(), flush=True)
        print("ready", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    ray.init(address="auto", log_to_driver=False)
    trio.run(main)
