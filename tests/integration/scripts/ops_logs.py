"""Three children log long lines at once, then the root logs; for the log tests.

``python ops_logs.py COUNT SIZE``: every child logs COUNT records of SIZE
characters through agentree's logger (tree loglevel "info"), and the root one.
"""

from __future__ import annotations

import logging
import sys

import trio

import agentree
from tests.integration import _ops_funcs


async def main(count: int, size: int) -> None:
    async with agentree.open_nursery(loglevel="info") as an:
        portals = [
            await an.run_in_actor(
                _ops_funcs.log_lines, count=count, message="x" * size, name=f"c{i}"
            )
            for i in range(3)
        ]
        for portal in portals:
            await portal.wait_for_result()
    logging.getLogger("agentree.user").warning("root done")


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]), int(sys.argv[2]))
