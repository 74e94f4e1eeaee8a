"""A root whose forkserver is a copy of it, or a fresh one: for the forkserver tests.

Run as ``python forkcopy_root.py MODE ACTION`` with the repository root on
``PYTHONPATH``. MODE ``single`` opens the tree single-threaded (the forkserver is a
copy of the root); ``thread`` keeps another thread running (a fresh forkserver).
Before opening the tree the root prints ``early`` unflushed, opens a file and a
listening socket, installs a SIGUSR1 handler and configures logging. ACTION
``report`` prints one JSON line about the tree and exits; ``hold`` prints it and
waits to be killed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading

import trio

import agentree
from tests.integration import _forkcopy_funcs as funcs


def _children() -> list[int]:
    pids = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            pids += [int(pid) for pid in f.read().split()]
    return pids


def _describe(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/comm") as f:
        name = f.read().strip()
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read().replace(b"\0", b" ").decode()
    return {"name": name, "cmdline": cmdline}


async def main(action: str) -> None:
    """Open the tree, start two actors, report, then exit or hold."""
    secret = tempfile.NamedTemporaryFile(prefix="forkcopy-root-")  # noqa: SIM115
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    async with agentree.open_nursery() as an:
        portals = [await an.start_actor(f"a{i}", enable_modules=[funcs.__name__]) for i in (0, 1)]
        seen = [await portal.run(funcs.inspect_actor) for portal in portals]
        (server,) = _children()
        report = {
            "root": os.getpid(),
            "server": server,
            "server_proc": _describe(server),
            "root_name": _describe(os.getpid())["name"],
            "actor_procs": [_describe(s["pid"]) for s in seen],
            "actors": seen,
            "secret": secret.name,
            "listener": os.readlink(f"/proc/self/fd/{listener.fileno()}"),
            "tmpdir": agentree.current_actor().options.tmpdir,
        }
        print(json.dumps(report), flush=True)
        if action == "hold":
            await trio.sleep_forever()
        await an.cancel()
    secret.close()
    listener.close()


if __name__ == "__main__":
    mode, action = sys.argv[1], sys.argv[2]
    stop = threading.Event()
    if mode == "thread":
        threading.Thread(target=stop.wait, daemon=True).start()
    signal.signal(signal.SIGUSR1, lambda *_: None)
    logging.basicConfig()  # the root's, not its actors'

    print("early", end="")  # unflushed: a copy of the root must not print it again
    try:
        trio.run(main, action)
    finally:
        stop.set()
