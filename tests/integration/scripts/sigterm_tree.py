"""A root actor whose children write a marker when cancelled, for SIGTERM tests.

Run as ``python sigterm_tree.py START_METHOD MARKER_DIR [stubborn]`` with the
repository root on ``PYTHONPATH``. Starts two children (the first with a grandchild),
each writing ``MARKER_DIR/<name>`` from its ``finally`` when cancelled, and with
``stubborn`` a third child that ignores cancellation; prints one JSON line ``{"root":
pid, "actors": [pids]}`` once every actor is up, then waits forever.
"""

from __future__ import annotations

import json
import os
import sys

import trio

import agentree
from tests.integration import _spawn_funcs


async def main(start_method: str, marker_dir: str, stubborn: bool) -> None:
    """Start the tree, report its pids, and hold it until stopped."""
    async with agentree.open_nursery(start_method=start_method, cancel_timeout=30.0) as an:
        portals = [
            await an.run_in_actor(
                _spawn_funcs.hold_with_marker,
                name=f"child{i}",
                marker=os.path.join(marker_dir, f"child{i}"),
                nested=i == 0,
            )
            for i in range(2)
        ]
        pids = []
        for portal in portals:
            pids += await portal.run(_spawn_funcs.subtree_pids)
        if stubborn:
            portal = await an.run_in_actor(_spawn_funcs.ignore_cancellation, name="stubborn")
            pids.append(await portal.run(_spawn_funcs.getpid))
        print(json.dumps({"root": os.getpid(), "actors": pids}), flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], sys.argv[3:] == ["stubborn"])
