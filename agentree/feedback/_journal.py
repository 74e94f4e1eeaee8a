"""The journal of a feedback level: the answers it gave, by request key.

Every answer is recorded before it is delivered. An answer that could not be
delivered (its asker died) is *kept*: the next ask with the same key takes it
at once instead of asking again, and each kept answer is taken by one ask only.

:class:`Journal` keeps everything in memory, for the level's lifetime.
:class:`StoreJournal` also writes each answer to a :class:`~agentree.Store` under
the level's run id (a supervisor's, or the root's), and when a level opens on
that store and run id again (a rerun of the program), every answer recorded
there is kept again, once, for the asks of the new run: a question answered
before a crash of the whole tree is not asked again after the rerun.
"""

from __future__ import annotations

from ..store._base import Store

__all__ = ["SCOPE_SEP", "Journal", "StoreJournal"]


class Journal:
    """The answers of a level kept for the next ask with their key (in memory)."""

    def __init__(self) -> None:
        self._kept: dict[str, bytes] = {}

    async def load(self) -> None:
        """Load what earlier runs recorded (nothing, in memory)."""

    def kept(self, key: str) -> bytes | None:
        """The answer kept for ``key``, left in place."""
        return self._kept.get(key)

    def take(self, key: str) -> bytes | None:
        """Remove and return the answer kept for ``key`` (each is taken once)."""
        return self._kept.pop(key, None)

    def keep(self, key: str, raw: bytes) -> None:
        """Keep ``raw`` (an encoded answer) for the next ask with ``key``."""
        self._kept[key] = raw

    async def record(self, key: str, raw: bytes) -> None:
        """Note that ``raw`` is the answer to ``key`` (before it is delivered)."""

    async def forget(self, key: str) -> None:
        """Drop the record of ``key``'s answer (the asker refused it)."""
        self._kept.pop(key, None)


# Between a scope and a key in the store (a control character, unlikely in a key).
SCOPE_SEP = "\x1f"


class StoreJournal(Journal):
    """A journal whose records are written to ``store`` under ``run_id`` (durable).

    Levels that share a store and a run id keep apart: the root's level writes
    its keys under a scope (``"root"``), so that neither loads the other's
    answers nor overwrites them when two askers use the same ``key=``. A
    supervisor's level writes its keys as they are (no scope).

    Args:
        store: an open store (the supervisor's, or the root's).
        run_id: the run the answers belong to.
        scope: the level's scope in the store (``None``: a supervisor's level).
    """

    def __init__(self, store: Store, run_id: str, scope: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.run_id = run_id
        self._prefix = "" if scope is None else scope + SCOPE_SEP

    def _stored(self, key: str) -> str:
        return self._prefix + key

    async def load(self) -> None:
        """Keep every answer this level recorded under this run id, once, for this
        run's asks."""
        items = await self.store.journal_items(self.run_id)
        prefix = self._prefix
        for stored, raw in items.items():
            if prefix:
                if stored.startswith(prefix):
                    self._kept[stored[len(prefix) :]] = raw
            elif SCOPE_SEP not in stored:
                self._kept[stored] = raw

    async def record(self, key: str, raw: bytes) -> None:
        """Write ``raw`` as the answer to ``key``; returns once the store has it."""
        await self.store.journal_put(self.run_id, self._stored(key), raw)

    async def forget(self, key: str) -> None:
        """Drop the record of ``key``'s answer, in memory and in the store."""
        self._kept.pop(key, None)
        await self.store.journal_take(self.run_id, self._stored(key))
