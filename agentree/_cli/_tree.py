"""``agentree tree``: every running tree of this user, once, live, or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from . import _render
from ._trees import find_trees
from ._view import CpuSampler, refresh_cpu, tree_view

__all__ = ["add_parser"]

# The CPU % of a one-shot view is measured over at least this long.
_CPU_WINDOW = 0.1


def _views(cpu: CpuSampler, args: argparse.Namespace, *, fresh: bool) -> list[dict[str, Any]]:
    trees = find_trees(args.tmpdir)
    if len(trees) > 1:
        from concurrent.futures import ThreadPoolExecutor

        # A wedged root costs its timeout: ask every root at once.
        with ThreadPoolExecutor(max_workers=min(len(trees), 16)) as pool:
            views = list(pool.map(lambda t: tree_view(t, cpu, timeout=args.timeout), trees))
    else:
        views = [tree_view(tree, cpu, timeout=args.timeout) for tree in trees]
    if fresh and not args.no_cpu and views:
        # CPU % is the CPU time used between two looks, taken after the roots
        # answered: the window does not count the work of answering this command.
        time.sleep(_CPU_WINDOW)
        for view in views:
            refresh_cpu(view, cpu)
    return views


def _use_rich(args: argparse.Namespace) -> bool:
    if args.plain or not sys.stdout.isatty():
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    """Run ``agentree tree``."""
    cpu = CpuSampler()
    if args.json:
        views = _views(cpu, args, fresh=True)
        json.dump({"trees": views}, sys.stdout, indent=2 if sys.stdout.isatty() else None)
        sys.stdout.write("\n")
        return 0
    if not args.watch:
        views = _views(cpu, args, fresh=True)
        if _use_rich(args):
            from rich.console import Console

            Console().print(_render.render_rich(views))
        else:
            sys.stdout.write(_render.render_plain(views))
        return 0
    return _watch(cpu, args)


def _watch(cpu: CpuSampler, args: argparse.Namespace) -> int:
    try:
        if _use_rich(args):
            from rich.live import Live

            with Live(
                _render.render_rich(_views(cpu, args, fresh=True)), auto_refresh=False
            ) as live:
                while True:
                    time.sleep(args.interval)
                    live.update(_render.render_rich(_views(cpu, args, fresh=False)), refresh=True)
        first = True
        while True:
            text = _render.render_plain(_views(cpu, args, fresh=first))
            first = False
            if sys.stdout.isatty():
                sys.stdout.write("\x1b[H\x1b[2J")
            sys.stdout.write(text + f"\n(every {args.interval} s; Ctrl-C to quit)\n")
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


def add_parser(commands: Any) -> None:
    """Add the ``tree`` command to the ``agentree`` parser."""
    parser = commands.add_parser(
        "tree",
        help="show every running tree of this user: actors, agents, state, CPU, memory",
        description=(
            "Show every running agentree tree of the current user, drawn as a tree: "
            "each actor or agent with its pid, state (running, backoff, stopping, in a "
            "REPL), uptime, restarts, calls running and queued, open feedback questions, "
            "CPU %% and resident memory. Each root is asked through the control socket "
            "in its tree's private directory, with the tree's handshake; a root that "
            "does not answer within --timeout is shown from /proc alone, marked WEDGED."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--watch", action="store_true", help="redraw live until Ctrl-C")
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="seconds between redraws"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=0.5,
        metavar="S",
        help="seconds a root gets to answer before it is shown as wedged (default 0.5)",
    )
    parser.add_argument("--plain", action="store_true", help="plain text even on a terminal")
    parser.add_argument(
        "--no-cpu", action="store_true", help="skip the 0.1 s CPU sampling of a one-shot view"
    )
    parser.add_argument("--tmpdir", default=None, help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)
