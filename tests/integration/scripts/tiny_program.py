"""A tiny agentree program (spawn, RPC, a remote error) for other Python versions.

Run as ``python tiny_program.py`` with the repository root on ``PYTHONPATH``. Prints
one JSON line describing what it saw, and exits 0 only if everything was as expected.
"""

from __future__ import annotations

import json
import os
import sys

import trio

import agentree
from tests.integration import _funcs


async def run_once(start_method: str) -> dict[str, object]:
    """Spawn, call and fail once with ``start_method``; return what happened."""
    seen: dict[str, object] = {}
    with trio.fail_after(15):
        try:
            async with agentree.open_nursery(start_method=start_method) as an:
                one_shot = await an.run_in_actor(_funcs.add, x=1, y=2)
                daemon = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
                seen["rpc"] = await daemon.run(_funcs.add, x=20, y=22)
                seen["child_pid_differs"] = await daemon.run(_funcs.getpid) != os.getpid()
                seen["whoami"] = await daemon.run(_funcs.whoami)
                seen["result"] = await one_shot.wait_for_result()
                await an.run_in_actor(_funcs.raise_value_error, message="from 3.x")
        except* agentree.RemoteActorError as group:
            (err,) = group.exceptions
            assert isinstance(err, agentree.RemoteActorError)
            seen["error"] = [err.boxed_type is ValueError, err.message, err.src_uid[0]]
    return seen


async def main() -> None:
    """Run the program with both start methods and print the outcome."""
    report = {"python": list(sys.version_info[:2])}
    for start_method in ("forkserver", "subprocess"):
        report[start_method] = await run_once(start_method)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    trio.run(main)
