"""pytest plugin for agentree programs: a root-actor fixture and an opt-in leak check.

Installed with agentree through the ``pytest11`` entry point, so pytest loads it by
itself (``-p no:agentree`` turns it off). Without the entry point (a checkout on
``PYTHONPATH``), load it from the top-level ``conftest.py``::

    pytest_plugins = ["agentree.testing.plugin"]

It gives:

- the fixture ``agentree_root`` (needs pytest-trio): the test runs inside a root
  actor, opened with the keyword arguments of ``open_root_actor`` given by an
  ``@pytest.mark.agentree(...)`` marker, and closed after the test;
- the leak check, off by default: ``--agentree-leak-check`` on the command line or
  ``agentree_leak_check = true`` in the ini file. Each test then fails if it leaves
  a process, an agentree socket file or an agentree temp directory behind (leaked
  processes are killed, so that one leak does not poison the tests after it). The
  session gets a temp dir of its own (``TMPDIR``, inherited by every child), so that
  runs side by side on one machine never see each other's directories, and on Linux
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
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

__all__ = [
    "agentree_leak_check",
    "agentree_root",
    "leak_check_enabled",
    "leftover_processes",
    "pytest_addoption",
    "pytest_configure",
    "pytest_unconfigure",
]

# Children that exit are reaped by their parent a moment after they exit; this is
# how long a finished test's stragglers get before they count as leaks.
_REAP_GRACE = 2.0

_SESSION_TMP_KEY = "_agentree_session_tmp"
_PR_SET_CHILD_SUBREAPER = 36
_INI = "agentree_leak_check"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--agentree-leak-check`` and the ini option of the same meaning."""
    group = parser.getgroup("agentree")
    group.addoption(
        "--agentree-leak-check",
        action="store_true",
        default=None,
        help="fail each test that leaves a process, socket file or agentree temp dir",
    )
    parser.addini(
        _INI,
        type="bool",
        default=False,
        help="fail each test that leaves a process, socket file or agentree temp dir",
    )


def leak_check_enabled(config: pytest.Config) -> bool:
    """Whether the leak check is on (command line first, then the ini file)."""
    option = config.getoption("agentree_leak_check", default=None)
    if option is not None:
        return bool(option)
    return bool(config.getini(_INI))


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_zombies(before: set[int]) -> None:
    """Reap new zombie children (orphans adopted through the subreaper)."""
    import psutil

    for proc in psutil.Process().children():
        if proc.pid in before:
            continue
        with contextlib.suppress(psutil.NoSuchProcess, ChildProcessError):
            if proc.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(proc.pid, os.WNOHANG)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; with the leak check on, a session ``TMPDIR`` and subreaper."""
    config.addinivalue_line(
        "markers",
        "agentree(**kwargs): keyword arguments of open_root_actor for the agentree_root fixture",
    )
    if not leak_check_enabled(config):
        return
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


def leftover_processes(before: set[int]) -> list[Any]:
    """This process's descendants that did not exist in ``before`` and still live.

    Returns ``psutil.Process`` objects (psutil is needed for the leak check).
    """
    import psutil

    procs = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    _gone, alive = psutil.wait_procs(procs, timeout=_REAP_GRACE)
    return [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(autouse=True)
def agentree_leak_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """With the leak check on: fail the test if it leaves processes or temp dirs behind."""
    if not leak_check_enabled(request.config):
        yield
        return
    import psutil

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


@pytest.fixture
async def agentree_root(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The test runs inside a root actor; this is its :class:`~agentree.Actor`.

    Keyword arguments for :func:`agentree.open_root_actor` come from an
    ``@pytest.mark.agentree(...)`` marker (the closest one). Needs pytest-trio
    (``trio_mode = true``, or ``@pytest.mark.trio`` on the test).
    """
    from .._root import open_root_actor

    marker = request.node.get_closest_marker("agentree")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    async with open_root_actor(**kwargs) as actor:
        yield actor
