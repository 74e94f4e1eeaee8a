"""kill_orphans must spare a child actor whose spawn registers while it scans /proc.

Regression: the scan compared against a snapshot of the live child tags taken before
it started, so a subprocess child actor spawned during the scan (its tag registered
before its process existed) was killed as an orphan in its handshake.
"""

from __future__ import annotations

import os
import sys
import uuid

import pytest
import trio

from agentree._runtime import _reaper
from agentree._runtime._reaper import TAG_ENV, kill_orphans, live_child_tags


async def test_kill_orphans_spares_a_child_registered_during_the_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag = uuid.uuid4().hex
    with trio.fail_after(20):
        proc = await trio.lowlevel.open_process(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            env={**os.environ, TAG_ENV: tag},
        )
        real_children_of = _reaper.children_of

        def children_of_while_spawning(pid: int) -> list[int]:
            # A spawn registers its child's tag while the scan runs (see spawn_actor).
            live_child_tags.add(tag)
            return real_children_of(pid)

        monkeypatch.setattr(_reaper, "children_of", children_of_while_spawning)
        try:
            assert await kill_orphans(None) == 0
            assert proc.poll() is None
        finally:
            live_child_tags.discard(tag)
            proc.kill()
            await proc.wait()
