"""``agentree tree`` and ``agentree stop`` against live trees started by the tests.

Each tree is a real program (``scripts/ops_tree.py``) in its own process group; the
command line runs as ``python -m agentree`` in another process, as a user would run
it. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HAVE_SETPROCTITLE = importlib.util.find_spec("setproctitle") is not None
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "integration" / "scripts" / "ops_tree.py"
UP_TIMEOUT = 30.0
CLI_TIMEOUT = 30.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class Tree:
    """A running ``ops_tree.py`` and what it printed once up."""

    def __init__(self, proc: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.proc = proc
        self.info = info
        self.root: int = info["root"]


@contextlib.contextmanager
def running_tree(*args: str) -> Iterator[Tree]:
    """Start ``ops_tree.py ARGS`` and wait for its JSON line; stop it at the end."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], UP_TIMEOUT)
        assert ready, f"ops_tree.py {args} did not come up within {UP_TIMEOUT} s"
        line = proc.stdout.readline()
        assert line, f"ops_tree.py {args} ended early (status {proc.poll()})"
        yield Tree(proc, json.loads(line))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def cli(*args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``python -m agentree ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "agentree", *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO,
        timeout=timeout,
        check=False,
    )


def tree_json(root: int, *extra: str) -> dict[str, Any]:
    """``agentree tree --json``: the tree whose root is ``root``."""
    done = cli("tree", "--json", *extra)
    assert done.returncode == 0, done.stderr
    trees = [t for t in json.loads(done.stdout)["trees"] if t["root_pid"] == root]
    assert len(trees) == 1, done.stdout
    return trees[0]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("command", [(), ("demo",), ("tree",), ("stop",)])
def test_help_on_every_command(command: tuple[str, ...]) -> None:
    done = cli(*command, "--help")
    assert done.returncode == 0
    assert "usage:" in done.stdout


def wait_for_line(stream: Any, needle: str) -> None:
    """Wait up to ``UP_TIMEOUT`` for a line of ``stream`` holding ``needle``.

    The lines are read in a thread: select() on the pipe would miss a line already
    in the text stream's buffer (two lines arriving in one read).
    """
    seen: queue.Queue[bool] = queue.Queue()

    def watch() -> None:
        for line in stream:
            if needle in line:
                seen.put(True)
                return
        seen.put(False)

    threading.Thread(target=watch, daemon=True).start()
    try:
        assert seen.get(timeout=UP_TIMEOUT), f"the tree ended before printing {needle!r}"
    except queue.Empty:
        raise AssertionError(f"no {needle!r} within {UP_TIMEOUT} s") from None


def test_tree_json_nested_three_deep_with_an_agent() -> None:
    with running_tree("nested") as tree:
        view = tree_json(tree.root)
        assert view["wedged"] is None
        rows = {row["path"]: row for row in view["rows"]}
        pids = tree.info["pids"]
        expected = {
            "root": tree.root,
            "root/app": pids["app"],
            "root/app/lvl2": pids["lvl2"],
            "root/app/deep2": pids["deep2"],
            "root/app/deep2/lvl1": pids["lvl1"],
            "root/app/deep2/deep1": pids["deep1"],
            "team/napper#1": pids["napper"],
        }
        assert {path: rows[path]["pid"] for path in expected} == expected
        assert rows["root/app/deep2/deep1"]["depth"] == 3
        for path in expected:
            row = rows[path]
            assert row["state"] == "running"
            assert row["uptime"] > 0
            assert row["rss"] > 1_000_000
            assert row["cpu"] is not None
            assert row["questions"] == 0
        napper = rows["team/napper#1"]
        assert (napper["kind"], napper["restarts"], napper["agent"]) == ("agent", 0, "team/napper")
        # The app holds one call (the context holding its subtree) in flight.
        assert rows["root/app"]["calls_running"] == 1
        assert rows["root/app/lvl2"]["calls_running"] == 0


def test_tree_shows_backoff_restarts_queued_calls_and_open_questions() -> None:
    with running_tree("states") as tree:
        rows = {row["path"]: row for row in tree_json(tree.root, "--no-cpu")["rows"]}
        napper = rows["team/napper#1"]
        assert (napper["state"], napper["pid"], napper["restarts"]) == ("backoff", None, 1)
        assert napper["calls_queued"] == 1
        asker = rows["team/asker#1"]
        assert asker["state"] == "running"
        assert asker["calls_running"] == 1
        # The question waits at the supervisor's level, in the root.
        assert rows["root"]["questions"] == 1


def test_actor_in_a_repl_is_shown_so() -> None:
    with running_tree("repl") as tree:
        assert tree.proc.stdout is not None
        wait_for_line(tree.proc.stdout, "Paused in actor 'pauser'")
        rows = {row["pid"]: row for row in tree_json(tree.root, "--no-cpu")["rows"]}
        assert rows[tree.info["child"]]["state"] == "in a REPL"
        assert rows[tree.root]["state"] == "running"
        # End of input quits the REPL; then the tree can stop.
        assert tree.proc.stdin is not None
        tree.proc.stdin.close()


def test_tree_plain_draws_the_tree() -> None:
    with running_tree("nested") as tree:
        done = cli("tree", "--plain", "--no-cpu")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert any(f"root pid {tree.root}" in line for line in lines)
        deep1 = next(line for line in lines if "deep1" in line)
        assert re.match(r"^[│ ]  [│ ]  └─ deep1 ", deep1), deep1
        assert str(tree.info["pids"]["deep1"]) in deep1


def test_stop_path_stops_one_actor_through_its_parent() -> None:
    with running_tree("nested") as tree:
        pid = tree.info["pids"]["lvl1"]
        done = cli("stop", "root/app/deep2/lvl1", "--shutdown", "2")
        assert done.returncode == 0, done.stderr
        assert "lvl1" in done.stdout
        assert wait_gone(pid)
        paths = {row["path"] for row in tree_json(tree.root, "--no-cpu")["rows"]}
        assert "root/app/deep2/lvl1" not in paths
        assert "root/app/deep2/deep1" in paths


def test_stop_agent_through_its_supervisor() -> None:
    with running_tree("nested") as tree:
        pid = tree.info["pids"]["napper"]
        done = cli("stop", "team/napper")
        assert done.returncode == 0, done.stderr
        assert "terminated" in done.stdout
        assert wait_gone(pid)
        rows = {r["path"]: r for r in tree_json(tree.root, "--no-cpu")["rows"]}
        assert rows["team/napper#1"]["state"] == "stopped"
        assert rows["team/napper#1"]["pid"] is None


def test_stop_unknown_path_fails_clearly() -> None:
    with running_tree("nested"):
        done = cli("stop", "root/nope")
        assert done.returncode == 1
        assert "no actor or agent at 'root/nope'" in done.stderr


def test_stop_root_stops_the_whole_tree() -> None:
    with running_tree("nested") as tree:
        tmpdir = tree_json(tree.root, "--no-cpu")["dir"]
        done = cli("stop", "--root", str(tree.root), "--shutdown", "10")
        assert done.returncode == 0, done.stderr
        assert tree.proc.wait(timeout=15) == 143
        for pid in tree.info["pids"].values():
            assert wait_gone(pid)
        assert wait_gone(tree.root)
        assert not os.path.exists(tmpdir)


def test_wedged_root_is_shown_from_proc_without_hanging() -> None:
    with running_tree("wedged") as tree:
        started = time.monotonic()
        view = tree_json(tree.root, "--timeout", "0.5")
        assert time.monotonic() - started < 10.0
        assert view["wedged"]
        assert "did not answer" in view["wedged"]
        rows = {row["pid"]: row for row in view["rows"]}
        assert rows[tree.root]["state"] == "wedged (not answering)"
        # The root spins: /proc sees it using a CPU.
        assert rows[tree.root]["cpu"] > 5.0
        # Its actor (a child of the forkserver) is found by its title.
        assert rows[tree.info["child"]]["path"] == "agentree[root/child]"
        assert any(row["path"] == "agentree[forkserver]" for row in view["rows"])
        # SIGTERM cannot stop a loop that never checkpoints: stop --root escalates.
        done = cli("stop", "--root", str(tree.root), "--shutdown", "0.5")
        assert done.returncode == 0, done.stderr
        assert "killed" in done.stdout
        tree.proc.wait(timeout=15)
        assert wait_gone(tree.info["child"])


def _copy_tree_dir(src: str, base: str, name: str) -> str:
    dst = os.path.join(base, name)
    os.mkdir(dst, 0o700)
    data = json.loads(Path(src, "control.json").read_text())
    # The root's socket stays where it is: a link to it in the copy.
    data["socket"] = os.path.join(dst, os.path.basename(data["socket"]))
    os.symlink(os.path.join(src, os.path.basename(data["socket"])), data["socket"])
    fd = os.open(os.path.join(dst, "control.json"), os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    return dst


def test_another_users_tree_is_invisible() -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to make a directory owned by another user")
    base = tempfile.mkdtemp(prefix="ops-other-")
    try:
        with running_tree("many", "1") as tree:
            real = tree_json(tree.root, "--no-cpu")["dir"]
            # Same control file, three homes: ours (seen), another user's, and one
            # that is not private (both ignored).
            mine = _copy_tree_dir(real, base, "agentree-mine")
            theirs = _copy_tree_dir(real, base, "agentree-theirs")
            os.chown(theirs, 65534, 65534)
            os.chown(os.path.join(theirs, "control.json"), 65534, 65534)
            # And one in a private directory of ours, but with a file of theirs.
            planted = _copy_tree_dir(real, base, "agentree-planted")
            os.chown(os.path.join(planted, "control.json"), 65534, 65534)
            public = _copy_tree_dir(real, base, "agentree-public")
            os.chmod(public, 0o755)
            done = cli("tree", "--json", "--no-cpu", "--tmpdir", base)
            assert done.returncode == 0, done.stderr
            trees = json.loads(done.stdout)["trees"]
            assert [t["dir"] for t in trees] == [mine]
            # Reached through the link: the real root answered with its children.
            assert trees[0]["wedged"] is None
            assert [r["path"] for r in trees[0]["rows"]] == ["root", "root/w0"]
    finally:
        shutil.rmtree(base)


def test_titles_read_back_from_proc() -> None:
    with running_tree("nested") as tree:
        root = tree.root
        # Each actor's title has its whole path from the root (given at spawn).
        paths = {
            "app": "root/app",
            "lvl2": "root/app/lvl2",
            "deep2": "root/app/deep2",
            "lvl1": "root/app/deep2/lvl1",
            "deep1": "root/app/deep2/deep1",
            "napper": "team/napper#1",
        }
        assert set(tree.info["pids"]) == set(paths)
        for name, pid in tree.info["pids"].items():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            title = f"agentree[{paths[name]}]"
            if HAVE_SETPROCTITLE:
                assert cmdline.decode() == f"{title} root={root}"
            assert comm == title[-15:]
        root_comm = Path(f"/proc/{root}/comm").read_text().strip()
        assert root_comm == "agentree[root]"
        forkservers = [
            p
            for p in os.listdir("/proc")
            if p.isdigit()
            and Path(f"/proc/{p}/cmdline").exists()
            and _read(f"/proc/{p}/cmdline") == f"agentree[forkserver] root={root}"
        ]
        assert len(forkservers) == 1 or not HAVE_SETPROCTITLE


def _read(path: str) -> str:
    try:
        return Path(path).read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_fifty_actors_answer_quickly() -> None:
    with running_tree("many", "50") as tree:
        view = tree_json(tree.root, "--no-cpu")
        assert len(view["rows"]) == 51
        # The figure is 300 ms on an idle machine; the bound here allows a busy one.
        assert view["answered_in"] < 2.0
