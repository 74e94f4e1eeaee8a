"""A tree for the operability tests: ``python ops_tree.py MODE [N]``.

Modes (each prints one JSON line once it is up, then holds until stopped):

- ``nested``: root -> app -> (lvl2, deep2 -> (lvl1, deep1)), three deep, and a
  supervisor ``team`` with an agent ``napper``; prints ``{"root": pid, "pids": {...}}``;
- ``many N``: N children of the root; prints ``{"root": pid}``;
- ``wedged``: one child, then the root spins in a CPU loop (never checkpoints) for
  at most 60 s; prints ``{"root": pid, "child": pid}`` before it spins.
"""

from __future__ import annotations

import json
import os
import sys
import time

import trio

import agentree
from tests.integration import _ops_funcs


async def nested() -> None:
    async with agentree.open_nursery() as an, agentree.open_supervisor("team") as sup:
        app = await an.start_actor("app", enable_modules=[_ops_funcs.MODULE])
        ref = await sup.start_agent(_ops_funcs.Napper, name="napper")
        async with app.open_context(_ops_funcs.hold_nested, depth=2) as (_, pids):
            pids["napper"] = ref.pid
            print(json.dumps({"root": os.getpid(), "pids": pids}), flush=True)
            await trio.sleep_forever()


async def many(n: int) -> None:
    async with agentree.open_nursery() as an:
        for i in range(n):
            await an.start_actor(f"w{i}")
        print(json.dumps({"root": os.getpid()}), flush=True)
        await trio.sleep_forever()


async def wedged() -> None:
    async with agentree.open_nursery() as an:
        child = await an.start_actor("child", enable_modules=[_ops_funcs.MODULE])
        pid = await child.run(_ops_funcs.own_pid)
        print(json.dumps({"root": os.getpid(), "child": pid}), flush=True)
        end = time.monotonic() + 60
        while time.monotonic() < end:  # a CPU loop: the root's trio loop never runs
            pass


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "nested":
        trio.run(nested)
    elif mode == "many":
        trio.run(many, int(sys.argv[2]))
    else:
        trio.run(wedged)
