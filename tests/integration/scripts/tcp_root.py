"""A tree's root listening on TCP (for test_tcp_netns, run in a network namespace).

Reads one JSON line on stdin: ``{"host", "secret" (hex)}``. Prints, each line with
``time.monotonic()`` where it matters:

- ``listening <port>`` once it listens;
- ``called <answer>`` once a program named ``joiner`` joined and answered a call;
- ``lost <t>`` when that program's connection ended (a cut cable: the heartbeat).

Then it ends its tree.
"""

from __future__ import annotations

import json
import sys
import time

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
        async with agentree.wait_for_actor("joiner") as portal:
            from tests.integration import _tcp_funcs

            say("called", await portal.run(_tcp_funcs.whoami))
            await portal.channel.closed.wait()
            say("lost", time.monotonic())


if __name__ == "__main__":
    trio.run(main)
