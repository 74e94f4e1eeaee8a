"""A tree for the operability tests: ``python ops_tree.py MODE [N]``.

Modes (each prints one JSON line once it is up, then holds until stopped):

- ``nested``: root -> app -> (lvl2, deep2 -> (lvl1, deep1)), three deep, and a
  supervisor ``team`` with an agent ``napper``; prints ``{"root": pid, "pids": {...}}``;
- ``many N``: N children of the root; prints ``{"root": pid}``;
- ``states``: a supervisor ``team`` whose agent ``napper`` crashed and waits out a
  long backoff with one call queued for it, and an agent ``asker`` whose feedback
  question stays open; prints ``{"root": pid}``;
- ``repl``: in debug mode, a child ``pauser`` stops in a REPL (reading this
  program's stdin); prints ``{"root": pid, "child": pid}`` first;
- ``queued``: an agent ``gate`` (caps of one) with three calls of its default cap
  and two of its group ``llm`` in flight (three queued on its own caps), the same
  agent ``sgate`` under a supervisor ``team`` with three calls (two queued), and a
  plain actor ``app`` that started the agent ``helper``; prints
  ``{"root", "helper", "gate", "sgate"}`` pids;
- ``rootrepl``: in debug mode, one child, then the root itself stops in a REPL
  (reading this program's stdin); prints ``{"root": pid, "child": pid}`` first;
- ``stdin``: one child, then the root (not in debug mode) blocks its loop reading
  its stdin; prints ``{"root": pid, "child": pid}`` first;
- ``wedged``: one child, then the root spins in a CPU loop (never checkpoints) for
  at most 60 s; prints ``{"root": pid, "child": pid}`` before it spins.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time

import trio
import trio.testing

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


_ASKED: list[trio.Event] = []


async def _never(request: agentree.FeedbackRequest) -> None:
    _ASKED[0].set()
    await trio.sleep_forever()


async def states() -> None:
    _ASKED.append(trio.Event())
    async with agentree.open_supervisor(
        "team", backoff=agentree.Backoff(min=60, max=60, jitter=0), feedback=[_never]
    ) as sup:
        napper = await sup.start_agent(_ops_funcs.Napper, name="napper")
        asker = await sup.start_agent(_ops_funcs.Napper, name="asker")
        events = sup.events()
        with contextlib.suppress(agentree.AgentCrashed):
            await napper.call(_ops_funcs.Napper.die)
        async for event in events:
            if isinstance(event, agentree.ChildRestarting):
                break
        async with trio.open_nursery() as nursery:
            nursery.start_soon(asker.call, _ops_funcs.Napper.ask)
            await _ASKED[0].wait()
            # A call to the agent in backoff waits (queued) for its next incarnation.
            nursery.start_soon(napper.call, _ops_funcs.Napper.whoami)
            await trio.testing.wait_all_tasks_blocked(0.05)
            assert sup.statistics().calls_queued == 1
            print(json.dumps({"root": os.getpid()}), flush=True)
            await trio.sleep_forever()


async def repl() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        child = await an.start_actor("pauser", enable_modules=[_ops_funcs.MODULE])
        pid = await child.run(_ops_funcs.own_pid)
        print(json.dumps({"root": os.getpid(), "child": pid}), flush=True)
        await child.run(_ops_funcs.pause_here)


async def queued() -> None:
    async with agentree.open_nursery() as an, agentree.open_supervisor("team") as sup:
        gate = await an.start_agent(_ops_funcs.Gate, name="gate")
        sgate = await sup.start_agent(_ops_funcs.Gate, name="sgate")
        app = await an.start_actor("app", enable_modules=[_ops_funcs.MODULE])
        async with (
            app.open_context(_ops_funcs.hold_agent) as (_, helper),
            trio.open_nursery() as n,
        ):
            # One call runs, two wait on the default cap; one runs, one waits on "llm".
            for _ in range(3):
                n.start_soon(gate.call, _ops_funcs.Gate.hold)
                n.start_soon(sgate.call, _ops_funcs.Gate.hold)
            for _ in range(2):
                n.start_soon(gate.call, _ops_funcs.Gate.think)
            info = {"root": os.getpid(), "helper": helper, "gate": gate.pid, "sgate": sgate.pid}
            print(json.dumps(info), flush=True)
            await trio.sleep_forever()


async def rootrepl() -> None:
    async with agentree.open_nursery(debug_mode=True) as an:
        child = await an.start_actor("child", enable_modules=[_ops_funcs.MODULE])
        pid = await child.run(_ops_funcs.own_pid)
        print(json.dumps({"root": os.getpid(), "child": pid}), flush=True)
        await agentree.pause()
        await an.cancel()


async def stdin() -> None:
    async with agentree.open_nursery() as an:
        child = await an.start_actor("child", enable_modules=[_ops_funcs.MODULE])
        pid = await child.run(_ops_funcs.own_pid)
        print(json.dumps({"root": os.getpid(), "child": pid}), flush=True)
        sys.stdin.readline()  # blocks the root's loop (not in debug mode)
        await an.cancel()


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
    elif mode == "states":
        trio.run(states)
    elif mode == "repl":
        trio.run(repl)
    elif mode == "rootrepl":
        trio.run(rootrepl)
    elif mode == "stdin":
        trio.run(stdin)
    elif mode == "queued":
        trio.run(queued)
    elif mode == "many":
        trio.run(many, int(sys.argv[2]))
    else:
        trio.run(wedged)
