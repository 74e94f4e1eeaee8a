"""A root (not a subreaper to begin with) whose child actor is SIGKILLed.

Usage: ``python orphans.py START_METHOD``. Prints one JSON line: whether the
victim's three descendants were gone within 5 s, and whether this process was a
child subreaper during the tree and after it.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

import trio

import agentree
from tests.integration import _exit_funcs as funcs


def _is_subreaper() -> bool:
    value = ctypes.c_int(0)
    ctypes.CDLL(None, use_errno=True).prctl(37, ctypes.pointer(value), 0, 0, 0)
    return bool(value.value)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] != b"Z"


async def main(start_method: str) -> dict[str, object]:
    async with agentree.open_nursery(start_method=start_method) as an:
        during = _is_subreaper()
        victim = await an.start_actor("victim", enable_modules=[funcs.MODULE])
        pid = await victim.run(funcs.getpid)
        pids = await victim.run(funcs.start_descendants)
        os.kill(pid, signal.SIGKILL)
        await victim.wait_for_exit()
        left = [p for p in pids if _alive(p)]
        with trio.move_on_after(5):
            while left:
                await trio.sleep(0.02)
                left = [p for p in left if _alive(p)]
        gone = not left
    return {"gone": gone, "during": during, "after": _is_subreaper()}


if __name__ == "__main__":
    print(json.dumps(trio.run(main, sys.argv[1])), flush=True)
