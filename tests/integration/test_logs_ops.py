"""Logs: every line names its actor and pid; children's records reach the root whole,
in order, and none is lost when a child dies right after logging; per-actor levels;
JSON lines."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

import agentree
from tests.integration import _ops_funcs

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 30


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected() -> Iterator[Collect]:
    handler = Collect()
    logger = logging.getLogger("agentree")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        agentree.log.configure(None, "root")


def _user(handler: Collect) -> list[logging.LogRecord]:
    return [r for r in handler.records if r.name == "agentree.user"]


async def test_records_of_a_child_that_dies_at_once_all_reach_the_root(
    collected: Collect,
) -> None:
    count = 400
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(loglevel="warning", report_exits=True) as an:
            portal = await an.run_in_actor(
                _ops_funcs.log_and_die, count=count, message="last words", name="dier"
            )
            ended = await portal.wait_for_exit()
    assert ended.returncode == 0
    records = _user(collected)
    assert [r.getMessage() for r in records] == [f"last words {i}" for i in range(count)]
    assert {(r.actor, r.actor_pid) for r in records} == {("dier", ended.pid)}  # type: ignore[attr-defined]
    assert ended.pid != os.getpid()


async def test_loglevel_per_actor(collected: Collect) -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            chatty = await an.start_actor(
                "chatty", enable_modules=[_ops_funcs.MODULE], loglevel="info"
            )
            quiet = await an.start_actor("quiet", enable_modules=[_ops_funcs.MODULE])
            await chatty.run(_ops_funcs.log_info, message="from chatty")
            await quiet.run(_ops_funcs.log_info, message="from quiet")
            await an.cancel()
    messages = [(r.actor, r.getMessage()) for r in _user(collected)]  # type: ignore[attr-defined]
    assert messages == [("chatty", "from chatty")]


def _run_logs(count: int, size: int, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "tests/integration/scripts/ops_logs.py"),
            str(count),
            str(size),
        ],
        capture_output=True,
        text=True,
        env=full,
        timeout=TIMEOUT,
        check=True,
        cwd=REPO,
    )


def test_children_lines_never_interleave_and_name_actor_and_pid() -> None:
    count, size = 100, 3000
    done = _run_logs(count, size)
    lines = [line for line in done.stderr.splitlines() if "agentree.user" in line]
    pattern = re.compile(
        r"^WARNING \[(c\d|root) (\d+)\] agentree.user: (x{" + str(size) + r"} (\d+)|root done)$"
    )
    per_actor: dict[str, list[int]] = {}
    pids: dict[str, set[str]] = {}
    for line in lines:
        match = pattern.match(line)
        assert match, line[:200]
        actor = match.group(1)
        pids.setdefault(actor, set()).add(match.group(2))
        if match.group(4) is not None:
            per_actor.setdefault(actor, []).append(int(match.group(4)))
    # Every record whole, each actor's in its order, one pid per actor.
    assert per_actor == {f"c{i}": list(range(count)) for i in range(3)}
    assert all(len(p) == 1 for p in pids.values())
    assert len({next(iter(p)) for p in pids.values()}) == 4
    assert lines[-1].endswith("root done")


def test_json_lines() -> None:
    done = _run_logs(5, 10, AGENTREE_LOG_FORMAT="json")
    records = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    user = [r for r in records if r["logger"] == "agentree.user"]
    assert len(user) == 16
    assert {r["actor"] for r in user} == {"c0", "c1", "c2", "root"}
    for r in user:
        assert set(r) >= {"time", "level", "actor", "pid", "logger", "message"}
        assert r["level"] == "WARNING"
