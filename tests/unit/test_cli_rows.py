"""The rows of ``agentree tree`` from a root's answer; what /proc says of a process."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from agentree._cli import _proc
from agentree._cli._view import _walk
from agentree._runtime import Actor


def _node(name: str, pid: int, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "name": name,
        "uuid": f"u-{name}",
        "pid": pid,
        "state": "running",
        "started": time.time(),
        "calls_running": 0,
        "calls_queued": 0,
        "questions": 0,
        "agents": [],
        "children": [],
    }
    node.update(extra)
    return node


def test_child_path_does_not_repeat_the_owners_name() -> None:
    root = Actor("root", is_root=True)
    assert root.path == "root"
    assert root.child_path("app") == "root/app"
    app = Actor("app", path=root.child_path("app"))
    assert app.child_path("deep") == "root/app/deep"
    # An agent started by app is named by its agent path, app/helper.
    assert app.child_path("app/helper") == "root/app/helper"
    # A supervised agent of the root is named by its own path.
    assert root.child_path("team/napper") == "root/team/napper"


def test_rows_follow_actor_paths() -> None:
    helper = _node("app/helper", 12, calls_queued=2)
    app = _node("app", 11, children=[helper])
    rows: list[dict[str, Any]] = []
    _walk(_node("root", 10, children=[app]), "root", 0, rows, [])
    assert [r["path"] for r in rows] == ["root", "root/app", "root/app/helper"]
    # An unsupervised agent's own queue is its actor row's.
    assert rows[2]["calls_queued"] == 2


def test_a_supervised_agents_row_adds_its_own_queue() -> None:
    agent = {
        "path": "team/napper",
        "kind": "agent",
        "state": "running",
        "incarnation": 1,
        "pid": 11,
        "restarts": 0,
        "calls_running": 4,
        "calls_queued": 1,
    }
    host = _node("team/napper", 11, calls_queued=2)
    rows: list[dict[str, Any]] = []
    _walk(_node("root", 10, agents=[agent], children=[host]), "root", 0, rows, [])
    assert [r["path"] for r in rows] == ["root", "team/napper#1"]
    # One waits for the supervisor (a restart), two on the agent's own caps.
    assert rows[1]["calls_queued"] == 3
    assert rows[1]["calls_running"] == 4


def test_reads_stdin() -> None:
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('up', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        for proc in (reader, sleeper):
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"up\n"
        # Up, then blocked in read (or sleep) soon after: bounded wait for it.
        deadline = time.monotonic() + 10
        while not _proc.reads_stdin(reader.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _proc.reads_stdin(reader.pid)
        assert not _proc.reads_stdin(sleeper.pid)
        assert not _proc.reads_stdin(2**22 + 1)  # no such process
    finally:
        for proc in (reader, sleeper):
            proc.kill()
            proc.wait(timeout=10)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
