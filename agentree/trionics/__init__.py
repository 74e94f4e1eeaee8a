"""trio helpers under tractor's names.

``collapse_eg``, ``gather_contexts`` and ``maybe_open_context``.
"""

from ._cache import maybe_open_context as maybe_open_context
from ._collapse import collapse_eg as collapse_eg
from ._gather import gather_contexts as gather_contexts

__all__ = ["collapse_eg", "gather_contexts", "maybe_open_context"]
