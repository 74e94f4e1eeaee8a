"""The ``agentree`` command line: ``python -m agentree`` or the ``agentree`` script.

Each command is a subcommand of one argparse parser: add one with a ``_cmd_*``
function and a line in ``_parser``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._version import __version__

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    """Run the tour in ``agentree._demo``."""
    import trio

    from ._demo import main as demo_main

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
        help="run a five-minute tour: actors, calls, errors, a context, asyncio, teardown",
        description="Run the tour of agentree/_demo.py: six labelled steps, a few seconds.",
    )
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``agentree`` command line.

    Args:
        argv: the arguments after the program name; ``sys.argv[1:]`` when ``None``.

    Returns:
        The exit status: 0 on success, 2 for a usage error (no command given).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    status: int = handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
