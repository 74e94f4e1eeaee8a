"""The rows of ``agentree tree``: the roots' answers joined with what /proc says.

A row is a plain dict (it goes out as JSON as it is): ``path``, ``depth``, ``kind``
(``"actor"``, ``"agent"``, ``"supervisor"``, ``"pool"`` or ``"process"``), ``pid``,
``state``, ``uptime`` (seconds), ``restarts``, ``calls_running``, ``calls_queued``,
``questions``, ``cpu`` (percent of one core over the sampling interval) and ``rss``
(bytes). A field nobody knows is ``None``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from . import _proc
from ._trees import NotAnswering, Tree, call
from ._wire import SNAPSHOT_NS

__all__ = ["CpuSampler", "refresh_cpu", "tree_view"]

Row = dict[str, Any]


class CpuSampler:
    """CPU percentages from two looks at each process's CPU time."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[float, float]] = {}

    def percent(self, pid: int, st: _proc.ProcStat) -> float | None:
        """CPU % of one core since the last sample of ``pid`` (then sampled anew)."""
        now = time.monotonic()
        last = self._last.get(pid)
        self._last[pid] = (now, st.cpu)
        if last is None or now - last[0] <= 0:
            return None
        return round(100.0 * (st.cpu - last[1]) / (now - last[0]), 1)


def _row(path: str, depth: int, kind: str, pid: int | None, state: str) -> Row:
    return {
        "path": path,
        "depth": depth,
        "kind": kind,
        "pid": pid,
        "state": state,
        "uptime": None,
        "restarts": None,
        "calls_running": None,
        "calls_queued": None,
        "questions": None,
        "cpu": None,
        "rss": None,
    }


def _walk(node: dict[str, Any], path: str, depth: int, rows: list[Row], uuids: list[str]) -> None:
    agents = {a["pid"]: a for a in node.get("agents", ()) if a.get("pid") is not None}
    row = _row(path, depth, "actor", node.get("pid"), str(node.get("state", "?")))
    row["uuids"] = list(uuids)
    started = node.get("started")
    if isinstance(started, int | float):
        row["uptime"] = max(time.time() - started, 0.0)
    for key in ("calls_running", "calls_queued", "questions"):
        row[key] = node.get(key)
    rows.append(row)
    children = node.get("children", ())
    shown: set[int] = set()
    for child in children:
        pid = child.get("pid")
        agent = agents.get(pid)
        if agent is not None:
            shown.add(pid)
            _walk_agent(child, agent, depth + 1, rows, [*uuids, child.get("uuid", "")])
        else:
            # As the actor's own path is made (``Actor.child_path``).
            name = str(child.get("name", "?"))
            prefix = str(node.get("name", "")) + "/"
            name = name[len(prefix) :] if name.startswith(prefix) else name
            _walk(child, f"{path}/{name}", depth + 1, rows, [*uuids, child.get("uuid", "")])
    # Agents with no process now (backoff, stopped) still get their row.
    for agent in node.get("agents", ()):
        if agent.get("pid") is None or agent["pid"] not in shown:
            r = _agent_row(agent, depth + 1)
            r["uuids"] = r["host_uuids"] = list(uuids)
            rows.append(r)


def _agent_row(agent: dict[str, Any], depth: int) -> Row:
    label = f"{agent['path']}#{agent['incarnation']}"
    row = _row(label, depth, agent.get("kind", "agent"), agent.get("pid"), agent["state"])
    row["agent"] = agent["path"]
    row["restarts"] = agent.get("restarts")
    row["calls_running"] = agent.get("calls_running")
    row["calls_queued"] = agent.get("calls_queued")
    return row


def _walk_agent(
    child: dict[str, Any], agent: dict[str, Any], depth: int, rows: list[Row], uuids: list[str]
) -> None:
    start = len(rows)
    _walk(child, "", depth, rows, uuids)
    row = rows[start]
    merged = _agent_row(agent, depth)
    merged["uuids"] = row["uuids"]
    merged["host_uuids"] = uuids[:-1]
    merged["uptime"] = row["uptime"]
    merged["questions"] = row["questions"]
    # Queued: waiting for an incarnation (its supervisor) or on its own caps (its host).
    own = row["calls_queued"]
    if isinstance(own, int) and own:
        merged["calls_queued"] = (merged["calls_queued"] or 0) + own
    if row["state"] != "running":  # the actor knows better: stopping, in a REPL, ...
        merged["state"] = row["state"]
    rows[start] = merged
    for r in rows[start + 1 :]:
        r["path"] = merged["agent"] + r["path"] if r["path"].startswith("/") else r["path"]


def _proc_rows(tree: Tree, kids: dict[int, list[int]]) -> list[Row]:
    """The tree as /proc alone shows it: the root's descendants, by their titles."""
    rows = [_row(tree.name, 0, "actor", tree.pid, "wedged (not answering)")]

    def below(pid: int, depth: int) -> None:
        for kid in sorted(kids.get(pid, ())):
            title = _proc.cmdline(kid) or _proc.comm(kid)
            label = title if title.startswith("agentree[") else _proc.comm(kid) or str(kid)
            rows.append(_row(label.split(" root=")[0], depth, "process", kid, "?"))
            below(kid, depth + 1)

    below(tree.pid, 1)
    return rows


def _fill_proc(rows: list[Row], cpu: CpuSampler) -> None:
    now = time.time()
    for row in rows:
        pid = row["pid"]
        if pid is None:
            continue
        st = _proc.read_stat(pid)
        if st is None:
            continue
        if row["state"] == "?":
            row["state"] = {"R": "running", "S": "running", "T": "stopped", "Z": "zombie"}.get(
                st.state, st.state
            )
        if row["uptime"] is None:
            row["uptime"] = max(now - st.started, 0.0)
        row["cpu"] = cpu.percent(pid, st)
        row["rss"] = st.rss


def tree_view(tree: Tree, cpu: CpuSampler, *, timeout: float) -> dict[str, Any]:
    """One tree's rows: from its root's answer, else (wedged) from /proc alone.

    A root in debug mode that does not answer while its main thread reads its
    standard input is stopped in its own REPL: ``in_repl``, not ``wedged``.
    """
    started = time.monotonic()
    in_repl = False
    try:
        answer = call(tree, SNAPSHOT_NS, {"budget": timeout * 0.6}, timeout=timeout)
    except NotAnswering as exc:
        rows = _proc_rows(tree, _proc.children_map(os.getuid()))
        wedged: str | None = str(exc)
        if tree.debug_mode and _proc.reads_stdin(tree.pid):
            # Its loop is stopped in its own REPL (reading the terminal): not wedged.
            rows[0]["state"] = "in a REPL"
            in_repl = True
    else:
        rows = []
        _walk(answer, tree.name, 0, rows, [])
        wedged = None
        holder = answer.get("repl_holder")
        for row in rows:
            if holder and row["pid"] is not None and row["uuids"][-1:] == [holder]:
                row["state"] = "in a REPL"
    _fill_proc(rows, cpu)
    return {
        "root_pid": tree.pid,
        "name": tree.name,
        "dir": tree.dir,
        "argv": list(tree.argv),
        "wedged": None if in_repl else wedged,
        "in_repl": in_repl,
        "answered_in": round(time.monotonic() - started, 4),
        "rows": rows,
    }


def refresh_cpu(view: dict[str, Any], cpu: CpuSampler) -> None:
    """Sample the CPU time of ``view``'s processes again (CPU % since the last look)."""
    for row in view["rows"]:
        pid = row["pid"]
        st = None if pid is None else _proc.read_stat(pid)
        if st is not None:
            row["cpu"] = cpu.percent(pid, st)
