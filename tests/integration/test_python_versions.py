"""agentree on the other supported Python versions: a tiny program under each."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import trio

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = Path(__file__).parent / "scripts" / "tiny_program.py"


VENV_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "agentree-tests"


def _usable(python: str) -> bool:
    """Whether ``python`` runs and can import trio and msgspec."""
    try:
        done = subprocess.run(
            [python, "-c", "import trio, msgspec"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _interpreter(version: str) -> str | None:
    """A ``python{version}`` binary: on PATH if it runs, else pyenv's."""
    found = [shutil.which(f"python{version}")]
    found += sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}"))
    )
    for python in filter(None, found):
        try:
            ok = subprocess.run([python, "-c", "pass"], capture_output=True, timeout=30).returncode
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ok == 0:
            return python
    return None


def _python_with_deps(version: str) -> str:
    """A ``python{version}`` that can import trio and msgspec.

    Uses the interpreter as it is when it already can; otherwise builds (once, in a
    cache dir) a venv for it with trio and msgspec from PyPI, so that the test runs on
    a fresh machine instead of being skipped.
    """
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"python{version} is not installed on this machine")
    if _usable(python):
        return python
    venv = VENV_CACHE / f"py{version}"
    venv_python = str(venv / "bin" / "python")
    if not _usable(venv_python):
        subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True, timeout=120)
        subprocess.run(
            [
                venv_python,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "trio>=0.25",
                "msgspec>=0.18",
            ],
            check=True,
            timeout=600,
        )
    return venv_python


@pytest.fixture(scope="session", params=["3.12", "3.13"])
def other_python(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(version, interpreter)`` for each other supported Python version."""
    return request.param, _python_with_deps(request.param)


async def test_tiny_program_on_other_pythons(other_python: tuple[str, str]) -> None:
    """Spawn, RPC and a remote error, with both start methods, on 3.12 and 3.13."""
    version, python = other_python
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with trio.fail_after(20):
        done = await trio.run_process(
            [python, str(PROGRAM)],
            capture_stdout=True,
            capture_stderr=True,
            env=env,
            check=False,
        )
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, stderr
    report = json.loads(done.stdout)
    assert report["python"] == [int(part) for part in version.split(".")]
    for start_method in ("forkserver", "subprocess"):
        seen = report[start_method]
        assert seen["rpc"] == 42, (start_method, seen, stderr)
        assert seen["child_pid_differs"] is True
        assert seen["whoami"]["name"] == "daemon"
        assert seen["whoami"]["is_root"] is False
        assert seen["result"] == 3
        assert seen["error"] == [True, "from 3.x", "raise_value_error"]
