"""A root actor with a small tree under it, for tests that signal or kill the root.

Run as ``python tree.py [START_METHOD]`` with the repository root on ``PYTHONPATH``.
Starts 3 children, each holding a grandchild, prints one JSON line ``{"root": pid,
"actors": [pids]}`` once every actor is up, then waits forever.
"""

from __future__ import annotations

import json
import os
import sys

import trio

import agentree
from tests.integration import _funcs


async def main(start_method: str) -> None:
    """Start the tree, report its pids, and hold it until killed or interrupted."""
    async with agentree.open_nursery(start_method=start_method) as an:
        portals = [await an.run_in_actor(_funcs.hold_subtree, name=f"child{i}") for i in range(3)]
        pids = []
        for portal in portals:
            pids += await portal.run(_funcs.subtree_pids)
        print(json.dumps({"root": os.getpid(), "actors": pids}), flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, sys.argv[1] if len(sys.argv) > 1 else "forkserver")
