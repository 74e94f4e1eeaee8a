"""The checkpoint endpoint: agents write their state through their parent channel.

A supervisor registers its store and run id here under a token (unique in its
process) and hands the token to each agent it starts. ``await self.checkpoint()``
in the agent calls :func:`put_checkpoint` on its parent (the supervisor's
process), served in every actor whatever its ``enable_modules``; the call returns
once the store has written the state.
"""

from __future__ import annotations

import uuid

from .._exceptions import StoreError
from .._runtime import register_endpoint
from ._base import Store

__all__ = ["PUT_NS", "Binding", "bind", "put_checkpoint", "unbind"]

PUT_NS = f"{__name__}:put_checkpoint"


class Binding:
    """A store and the run id a supervisor uses it with, under a token."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.token = uuid.uuid4().hex
        # The incarnation of each agent path that may write (a fence: a late
        # checkpoint of an incarnation that was replaced is refused).
        self.current: dict[str, int] = {}

    def fence(self, path: str, incarnation: int) -> None:
        """From now on only incarnation ``incarnation`` (or a later one) of ``path`` writes."""
        self.current[path] = incarnation


_bindings: dict[str, Binding] = {}


def bind(store: Store, run_id: str) -> Binding:
    """Make ``store`` reachable by agents (for ``run_id``) under a new token."""
    binding = Binding(store, run_id)
    _bindings[binding.token] = binding
    return binding


def unbind(binding: Binding) -> None:
    _bindings.pop(binding.token, None)


async def put_checkpoint(token: str, path: str, data: bytes, incarnation: int = 0) -> None:
    """Write agent ``path``'s encoded state to the store bound under ``token``.

    Raises:
        StoreError: no supervisor of this process uses that token any more, the
            incarnation was replaced by a newer one, or the write failed.
    """
    binding = _bindings.get(token)
    if binding is None:
        raise StoreError(f"checkpoint of {path!r}: its supervisor's store is closed")
    current = binding.current.get(path, 0)
    if incarnation < current:
        raise StoreError(
            f"checkpoint of {path!r} by incarnation {incarnation} refused: "
            f"incarnation {current} has replaced it"
        )
    await binding.store.put_state(binding.run_id, path, data)


register_endpoint(PUT_NS, put_checkpoint)
