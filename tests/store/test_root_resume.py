"""SIGKILL of the whole root, then a rerun with the same run_id resumes every agent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import trio

from ..integration import _checks
from ..integration.test_signals import REPO_ROOT, _cleanup, _read_line, _whole_tree

SCRIPT = Path(__file__).parent / "scripts" / "resume_run.py"
FEEDBACK_SCRIPT = Path(__file__).parent / "scripts" / "feedback_run.py"


async def _open(
    db: Path, run_id: str, mode: str, tmp_path: Path, script: Path = SCRIPT
) -> trio.Process:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with (tmp_path / f"{mode}.stderr").open("wb") as stderr:
        return await trio.lowlevel.open_process(
            [sys.executable, str(script), str(db), run_id, mode],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=str(tmp_path),
            start_new_session=True,
        )


async def _report(proc: trio.Process, mode: str, tmp_path: Path) -> object:
    assert proc.stdout is not None
    line = await _read_line(proc.stdout)
    if not line:
        await proc.wait()
        raise AssertionError(
            f"resume_run.py {mode} exited with {proc.returncode}:\n"
            + (tmp_path / f"{mode}.stderr").read_text()
        )
    return json.loads(line)


async def test_root_sigkill_then_rerun_with_the_same_run_id_restores_every_agent(
    tmp_path: Path,
) -> None:
    db = tmp_path / "run.db"
    with trio.fail_after(60):
        proc = await _open(db, "job-1", "run", tmp_path)
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

        proc = await _open(db, "job-1", "check", tmp_path)
        try:
            looks = await _report(proc, "check", tmp_path)
            assert await proc.wait() == 0
        finally:
            await _cleanup(proc, [])
    # Each agent is back at its last checkpoint (the unsaved +1000 is gone), and
    # on_start already saw it.
    assert looks == {
        "a": [10, ["saved 0"], 10, 1, looks["a"][4]],  # type: ignore[index]
        "b": [20, ["saved 1"], 20, 1, looks["b"][4]],  # type: ignore[index]
        "team/c": [30, ["saved 2"], 30, 1, looks["team/c"][4]],  # type: ignore[index]
    }


async def test_root_sigkill_then_rerun_does_not_ask_answered_questions_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "run.db"
    with trio.fail_after(60):
        proc = await _open(db, "job-2", "run", tmp_path, FEEDBACK_SCRIPT)
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

        proc = await _open(db, "job-2", "check", tmp_path, FEEDBACK_SCRIPT)
        try:
            looks = await _report(proc, "check", tmp_path)
            assert await proc.wait() == 0
        finally:
            await _cleanup(proc, [])
    assert isinstance(looks, dict)
    # Both agents resumed from their checkpoints (count 1, then 2 after this start).
    # ``first`` got the answer of the killed run again, without asking the handlers;
    # ``second``'s question was never answered, so it was asked again.
    assert looks["first"][:2] == [2, "yes (run)"]
    assert looks["second"][:2] == [2, "yes (check)"]
    asked = (tmp_path / "asked.log").read_text().split()
    assert sorted(key.split(":")[0] for key in asked) == ["app/first", "app/second", "app/second"]
