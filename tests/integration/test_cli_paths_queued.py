"""``agentree tree``: calls queued on an agent's own caps, and titles with whole paths."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.integration.test_cli_tree import (
    HAVE_SETPROCTITLE,
    UP_TIMEOUT,
    cli,
    running_tree,
    tree_json,
    wait_for_line,
)

POLL_TIMEOUT = 30.0


def _rows_when(root: int, ready: Any) -> dict[str, dict[str, Any]]:
    """Rows by path once ``ready(rows)`` holds (the calls reach the agent's caps
    after the tree printed its line); bounded."""
    deadline = time.monotonic() + POLL_TIMEOUT
    while True:
        rows = {r["path"]: r for r in tree_json(root, "--no-cpu")["rows"]}
        if ready(rows) or time.monotonic() > deadline:
            return rows


def test_calls_queued_on_an_agents_own_caps() -> None:
    with running_tree("queued") as tree:
        rows = _rows_when(
            tree.root,
            lambda rows: (
                rows.get("root/gate", {}).get("calls_queued") == 3
                and any(
                    r["calls_queued"] == 2 for p, r in rows.items() if p.startswith("team/sgate")
                )
            ),
        )
        # An agent of a plain nursery: its actor row counts what waits on its caps
        # (two on max_concurrency=1, one on the group "llm" of one).
        gate = rows["root/gate"]
        assert gate["pid"] == tree.info["gate"]
        assert gate["calls_queued"] == 3
        assert gate["calls_running"] >= 2
        # A supervised agent: its row adds the calls waiting on its own cap to those
        # waiting for an incarnation (none here).
        (sgate,) = [r for p, r in rows.items() if p.startswith("team/sgate")]
        assert sgate["pid"] == tree.info["sgate"]
        assert sgate["calls_queued"] == 2
        assert sgate["calls_running"] == 3
        # Nothing waits anywhere else.
        others = [
            r["calls_queued"]
            for p, r in rows.items()
            if r["pid"] not in (tree.info["gate"], tree.info["sgate"])
        ]
        assert set(others) <= {0, None}


def test_titles_and_rows_carry_the_whole_path() -> None:
    with running_tree("queued") as tree:
        rows = {r["path"]: r for r in tree_json(tree.root, "--no-cpu")["rows"]}
        # The agent started by the plain actor app: named "app/helper", its path is
        # root/app/helper (the owner's name is not repeated).
        assert rows["root/app/helper"]["pid"] == tree.info["helper"]
        assert "root/app" in rows
        pid = tree.info["helper"]
        title = "agentree[root/app/helper]"
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        assert comm == title[-15:]
        if HAVE_SETPROCTITLE:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
            assert cmdline.decode() == f"{title} root={tree.root}"


def test_root_in_its_own_repl_is_not_wedged() -> None:
    with running_tree("rootrepl") as tree:
        assert tree.proc.stdout is not None
        wait_for_line(tree.proc.stdout, "Paused in actor 'root'")
        # The prompt follows the header: wait until the root reads its stdin.
        deadline = time.monotonic() + UP_TIMEOUT
        view = tree_json(tree.root, "--no-cpu", "--timeout", "0.3")
        while not view["in_repl"] and time.monotonic() < deadline:
            view = tree_json(tree.root, "--no-cpu", "--timeout", "0.3")
        assert view["in_repl"]
        assert view["wedged"] is None
        rows = {row["pid"]: row for row in view["rows"]}
        assert rows[tree.root]["state"] == "in a REPL"
        assert rows[tree.info["child"]]["path"] == "agentree[root/child]"
        done = cli("tree", "--plain", "--no-cpu", "--timeout", "0.3")
        assert "IN A REPL" in done.stdout, done.stdout
        assert "WEDGED" not in done.stdout
        # End of input quits the REPL; then the tree stops.
        assert tree.proc.stdin is not None
        tree.proc.stdin.close()


def test_a_root_blocked_on_stdin_outside_debug_mode_is_wedged() -> None:
    """Reading stdin counts as a REPL only for a tree in debug mode."""
    with running_tree("stdin") as tree:
        deadline = time.monotonic() + UP_TIMEOUT
        view = tree_json(tree.root, "--no-cpu", "--timeout", "0.3")
        while not view["wedged"] and time.monotonic() < deadline:
            view = tree_json(tree.root, "--no-cpu", "--timeout", "0.3")
        assert view["wedged"]
        assert not view["in_repl"]
        rows = {row["pid"]: row for row in view["rows"]}
        assert rows[tree.root]["state"] == "wedged (not answering)"
        assert tree.proc.stdin is not None
        tree.proc.stdin.close()
