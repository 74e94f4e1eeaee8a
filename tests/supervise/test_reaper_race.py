"""Regression: an orphan scan must not kill a child actor spawned while it ran.

Found by supervision with the subprocess start method: an agent SIGKILLed, then
restarted at once. The ended child's orphan scan ran in a thread on a snapshot of
the live child tags; the next incarnation, spawned meanwhile, looked like an orphan
and was SIGKILLed during its handshake (``SpawnError ... code -9``).
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
import trio

from agentree._runtime import _reaper


async def test_a_child_spawned_during_an_orphan_scan_is_spared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag = f"race-{uuid.uuid4().hex}"
    env = {**os.environ, _reaper.TAG_ENV: tag}
    proc = subprocess.Popen(["sleep", "60"], env=env)  # noqa: ASYNC220 - a quick spawn
    # Registered as a live child actor, as spawn_actor does before the process exists.
    _reaper.live_child_tags.add(tag)
    try:
        # The scan saw the new child (its snapshot of the live tags predates it).
        monkeypatch.setattr(_reaper, "_find_orphans", lambda *_: [proc.pid])
        with trio.fail_after(30):
            await _reaper.kill_orphans(None)
        assert proc.poll() is None, "a live child actor was killed as an orphan"
    finally:
        _reaper.live_child_tags.discard(tag)
        proc.kill()
        proc.wait()
