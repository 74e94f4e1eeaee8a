"""pytest plugin: fail any test that leaks a process, socket file or temp dir.

The check runs after each test (after pytest-trio has finished the test's trio run):
every process started during the test must be gone, and so must every ``agentree-*``
directory in the temp dir. Leaked processes are killed so that one leak does not
poison the tests after it.

The session gets a temp dir of its own (``TMPDIR``, inherited by every child), so
that runs side by side on one machine never see each other's directories. On Linux
the pytest process becomes a child subreaper: a process orphaned by a test is
re-parented to pytest instead of init, so the check still sees it.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import shutil
import sys
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
_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_zombies(before: set[int]) -> None:
    """Reap new zombie children (orphans adopted through the subreaper)."""
    for proc in psutil.Process().children():
        if proc.pid in before:
            continue
        with contextlib.suppress(psutil.NoSuchProcess, ChildProcessError):
            if proc.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(proc.pid, os.WNOHANG)


def pytest_configure(config: pytest.Config) -> None:
    """Point ``TMPDIR`` at a fresh directory for this session; adopt orphans."""
    _become_subreaper()
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
    _reap_zombies(before)
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
