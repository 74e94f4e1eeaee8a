"""With no loglevel, agentree writes nothing to stderr (issue 16, item 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import logging
import agentree
logging.getLogger("agentree.context").warning("a warning nobody asked to see")
agentree.log.get_logger("devx").error("nor this")
"""


def test_no_loglevel_means_no_stderr() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_loglevel_still_shows_them() -> None:
    program = PROGRAM.replace(
        "import agentree\n", "import agentree\nagentree.log.configure('warning', 'me')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "a warning nobody asked to see" in done.stderr
    assert "[me " in done.stderr
