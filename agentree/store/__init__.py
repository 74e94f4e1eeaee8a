"""Stores for agent checkpoints and journals (DESIGN section 7, rule 7).

``MemoryStore`` (the default of a supervisor) and ``SqliteStore`` keep agent
states by ``(run_id, path)`` and a small keyed journal. A store lives in the
process that opens the supervisor; agents write to it through their parent.
"""

from . import _serve as _serve  # registers the checkpoint endpoint
from ._base import Store
from ._memory import MemoryStore
from ._sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore", "Store"]
