"""SIGKILL of the whole root, then a rerun: the ROOT's feedback journal is durable too.

The handlers, the ``SqliteStore`` and the run id are the root's
(``open_root_actor(feedback=..., store=..., run_id=...)``); the supervisor names
no store and uses the root's, so the agents' checkpoints resume as well.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import trio

from ..integration import _checks
from ..integration.test_signals import _cleanup, _whole_tree
from .test_root_resume import _open, _report

SCRIPT = Path(__file__).parent / "scripts" / "root_feedback_run.py"


async def test_root_sigkill_then_rerun_does_not_ask_a_root_answered_question_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "run.db"
    with trio.fail_after(60):
        proc = await _open(db, "job-3", "run", tmp_path, SCRIPT)
        tree: list[psutil.Process] = []
        try:
            report = await _report(proc, "run", tmp_path)
            assert isinstance(report, dict)
            tree = _whole_tree(report["root"], report["actors"])
            os.kill(report["root"], signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
            with trio.move_on_after(5.0):
                await _checks.wait_gone(tree)
            assert not _checks.alive(tree)
        finally:
            await _cleanup(proc, tree)

        proc = await _open(db, "job-3", "check", tmp_path, SCRIPT)
        try:
            looks = await _report(proc, "check", tmp_path)
            assert await proc.wait() == 0
        finally:
            await _cleanup(proc, [])
    assert isinstance(looks, dict)
    # Both agents resumed from their checkpoints in the root's store (count 1, then
    # 2 after this start). ``first`` got the root's answer of the killed run again,
    # without asking the root's handlers; ``second``'s question was never
    # answered, so it was asked again.
    assert looks["first"][:2] == [2, "yes (run)"]
    assert looks["second"][:2] == [2, "yes (check)"]
    asked = (tmp_path / "asked.log").read_text().split()
    assert sorted(key.split(":")[0] for key in asked) == ["app/first", "app/second", "app/second"]
