"""How ``agentree tree`` finds trees: only private directories and files of this user."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from agentree._cli._trees import find_trees
from agentree._proctitle import actor_title, short_title


def _tree_dir(base: Path, name: str, **changes: object) -> Path:
    path = base / name
    path.mkdir(mode=0o700)
    data = {
        "version": 1,
        "pid": os.getpid(),
        "name": "root",
        "uuid": "u" * 32,
        "socket": str(path / "x.sock"),
        "secret": "00" * 32,
        "started": time.time(),
        "argv": ["prog"],
    }
    data.update(changes)
    fd = os.open(path / "control.json", os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    return path


def _found(base: Path) -> list[str]:
    return [os.path.basename(t.dir) for t in find_trees(str(base))]


def test_a_private_tree_of_ours_is_found(tmp_path: Path) -> None:
    _tree_dir(tmp_path, "agentree-ok")
    (tmp_path / "other-dir").mkdir()
    assert _found(tmp_path) == ["agentree-ok"]
    tree = find_trees(str(tmp_path))[0]
    assert (tree.pid, tree.name, tree.secret, tree.argv) == (
        os.getpid(),
        "root",
        bytes(32),
        ("prog",),
    )


def test_a_control_file_others_can_read_is_ignored(tmp_path: Path) -> None:
    path = _tree_dir(tmp_path, "agentree-open-file")
    os.chmod(path / "control.json", 0o644)
    assert _found(tmp_path) == []


def test_a_directory_others_can_enter_is_ignored(tmp_path: Path) -> None:
    path = _tree_dir(tmp_path, "agentree-open-dir")
    os.chmod(path, 0o750)
    assert _found(tmp_path) == []


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    real = _tree_dir(tmp_path / "elsewhere", "agentree-real")
    base = tmp_path / "base"
    base.mkdir()
    # A link to a private directory, and a private directory with a linked file.
    (base / "agentree-link").symlink_to(real)
    linked = base / "agentree-linked-file"
    linked.mkdir(mode=0o700)
    (linked / "control.json").symlink_to(real / "control.json")
    assert _found(base) == []


def test_a_dead_or_recycled_root_is_ignored(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    _tree_dir(tmp_path, "agentree-dead", pid=dead.pid)
    # A control file older than the process with its pid: the pid was reused.
    _tree_dir(tmp_path, "agentree-recycled", started=1.0)
    assert _found(tmp_path) == []


def test_a_socket_outside_the_directory_is_ignored(tmp_path: Path) -> None:
    _tree_dir(tmp_path, "agentree-elsewhere", socket="/tmp/some.sock")
    assert _found(tmp_path) == []


def test_garbage_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "agentree-garbage"
    path.mkdir(mode=0o700)
    fd = os.open(path / "control.json", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"{not json")
    os.close(fd)
    _tree_dir(tmp_path, "agentree-missing", pid="nope")
    assert _found(tmp_path) == []


def test_titles() -> None:
    assert actor_title("app/planner#3", 1234) == "agentree[app/planner#3] root=1234"
    assert actor_title("forkserver", None) == "agentree[forkserver]"
    # comm keeps 15 bytes: the end of the bracketed path, without the root pid.
    assert short_title("agentree[app] root=1") == "agentree[app]"
    assert short_title("agentree[app/planner#3] root=1") == "[app/planner#3]"
