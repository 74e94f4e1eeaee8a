"""A program that joins a tree over TCP and spawns a child the default way (test_tcp_reach).

Reads one JSON line on stdin: ``{"host", "port", "secret" (hex), "name", "child",
"host_id", "find"}``. Prints one line per event:

- ``spawned`` once its child ``child`` (spawned the default way) is up;
- ``found <json>``, once told to go on (a line on stdin), when that child found
  the actor ``find`` by name and called it (``_tcp_funcs.call_by_name``);
- ``stopped`` when the tree cancelled it.
"""

from __future__ import annotations

import json
import os
import sys

import trio

import agentree


def say(*words: object) -> None:
    print(*words, flush=True)


async def main() -> int:
    cfg = json.loads(sys.stdin.readline())
    # As if on another host: its actors' host id (its children inherit it).
    os.environ["AGENTREE_HOST_ID"] = cfg["host_id"]
    from tests.integration import _tcp_funcs

    funcs = ["tests.integration._tcp_funcs"]
    async with (
        agentree.join_tree(
            (cfg["host"], cfg["port"]),
            bytes.fromhex(cfg["secret"]),
            name=cfg["name"],
            enable_modules=funcs,
        ),
        agentree.open_nursery() as an,
    ):
        portal = await an.start_actor(cfg["child"], enable_modules=funcs)
        say("spawned")
        # Once told to (a line on stdin).
        await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        found = await portal.run(_tcp_funcs.call_by_name, name=cfg["find"])
        say("found", json.dumps(found))
        await trio.sleep_forever()
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
