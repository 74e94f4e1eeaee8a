"""The ``Store`` interface: agent states by ``(run_id, path)`` and a keyed journal.

A store lives in the process that opens the supervisor using it; agents reach it
through their parent channel (``await self.checkpoint()``). Every method is async
and never blocks the loop. A store is opened by the first supervisor that uses it
and closed by the last one (``open``/``close`` count their users).
"""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["Store", "check_store_options"]


def check_store_options(call: str, store: Any, run_id: Any) -> None:
    """Check the ``store=`` and ``run_id=`` of ``call`` (``None``: not given).

    Raises:
        TypeError: ``store`` is not an :class:`agentree.Store`.
        ValueError: ``run_id`` is not a non-empty str.
    """
    if store is not None and not isinstance(store, Store):
        raise TypeError(f"{call}: store must be an agentree.Store, not {store!r}")
    if run_id is not None and (not isinstance(run_id, str) or not run_id):
        raise ValueError(f"{call}: run_id must be a non-empty str, not {run_id!r}")


class Store(abc.ABC):
    """Where checkpoints and journal entries are kept, keyed by a run id.

    Implementations: :class:`agentree.MemoryStore` (the default) and
    :class:`agentree.SqliteStore`. Each write is atomic: a reader sees the whole
    previous value or the whole new one.
    """

    def __init__(self) -> None:
        self._users = 0

    async def open(self) -> None:
        """Open the store for one more user (the first user really opens it).

        Raises:
            StoreError: the store cannot be used (a corrupt file, a newer schema).
        """
        if self._users == 0:
            await self._open()
        self._users += 1

    async def close(self) -> None:
        """Let go of the store for one user (the last user really closes it)."""
        if self._users == 0:
            return
        self._users -= 1
        if self._users == 0:
            await self._close()

    async def _open(self) -> None:  # noqa: B027 (optional hook)
        """Open the underlying storage."""

    async def _close(self) -> None:  # noqa: B027 (optional hook)
        """Close the underlying storage."""

    @abc.abstractmethod
    async def put_state(self, run_id: str, path: str, data: bytes) -> None:
        """Replace the state of agent ``path`` in run ``run_id``; return once written."""

    @abc.abstractmethod
    async def get_state(self, run_id: str, path: str) -> bytes | None:
        """The last state written for agent ``path`` in run ``run_id``, if any."""

    @abc.abstractmethod
    async def journal_put(self, run_id: str, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key`` in run ``run_id``'s journal (replacing any)."""

    @abc.abstractmethod
    async def journal_get(self, run_id: str, key: str) -> bytes | None:
        """The journal entry ``key`` of run ``run_id``, left in place."""

    @abc.abstractmethod
    async def journal_take(self, run_id: str, key: str) -> bytes | None:
        """Remove and return the journal entry ``key``: exactly one taker gets it."""

    @abc.abstractmethod
    async def journal_items(self, run_id: str) -> dict[str, bytes]:
        """Every journal entry of run ``run_id``, by key (read when a level opens)."""
