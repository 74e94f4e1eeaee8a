"""An infected root (asyncio hosts trio) with infected children, for signal tests.

Run as ``python aio_tree.py`` with the repository root on ``PYTHONPATH``. Starts two
infected children, each holding an asyncio task, and a plain one; prints one JSON
line ``{"root": pid, "actors": [pids]}`` once every actor is up, then waits forever.
"""

from __future__ import annotations

import json
import os

import trio

import agentree
from tests.integration import _aio_funcs, _funcs


async def main() -> None:
    """Start the tree, report its pids, and hold it until interrupted."""
    async with agentree.open_nursery(infect_asyncio=True) as an, trio.open_nursery() as tn:
        pids = []
        for i in range(2):
            portal = await an.start_actor(
                f"aio{i}", enable_modules=[_aio_funcs.MODULE, _funcs.MODULE], infect_asyncio=True
            )
            tn.start_soon(portal.run, _aio_funcs.sleep_in_asyncio)
            await portal.run(_aio_funcs.wait_aio_started)
            pids.append(await portal.run(_funcs.getpid))
        plain = await an.start_actor("plain", enable_modules=[_funcs.MODULE])
        pids.append(await plain.run(_funcs.getpid))
        print(json.dumps({"root": os.getpid(), "actors": pids}), flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    agentree.run_as_asyncio_guest(main)
