"""A tree's root in which two joined programs meet (for test_tcp_direct_netns).

Reads one JSON line on stdin: ``{"host", "secret" (hex)}``. Prints:

- ``listening <port>`` once it listens;
- ``entry <tcp> <addr>`` once the program ``X`` joined: its registered TCP address
  and UDS address (``-`` when it has none);

then waits for one more line on stdin, asks the program ``Y`` to find ``X`` by name
and call it, prints ``direct <json>`` (both ends of the connection ``Y`` used) and
ends its tree.
"""

from __future__ import annotations

import json
import sys

import trio

import agentree


def say(*words: object) -> None:
    print(*words, flush=True)


async def main() -> None:
    cfg = json.loads(sys.stdin.readline())
    async with agentree.open_root_actor(
        bind=(cfg["host"], 0), secret=bytes.fromhex(cfg["secret"])
    ):
        address = agentree.tree_address()
        assert address is not None
        say("listening", address[1])
        entry = await agentree._discovery.wait_for("X")
        say("entry", entry.tcp or "-", entry.addr or "-")
        await trio.to_thread.run_sync(sys.stdin.readline)
        async with agentree.wait_for_actor("Y") as portal:
            from tests.integration import _tcp_funcs

            found = await portal.run(_tcp_funcs.call_by_name, name="X")
            say("direct", json.dumps(found))


if __name__ == "__main__":
    trio.run(main)
