"""The ``agentree`` command line: ``python -m agentree`` or the ``agentree`` script.

The commands live in ``agentree._cli`` (imported only from here).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``agentree`` command line (see ``agentree._cli.main``)."""
    from ._cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
