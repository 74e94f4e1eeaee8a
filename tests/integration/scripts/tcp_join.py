"""A program started on its own that joins a running tree over TCP (for test_tcp_*).

Reads one JSON line on stdin: ``{"host", "port", "secret" (hex), "name", "parent",
"mode", "host_id"}`` (the secret never goes on the command line or in the environment). Prints
one line per event, each with ``time.monotonic()``:

- ``joined <t>`` once in the tree; then it serves until its parent stops it;
- ``stopped <t>`` when the tree cancelled it (its block ended quietly);
- ``lost <t>`` when the connection was lost (``TransportClosed``);
- ``refused <error>`` when the handshake failed;
- with ``mode == "connect"``: ``hub <answer>`` from a portal to ``parent``;
- with ``find``: ``found <json>`` once it called that actor, found by name
  (``_tcp_funcs.call_by_name``).
"""

from __future__ import annotations

import json
import os
import sys
import time

import trio

import agentree


def say(*words: object) -> None:
    print(*words, flush=True)


async def main() -> int:
    cfg = json.loads(sys.stdin.readline())
    if cfg.get("host_id"):
        # As if on another host (the TCP path between actors on one machine).
        os.environ["AGENTREE_HOST_ID"] = cfg["host_id"]
    addr = (cfg["host"], cfg["port"])
    secret = bytes.fromhex(cfg["secret"])
    try:
        if cfg.get("mode") == "connect":
            async with agentree.connect(addr, secret, actor=cfg.get("parent")) as portal:
                from tests.integration import _tcp_funcs

                say("hub", await portal.run(_tcp_funcs.whoami))
            return 0
        async with agentree.join_tree(
            addr,
            secret,
            name=cfg["name"],
            parent=cfg.get("parent"),
            enable_modules=["tests.integration._tcp_funcs"],
        ):
            say("joined", time.monotonic())
            if cfg.get("find"):
                from tests.integration import _tcp_funcs

                found = await _tcp_funcs.call_by_name(name=cfg["find"])
                say("found", json.dumps(found))
            await trio.sleep_forever()
    except agentree.AuthenticationError as exc:
        say("refused", type(exc).__name__, exc)
        return 2
    except agentree.TransportClosed as exc:
        say("lost", time.monotonic(), exc)
        return 3
    say("stopped", time.monotonic())
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
