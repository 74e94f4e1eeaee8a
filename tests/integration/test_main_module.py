"""Functions defined in the program's ``__main__`` run in children (script or ``-m``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import trio

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "scripts" / "main_program.py"


@pytest.mark.parametrize("how", ["path", "module"])
async def test_functions_from_main(how: str) -> None:
    if how == "path":
        command = [sys.executable, str(SCRIPT)]
    else:
        command = [sys.executable, "-m", "tests.integration.scripts.main_program"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with trio.fail_after(20):
        done = await trio.run_process(
            command,
            capture_stdout=True,
            capture_stderr=True,
            env=env,
            cwd=str(REPO_ROOT),
            check=False,
        )
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, stderr
    # One line: the children did not run the program's guarded main block.
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 1, (lines, stderr)
    assert json.loads(lines[0]) == {
        "rpc": "hello b from daemon",
        "error": "KeyError",
        "result": "hello a from one-shot",
    }
