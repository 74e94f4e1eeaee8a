"""``examples/agents/approval_workflow.py``: unattended, and killed halfway then resumed."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from ..test_examples import EXAMPLES, MARKER, REPO, _survivors

SCRIPT = EXAMPLES / "agents" / "approval_workflow.py"
TIMEOUT = 60.0


def _env(token: str) -> dict[str, str]:
    env = {**os.environ, MARKER: token}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _run(*args: str, token: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO,
        env=_env(token),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    report = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, report
    assert proc.stderr == "", report
    return proc.stdout


def test_unattended_run_asks_from_async_and_thread_code_and_leaves_nothing() -> None:
    token = uuid.uuid4().hex
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "approvals-*")))
    out = _run("--auto-approve", token=token)
    assert not _survivors(token)
    # The temporary SQLite file is gone with its directory.
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "approvals-*"))) == before
    # The policy answered the cheap steps, the auto handler the others, and the
    # thread-mode publisher's questions.
    assert "[policy] approvals/planner: 'read the spec' is cheap: approved" in out
    assert "[auto] approvals/planner: {'title': 'order servers', 'cost': 400} -> True" in out
    assert "[auto] approvals/publisher: {'step': 'announce it'} -> 'shipped, no comment'" in out
    assert "[policy] approvals/planner: 'order servers'" not in out
    assert sum(line.startswith("publisher: ") for line in out.splitlines()) == 5
    assert "approved 5 of 5 steps; published 5" in out


def test_sigkill_halfway_then_rerun_resumes_without_asking_again(tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    db = str(tmp_path / "approvals.db")
    args = ["--auto-approve", "--db", db, "--run-id", "resume-test"]
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args, "--pace", "0.2"],
        cwd=REPO,
        env=_env(token),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    first: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            first.append(line)
            if line.startswith("planner: 'write the code'"):
                os.kill(proc.pid, signal.SIGKILL)
                break
        assert proc.wait(timeout=TIMEOUT) == -signal.SIGKILL, "".join(first)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert not _survivors(token)

    out = _run(*args, token=token)
    assert not _survivors(token)
    # The three decided steps were restored from the planner's checkpoint: no
    # handler saw them again; the last two were asked now.
    for step in ("read the spec", "order servers", "write the code"):
        assert f"'{step}'" not in out.split("publisher:")[0], out
    assert "planner: 'deploy to production' approved" in out
    assert "planner: 'announce it' approved" in out
    assert "approved 5 of 5 steps; published 5" in out
