"""A root whose Ray-hosted children use the debugger through the root's terminal.

Starts a local Ray (two CPUs, no dashboard, its session files in a temp dir of its
own, removed at the end), opens a tree in debug mode and runs, in order:

1. ``pauser`` (Ray-hosted) pauses with ``x = 41`` and returns ``x + 1``;
   then ``pause_from_sync()`` there in a worker thread, with ``z = 7``; then a
   pause there as if greenback were not installed, with ``w = 5``;
   ``quitter`` pauses in a loop until end of file (Ctrl-D) at its prompt quits
   its REPL, which cancels it;
2. ``failer`` (Ray-hosted) raises ``ValueError`` with ``bad = "boom"``: its
   post-mortem REPL opens; ``q`` there cancels it;
3. ``twin-a`` and ``twin-b`` (Ray-hosted) pause at the same time: their REPLs
   queue on the terminal lock;
4. ``victim`` (Ray-hosted) pauses and is killed (by the test) holding the
   terminal: the root gets it back;
5. ``gkid``, a default-way child of the Ray-hosted ``rparent``, pauses with
   ``y = "deep"``: its REPL goes through the relay in ``rparent``;
6. ``aio``, a Ray-hosted infected-asyncio actor, awaits an asyncio task and
   pauses with ``fetched = "from asyncio"``.

Each step prints what it got. Run by ``tests/debugger/test_ray_debugger.py``::

    python tests/debugger/scripts/ray_debug.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile

import ray
import trio

import agentree


async def pause_with(x: int) -> int:
    await agentree.pause()
    x += 1
    return x


def sync_pause(z: int) -> int:
    agentree.pause_from_sync()
    return z + 1


async def pause_in_thread(z: int) -> int:
    got: int = await trio.to_thread.run_sync(sync_pause, z)
    return got


async def pause_without_greenback(w: int) -> int:
    # As on a node where greenback is not installed: the REPL runs in a thread.
    sys.modules["greenback"] = None  # type: ignore[assignment]
    await agentree.pause()
    w += 1
    return w


async def pause_forever() -> None:
    while True:
        await agentree.pause()


async def fail_with(bad: str) -> None:
    raise ValueError(f"{bad} in {agentree.current_actor().name}")


async def pause_twin(name: str) -> str:
    await agentree.pause()
    return name


async def pause_deep(y: str) -> str:
    await agentree.pause()
    return y.upper()


async def grandchild_pauses() -> str:
    async with agentree.open_nursery() as an:
        portal = await an.start_actor("gkid", enable_modules=[__name__])
        got: str = await portal.run(pause_deep, y="deep")
        await portal.cancel_actor()
    return got


async def fetch_and_pause() -> str:
    fetched = await agentree.to_asyncio.run_task(asyncio.sleep, delay=0.01, result="from asyncio")
    await agentree.pause()
    return str(fetched)


async def main() -> None:
    mods = [__name__]
    async with agentree.open_nursery(debug_mode=True, start_method="ray") as an:
        pauser = await an.start_actor("pauser", enable_modules=mods)
        print("pauser returned", await pauser.run(pause_with, x=41), flush=True)
        print("thread returned", await pauser.run(pause_in_thread, z=7), flush=True)
        got = await pauser.run(pause_without_greenback, w=5)
        print("without greenback returned", got, flush=True)
        await pauser.cancel_actor()

        quitter = await an.start_actor("quitter", enable_modules=mods)
        try:
            await quitter.run(pause_forever)
        except agentree.RemoteActorError as exc:
            print("quitter ended:", type(exc).__name__, exc.boxed_type_str, flush=True)
        child = quitter._child
        assert child is not None
        with trio.fail_after(30):
            code = await child.proc.wait()
        print("quitter exited with", code, flush=True)

        failer = await an.start_actor("failer", enable_modules=mods)
        try:
            await failer.run(fail_with, bad="boom")
        except agentree.RemoteActorError as exc:
            print("failer ended:", type(exc).__name__, exc.boxed_type_str, flush=True)
        await failer.cancel_actor()

        twins = [await an.start_actor(f"twin-{n}", enable_modules=mods) for n in "ab"]
        done: list[str] = []

        async def run_twin(portal: agentree.Portal, name: str) -> None:
            done.append(await portal.run(pause_twin, name=name))

        async with trio.open_nursery() as tn:
            for portal, n in zip(twins, "ab", strict=True):
                tn.start_soon(run_twin, portal, n)
        print("twins done:", sorted(done), flush=True)
        for portal in twins:
            await portal.cancel_actor()

        victim = await an.start_actor("victim", enable_modules=mods)
        try:
            await victim.run(pause_forever)
        except agentree.AgentreeError as exc:
            print("victim lost:", type(exc).__name__, flush=True)

        rparent = await an.start_actor("rparent", enable_modules=mods)
        print("grandchild returned", await rparent.run(grandchild_pauses), flush=True)
        await rparent.cancel_actor()

        aio = await an.start_actor("aio", enable_modules=mods, infect_asyncio=True)
        print("aio returned", repr(await aio.run(fetch_and_pause)), flush=True)
        await aio.cancel_actor()
    print("tree closed", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Short, in /tmp: Ray's socket paths under it must fit in 107 bytes (a test
    # run's TMPDIR is already long).
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    try:
        ray.init(
            num_cpus=2,
            object_store_memory=80 * 1024 * 1024,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            _temp_dir=temp,
            log_to_driver=False,
            configure_logging=False,
        )
        try:
            trio.run(main)
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(temp, ignore_errors=True)
