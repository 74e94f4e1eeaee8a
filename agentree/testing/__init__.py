"""Testing helpers for agentree programs: a pytest plugin with leak checks.

Enable it in a ``conftest.py``::

    pytest_plugins = ["agentree.testing.plugin"]

Every test then fails if it leaves a child process, an agentree socket file or an
agentree temp directory behind.

Tests that check which error came out of an actor nursery, the root or a supervisor
use :func:`raises_one`, which accepts the error bare or inside an exception group.
"""

from ._raises import ErrorInfo as ErrorInfo
from ._raises import leaves as leaves
from ._raises import raises_one as raises_one

__all__ = ["ErrorInfo", "leaves", "raises_one"]
