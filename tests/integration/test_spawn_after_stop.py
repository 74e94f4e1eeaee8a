"""A child spawned right after another one ended is not taken for that child's orphan.

When a subprocess child ends, its parent kills the orphans it left (processes
re-parented to the parent, a subreaper, whose tag is not a live child's). That scan
runs in a worker thread while the parent goes on, and it used to compare against the
live children of the moment it started: a child spawned meanwhile was killed as an
orphan and its exit status reaped, so its spawn failed with "exited during its
handshake" (code -9, or 0 once the status was gone).
"""

from __future__ import annotations

import trio

import agentree

MODULE = __name__


async def test_spawn_right_after_a_stop_survives_the_orphan_scan() -> None:
    with trio.fail_after(120):
        async with agentree.open_nursery(start_method="subprocess") as an:
            for i in range(10):
                portal = await an.start_actor(f"short-{i}", enable_modules=[MODULE])
                assert await portal.cancel_actor()
                # The previous child's end has woken us; its orphan scan may still run.
                await portal.channel.closed.wait()
