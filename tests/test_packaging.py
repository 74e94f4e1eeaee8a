"""agentree as its users get it: the built sdist and wheel, installed into a fresh venv.

One module-scoped fixture builds the sdist and the wheel with ``python -m build`` (the
wheel is built from the sdist, so a file missing from the sdist fails here too) and
installs the wheel, with mypy, into a fresh venv made by this interpreter. Every
command then runs from a temp directory with a scrubbed environment, so the working
tree is not on ``sys.path``: what runs is what a user's ``pip install`` gives them.

These tests are slow (about half a minute on the first one, for the build and the
venv) and marked ``slow``: ``pytest -m "not slow"`` skips them while you iterate. The
README's test command and CI run them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import agentree

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
# Generous: a cold build or install on a loaded 2-core machine.
TIMEOUT = 600


@dataclass(frozen=True)
class Installed:
    """The built distributions and a fresh venv with the wheel installed."""

    wheel: Path
    sdist: Path
    venv: Path
    workdir: Path  # a temp dir outside the working tree; commands run from here

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.venv / "bin" / "python"

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """Run a command from ``workdir`` with an environment that has no ``PYTHONPATH``."""
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "MYPYPATH"}
        }
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), env.get("PATH", "")])
        return subprocess.run(
            [str(arg) for arg in args],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )


def _check(done: subprocess.CompletedProcess[str]) -> str:
    """Fail with the command's output unless it exited 0; return its stdout."""
    assert done.returncode == 0, (
        f"{' '.join(done.args)} exited {done.returncode}\n"
        f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the sdist and the wheel; install the wheel and mypy into a fresh venv."""
    root = tmp_path_factory.mktemp("packaging")
    dist, venv, workdir = root / "dist", root / "venv", root / "project"
    workdir.mkdir()
    # Build the way CI and a release do; the build runs in its own isolated env.
    _check(
        subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(dist), str(REPO)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    )
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert len(wheels) == 1, wheels
    assert len(sdists) == 1, sdists
    _check(
        subprocess.run(
            [sys.executable, "-m", "venv", str(venv)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    )
    env = Installed(wheel=wheels[0], sdist=sdists[0], venv=venv, workdir=workdir)
    _check(
        env.run(
            env.python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            env.wheel,
            "mypy>=1.10",
        )
    )
    return env


# -- what the distributions hold -------------------------------------------------------


def test_wheel_holds_only_the_package(installed: Installed) -> None:
    """The wheel holds ``agentree/`` and its metadata: no tests, bench or examples."""
    with zipfile.ZipFile(installed.wheel) as whl:
        names = whl.namelist()
    dist_info = f"agentree-{agentree.__version__}.dist-info/"
    outside = [n for n in names if not n.startswith(("agentree/", dist_info))]
    assert outside == []
    for expected in ("__init__.py", "py.typed", "__main__.py", "_demo.py", "_child.py"):
        assert f"agentree/{expected}" in names, expected
    # Every module of the package made it in (a subpackage missing from
    # packages.find would be absent here and only fail at import time).
    sources = {
        str(path.relative_to(REPO))
        for path in (REPO / "agentree").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sources - set(names) == set()
    assert f"{dist_info}entry_points.txt" in names


def test_wheel_metadata(installed: Installed) -> None:
    """Version (from ``agentree/_version.py``), classifiers and the console script."""
    with zipfile.ZipFile(installed.wheel) as whl:
        dist_info = f"agentree-{agentree.__version__}.dist-info/"
        metadata = whl.read(f"{dist_info}METADATA").decode()
        entry_points = whl.read(f"{dist_info}entry_points.txt").decode()
    assert f"\nVersion: {agentree.__version__}\n" in metadata
    for version in ("3.11", "3.12", "3.13"):
        assert f"Classifier: Programming Language :: Python :: {version}\n" in metadata
    assert "Classifier: Typing :: Typed\n" in metadata
    assert "License-Expression: MIT\n" in metadata
    assert "agentree = agentree.__main__:main" in entry_points


def test_sdist_holds_the_sources(installed: Installed) -> None:
    """The sdist has what a wheel is built from, the typed marker included."""
    prefix = f"agentree-{agentree.__version__}/"
    with tarfile.open(installed.sdist) as sdist:
        names = set(sdist.getnames())
    for expected in ("pyproject.toml", "README.md", "LICENSE", "agentree/py.typed"):
        assert prefix + expected in names, expected


def test_version_is_single_sourced() -> None:
    """``agentree.__version__`` is ``_version.__version__``; pyproject does not repeat it."""
    from agentree import _version

    assert agentree.__version__ == _version.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)?", agentree.__version__)
    pyproject = (REPO / "pyproject.toml").read_text()
    assert not re.search(r"^version\s*=\s*[\"']", pyproject, re.MULTILINE)
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = { attr = "agentree._version.__version__" }' in pyproject


# -- the installed wheel ---------------------------------------------------------------


def test_installed_package_is_the_wheel(installed: Installed) -> None:
    """From a temp dir, ``import agentree`` finds the venv's copy, not the working tree."""
    out = _check(
        installed.run(
            installed.python,
            "-c",
            "import agentree, sys; print(agentree.__version__); print(agentree.__file__)",
        )
    )
    version, path = out.splitlines()
    assert version == agentree.__version__
    assert Path(path).is_relative_to(installed.venv), path
    assert not Path(path).is_relative_to(REPO), path


def test_demo_runs_from_the_installed_wheel(installed: Installed) -> None:
    """``python -m agentree demo`` takes the whole tour from the installed package."""
    out = _check(installed.run(installed.python, "-m", "agentree", "demo"))
    steps = [line[:5] for line in out.splitlines() if line.startswith("[")]
    assert steps == [f"[{i}/8]" for i in range(1, 9)], out
    assert "[5/8] infected asyncio: asyncio napped 0.05s in 'aio'" in out, out
    assert "0 processes left" in out, out


def test_console_script(installed: Installed) -> None:
    """The ``agentree`` script: ``--version``, ``--help``, ``demo``; no command is a
    usage error."""
    script = installed.venv / "bin" / "agentree"
    assert _check(installed.run(script, "--version")) == f"agentree {agentree.__version__}\n"
    assert "demo" in _check(installed.run(script, "--help"))
    assert "--json" in _check(installed.run(script, "tree", "--help"))
    # The pytest plugin is declared for pytest to find by itself.
    plugins = _check(
        installed.run(
            installed.python,
            "-c",
            "from importlib.metadata import entry_points as e; "
            "print([p.value for p in e(group='pytest11') if p.name == 'agentree'])",
        )
    )
    assert plugins.strip() == "['agentree.testing.plugin']"
    # The script is not a .py file: the children must not need the root's __main__.
    assert "0 processes left" in _check(installed.run(script, "demo"))
    bare = installed.run(script)
    assert bare.returncode == 2
    assert "usage: agentree" in bare.stderr


# -- a user's project type-checks against the installed wheel --------------------------

GOOD = """\
import trio

import agentree


async def double(x: int) -> int:
    return 2 * x


async def main() -> None:
    async with agentree.open_nursery() as an:
        portal: agentree.Portal = await an.start_actor("doubler", enable_modules=[__name__])
        answer = await portal.run(double, x=21)
        print(answer)
        stopped: bool = await portal.cancel_actor()
        print(stopped)
    name: str = agentree.current_actor().name
    print(name, agentree.__version__)


if __name__ == "__main__":
    trio.run(main)
"""

BAD = """\
import agentree


async def main() -> None:
    async with agentree.open_nursery() as an:
        await an.start_actor(42)
        portal = await an.start_actor("fine")
        stopped: str = await portal.cancel_actor()
        print(stopped)
"""


def _mypy(installed: Installed, name: str, source: str) -> subprocess.CompletedProcess[str]:
    path = installed.workdir / name
    path.write_text(source)
    # Strict, as a careful user runs it; the venv's mypy sees only the venv's packages.
    return installed.run(
        installed.python,
        "-m",
        "mypy",
        "--strict",
        "--no-error-summary",
        "--cache-dir",
        installed.workdir / ".mypy_cache",
        name,
    )


def test_user_project_type_checks(installed: Installed) -> None:
    """A correct program passes ``mypy --strict``: agentree is typed for its users
    (without ``py.typed`` mypy reports the import as untyped, an error under strict)."""
    done = _mypy(installed, "good.py", GOOD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "", done.stdout


def test_user_project_wrong_argument_is_reported(installed: Installed) -> None:
    """A wrong argument type to a public API is reported, naming the call and types."""
    done = _mypy(installed, "bad.py", BAD)
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, done.stdout
    assert errors[0] == (
        'bad.py:6: error: Argument 1 to "start_actor" of "ActorNursery" has incompatible'
        ' type "int"; expected "str"  [arg-type]'
    ), done.stdout
    # The return type reaches the user too: bool is not str.
    assert errors[1].startswith("bad.py:8: error: Incompatible types in assignment"), done.stdout
    assert '"bool"' in errors[1], done.stdout
