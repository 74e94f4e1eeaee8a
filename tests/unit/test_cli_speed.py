"""The command line starts lean: no trio, no runtime, yet the whole API on first use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agentree._cli import _wire
from agentree._ipc import _auth, _transport
from agentree._runtime import _control

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _imported(stderr: str) -> set[str]:
    """The modules ``-X importtime`` reports."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_wire_constants_match_their_owners() -> None:
    """The command line's copies of the runtime's names are the runtime's own."""
    assert _wire.MAGIC == _auth._MAGIC
    assert _wire.NONCE == _auth._NONCE
    assert _wire.MAC == _auth._MAC
    secret, a, b = b"s" * 32, b"a" * 32, b"b" * 32
    assert _wire.mac(secret, b"c", a, b) == _auth._mac(secret, b"c", a, b)
    assert _wire.TMP_PREFIX == _transport.TMP_PREFIX
    assert _wire.CONTROL_FILE == _control.CONTROL_FILE
    assert _wire.SNAPSHOT_NS == _control.SNAPSHOT_NS
    assert _wire.STOP_NS == _control.STOP_NS


def test_tree_command_imports_no_trio(tmp_path: Path) -> None:
    """``python -m agentree tree`` imports neither trio nor the runtime."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "agentree", "tree", "--tmpdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no running agentree trees" in done.stdout
    imported = _imported(done.stderr)
    assert "agentree._cli._tree" in imported
    heavy = {"trio", "agentree._runtime", "agentree.agents", "agentree._ipc", "rich", "psutil"}
    assert heavy & imported == set()


def test_console_script_is_lean_and_loads_the_api_on_first_use(tmp_path: Path) -> None:
    """A program run as the ``agentree`` script starts lean; the first public name
    used imports the whole API (the runtime's hooks included), as ``import agentree``
    does elsewhere."""
    script = tmp_path / "agentree"
    script.write_text(
        "import sys\n"
        "import agentree\n"
        "assert agentree._lean, 'not lean'\n"
        "assert 'trio' not in sys.modules, 'trio imported'\n"
        "assert agentree.open_nursery.__module__ == 'agentree._nursery'\n"
        "assert not agentree._lean\n"
        "for m in ('agentree._runtime._control', 'agentree.agents', 'agentree.supervise'):\n"
        "    assert m in sys.modules, m\n"
        "from agentree import Agent, __all__\n"
        "assert all(hasattr(agentree, name) for name in __all__)\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_any_other_program_imports_everything() -> None:
    """``import agentree`` from a program (or ``-c``) imports the API at once."""
    code = (
        "import sys, agentree\n"
        "assert not agentree._lean\n"
        "assert 'agentree._runtime._control' in sys.modules\n"
        "assert 'agentree.agents' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_another_package_run_with_dash_m_is_not_lean(tmp_path: Path) -> None:
    """``python -m other`` whose package imports agentree gets the whole API."""
    pkg = tmp_path / "otherpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import sys, agentree\nassert not agentree._lean\n")
    (pkg / "__main__.py").write_text("import sys\nassert 'agentree._nursery' in sys.modules\n")
    env = _env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    done = subprocess.run(
        [sys.executable, "-m", "otherpkg"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
