"""The ``agentree`` command line (``python -m agentree``): demo, tree, stop.

Imported only by ``agentree.__main__``: nothing here is loaded by ``import agentree``
or by the actors. Each command lives in a module of its own with an ``add_parser``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._version import __version__
from . import _stop, _tree

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    """Run the tour in ``agentree._demo``."""
    import trio

    from .. import _import_api
    from .._demo import main as demo_main

    # The command line starts lean (see ``agentree.__init__``); a tree needs it all,
    # imported before the root starts (its forkserver is a copy of the root).
    _import_api()

    trio.run(demo_main)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentree" if not sys.argv[0].endswith("__main__.py") else "python -m agentree",
        description="agentree: a structured-concurrency tree of trio actors, one process each.",
    )
    parser.add_argument("--version", action="version", version=f"agentree {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run a short tour: actors, calls, errors, a stream, asyncio, supervision, feedback",
        description=(
            "Run the tour of agentree/_demo.py: labelled steps, a few seconds, ending "
            "with the count of processes left (0)."
        ),
    )
    demo.set_defaults(handler=_cmd_demo)
    _tree.add_parser(commands)
    _stop.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``agentree`` command line.

    Args:
        argv: the arguments after the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        The exit status: 0 on success, 1 when the command failed, 2 for a usage
        error (no command given).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = handler(args)
    except BrokenPipeError:
        # The reader went away (``agentree tree --watch | head``): a quiet end.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    return status
