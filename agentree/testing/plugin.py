"""pytest plugin: fail any test that leaks a process, socket file or temp dir.

The check runs after each test (after pytest-trio has finished the test's trio run):
every process started during the test must be gone, and so must every ``agentree-*``
directory in the temp dir. Leaked processes are killed so that one leak does not
poison the tests after it.

The session gets a temp dir of its own (``TMPDIR``, inherited by every child), so
that runs side by side on one machine never see each other's directories.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Iterator

import psutil
import pytest

__all__ = [
    "agentree_leak_check",
    "leftover_processes",
    "pytest_configure",
    "pytest_unconfigure",
]

# Children that exit are reaped by their parent a moment after they exit; this is
# how long a finished test's stragglers get before they count as leaks.
_REAP_GRACE = 2.0


_SESSION_TMP_KEY = "_agentree_session_tmp"


def pytest_configure(config: pytest.Config) -> None:
    """Point ``TMPDIR`` at a fresh directory for this test session."""
    path = tempfile.mkdtemp(prefix="agentree-tests-")
    setattr(config, _SESSION_TMP_KEY, (path, os.environ.get("TMPDIR")))
    os.environ["TMPDIR"] = path
    tempfile.tempdir = None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Restore ``TMPDIR`` and remove the session's directory."""
    saved = getattr(config, _SESSION_TMP_KEY, None)
    if saved is None:
        return
    path, previous = saved
    if previous is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = previous
    tempfile.tempdir = None
    shutil.rmtree(path, ignore_errors=True)


def _tmp_entries() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "agentree-*")))


def leftover_processes(before: set[int]) -> list[psutil.Process]:
    """This process's descendants that did not exist in ``before`` and still live."""
    procs = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    _gone, alive = psutil.wait_procs(procs, timeout=_REAP_GRACE)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(autouse=True)
def agentree_leak_check() -> Iterator[None]:
    """Fail the test if it leaves processes or agentree temp dirs/sockets behind."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    tmp_before = _tmp_entries()
    yield
    leaked = leftover_processes(before)
    described = []
    for proc in leaked:
        try:
            described.append(f"pid {proc.pid}: {' '.join(proc.cmdline())}")
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    tmp_leaked = sorted(_tmp_entries() - tmp_before)
    problems = []
    if described:
        problems.append("processes left running:\n  " + "\n  ".join(described))
    if tmp_leaked:
        problems.append("temp dirs/sockets left behind:\n  " + "\n  ".join(tmp_leaked))
    if problems:
        pytest.fail("agentree leak check failed: " + "\n".join(problems), pytrace=False)
