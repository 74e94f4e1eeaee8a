"""A five-minute tour of agentree: start here.

The tour ships inside the package (``agentree/_demo.py``, the file to read), so that
it runs wherever agentree is installed::

    python -m agentree demo

This script runs the same tour from a source checkout::

    python examples/demo.py
"""

import trio

from agentree._demo import main

if __name__ == "__main__":
    trio.run(main)
