"""Testing helpers for agentree programs: a pytest plugin, a leak check, ``raises_one``.

The plugin (:mod:`agentree.testing.plugin`) is installed with agentree through the
``pytest11`` entry point: the ``agentree_root`` fixture runs a test inside a root
actor, and ``--agentree-leak-check`` (or ``agentree_leak_check = true`` in the ini
file) fails every test that leaves a child process, an agentree socket file or an
agentree temp directory behind. See the README section "Testing your actors".

Tests that check which error came out of an actor nursery, the root or a supervisor
use :func:`raises_one`, which accepts the error bare or inside an exception group.
"""

from ._raises import ErrorInfo as ErrorInfo
from ._raises import leaves as leaves
from ._raises import raises_one as raises_one

__all__ = ["ErrorInfo", "leaves", "raises_one"]
