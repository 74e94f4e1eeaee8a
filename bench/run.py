"""Benchmark agentree against its peers and print one comparison table.

Usage::

    python bench/run.py                 # full run, 5 timed repetitions per case
    python bench/run.py --quick         # smoke test: 2 repetitions, small counts
    python bench/run.py --only spawn1 --only seq --repeat 9
    python bench/run.py --help

Everything is measured in this one process run: peers first, then agentree for
each start method (so a misbehaving runtime cannot disturb the peer numbers).
If ``import agentree`` fails, the agentree rows say so and the peers still run.

This file deliberately imports only ``os`` and ``sys``: the ``spawn`` and
``forkserver`` start methods re-execute the parent's ``__main__`` (this file) in
every spawned worker and in the fork server, so heavy module-level imports here
would inflate the peers' cold-spawn numbers. The argparse CLI and the harness
live in ``_harness.py`` next to this file.
"""

import os
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


def main(argv: list[str]) -> int:
    """Make the bench modules importable (here and in workers) and run the CLI.

    Args:
        argv: Command-line arguments without the program name.

    Returns:
        Process exit code.
    """
    if BENCH_DIR not in sys.path:
        sys.path.insert(0, BENCH_DIR)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (BENCH_DIR, os.environ.get("PYTHONPATH")) if p
    )
    from _harness import cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
