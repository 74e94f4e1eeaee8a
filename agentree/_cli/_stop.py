"""``agentree stop PATH`` and ``agentree stop --root PID``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from .._exceptions import AgentreeError
from . import _proc
from ._trees import NotAnswering, Tree, call, find_trees
from ._view import CpuSampler, tree_view
from ._wire import STOP_NS

__all__ = ["add_parser"]

_POLL = 0.02


def _matches(row: dict[str, Any], tree: Tree, path: str) -> bool:
    if row.get("agent") is not None:
        return path in (row["agent"], row["path"])
    full = str(row["path"])
    return path == full or f"{tree.name}/{path}" == full


def _gone(pid: int, started: float) -> bool:
    st = _proc.read_stat(pid)
    return st is None or st.state == "Z" or st.started > started + 1.0


def _wait_gone(pid: int, started: float, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid, started):
            return True
        time.sleep(_POLL)
    return _gone(pid, started)


def _stop_root(args: argparse.Namespace) -> int:
    trees = [t for t in find_trees(args.tmpdir) if t.pid == args.root]
    if not trees:
        print(f"agentree stop: no running tree of yours has root pid {args.root}", file=sys.stderr)
        return 1
    tree = trees[0]
    # SIGTERM stops a tree like Ctrl-C: graceful cancel of every actor, then exit 143.
    os.kill(tree.pid, signal.SIGTERM)
    if _wait_gone(tree.pid, tree.started, args.shutdown):
        print(f"tree {tree.name!r} (root pid {tree.pid}) stopped")
        return 0
    os.kill(tree.pid, signal.SIGKILL)
    if _wait_gone(tree.pid, tree.started, 2.0):
        print(f"tree {tree.name!r} (root pid {tree.pid}) killed after {args.shutdown} s")
        return 0
    print(f"agentree stop: root pid {tree.pid} is still there", file=sys.stderr)
    return 1


def _stop_path(args: argparse.Namespace) -> int:
    found = []
    for tree in find_trees(args.tmpdir):
        if args.tree is not None and tree.pid != args.tree:
            continue
        view = tree_view(tree, CpuSampler(), timeout=args.timeout)
        if view["wedged"] or view["in_repl"]:
            # Its rows come from /proc alone: nobody to ask to stop one of them.
            continue
        found += [(tree, row) for row in view["rows"] if _matches(row, tree, args.path)]
    if not found:
        print(f"agentree stop: no actor or agent at {args.path!r}", file=sys.stderr)
        return 1
    if len(found) > 1:
        pids = ", ".join(str(t.pid) for t, _ in found)
        print(
            f"agentree stop: {args.path!r} is in several trees (roots {pids}): pick one with "
            "--tree PID",
            file=sys.stderr,
        )
        return 1
    tree, row = found[0]
    if row.get("agent") is not None:
        kwargs: dict[str, Any] = {"uuids": row["host_uuids"], "agent": row["agent"]}
    elif row["depth"] == 0:
        print("agentree stop: that is the root: use agentree stop --root PID", file=sys.stderr)
        return 1
    else:
        kwargs = {"uuids": row["uuids"], "agent": None}
    kwargs["shutdown"] = args.shutdown
    try:
        # The parent's escalation: cancel, shutdown s, SIGTERM, a second or so, SIGKILL.
        answer = call(tree, STOP_NS, kwargs, timeout=args.shutdown + 10.0)
    except (NotAnswering, AgentreeError) as exc:
        print(f"agentree stop: {exc}", file=sys.stderr)
        return 1
    if answer is None:
        print(f"agentree stop: {args.path!r} ended before it could be stopped", file=sys.stderr)
        return 1
    print(answer)
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``agentree stop``."""
    if (args.root is None) == (args.path is None):
        print("agentree stop: give a PATH or --root PID (one of them)", file=sys.stderr)
        return 2
    return _stop_root(args) if args.root is not None else _stop_path(args)


def add_parser(commands: Any) -> None:
    """Add the ``stop`` command to the ``agentree`` parser."""
    parser = commands.add_parser(
        "stop",
        help="stop one actor or agent (through its parent), or a whole tree",
        description=(
            "Stop the actor or agent at PATH (as 'agentree tree' shows it) through its "
            "parent: an actor gets a graceful cancel request, SHUTDOWN seconds, then "
            "SIGTERM, then SIGKILL; an agent is terminated by its supervisor (not "
            "restarted). With --root PID, stop that whole tree: SIGTERM to its root "
            "(which stops the tree like Ctrl-C), SIGKILL after SHUTDOWN seconds."
        ),
    )
    parser.add_argument(
        "path", nargs="?", metavar="PATH", help="e.g. root/app/worker or app/planner"
    )
    parser.add_argument("--root", type=int, metavar="PID", help="stop the tree with this root pid")
    parser.add_argument("--tree", type=int, metavar="PID", help="look for PATH in this tree only")
    parser.add_argument(
        "--shutdown",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds of grace before SIGTERM (default 5.0)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1.0, metavar="S", help="seconds a root gets to answer"
    )
    parser.add_argument("--tmpdir", default=None, help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)
