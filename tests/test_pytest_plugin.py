"""agentree's pytest plugin used from a throwaway project, as its users use it.

Each test writes a small project with ``pytester`` and runs pytest on it in a
subprocess. The plugin is found through a ``pytest11`` entry point declared by a
throwaway distribution on the subprocess's path (as ``pip install agentree`` does),
not through ``pytest_plugins``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]

_LEAKY = """
import subprocess
from pathlib import Path

def test_leaks_a_process():
    proc = subprocess.Popen(["sleep", "30"])
    Path("leaked.pid").write_text(str(proc.pid))
"""

_ROOT_FIXTURE = """
import os

import pytest
import trio

import agentree


def child_pid() -> int:
    return os.getpid()


async def test_runs_in_a_root_actor(agentree_root):
    assert agentree.current_actor() is agentree_root
    assert agentree_root.is_root
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("helper", enable_modules=[__name__])
            assert await portal.run(child_pid) != os.getpid()
            await portal.cancel_actor()


@pytest.mark.agentree(name="custom", start_method="subprocess")
async def test_marker_options(agentree_root):
    assert agentree_root.name == "custom"
    assert agentree_root.options.start_method == "subprocess"
"""


def _kill_leaked(project: pytest.Pytester) -> None:
    """Kill the process the leaky test left (the outer leak check would see it)."""
    pidfile = project.path / "leaked.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    # Orphaned, it was re-parented to this (subreaper) process: reap it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@pytest.fixture
def project(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.Pytester]:
    """A project whose pytest finds agentree's plugin by its entry point only."""
    site = tmp_path / "site"
    dist = site / "agentree_plugin_probe-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: agentree-plugin-probe\nVersion: 0\n"
    )
    (dist / "entry_points.txt").write_text("[pytest11]\nagentree = agentree.testing.plugin\n")
    paths = [str(site), str(REPO), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    try:
        yield pytester
    finally:
        _kill_leaked(pytester)


def test_leak_check_is_off_by_default(project: pytest.Pytester) -> None:
    project.makepyfile(test_leaky=_LEAKY)
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_leak_check_on_the_command_line(project: pytest.Pytester) -> None:
    project.makepyfile(test_leaky=_LEAKY)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--agentree-leak-check")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*agentree leak check failed: processes left running:*", "*sleep 30*"]
    )


def test_leak_check_from_the_ini_file(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\ntrio_mode = true\nagentree_leak_check = true\n")
    project.makepyfile(test_leaky=_LEAKY)
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)


def test_root_fixture_and_marker(project: pytest.Pytester) -> None:
    project.makepyfile(test_root=_ROOT_FIXTURE)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--agentree-leak-check")
    result.assert_outcomes(passed=2)


def test_plugin_can_be_turned_off(project: pytest.Pytester) -> None:
    project.makepyfile(test_leaky=_LEAKY)
    result = project.runpytest_subprocess("-p", "no:agentree", "--agentree-leak-check")
    # Without the plugin its option does not exist.
    assert result.ret == pytest.ExitCode.USAGE_ERROR
