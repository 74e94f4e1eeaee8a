"""``MemoryStore``: checkpoints held in the memory of the supervisor's process."""

from __future__ import annotations

import trio

from ._base import Store

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """A store in the memory of the process that opened the supervisor (the default).

    A checkpoint is safe once this process holds it: it survives the SIGKILL of
    the agent (or of any process below the supervisor), and a restart restores it.
    It does not survive the end of this process: a SIGKILL of the root loses it.
    Reusing one ``MemoryStore`` object for a second supervisor with the same
    ``run_id`` in the same process restores its agents.
    """

    def __init__(self) -> None:
        super().__init__()
        self._states: dict[tuple[str, str], bytes] = {}
        self._journal: dict[tuple[str, str], bytes] = {}

    def __repr__(self) -> str:
        return f"<MemoryStore {len(self._states)} states, {len(self._journal)} journal entries>"

    async def put_state(self, run_id: str, path: str, data: bytes) -> None:
        """Replace the state of agent ``path`` in run ``run_id``; return once written."""
        self._states[run_id, path] = bytes(data)
        await trio.lowlevel.checkpoint()

    async def get_state(self, run_id: str, path: str) -> bytes | None:
        """The last state written for agent ``path`` in run ``run_id``, if any."""
        await trio.lowlevel.checkpoint()
        return self._states.get((run_id, path))

    async def journal_put(self, run_id: str, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key`` in run ``run_id``'s journal (replacing any)."""
        self._journal[run_id, key] = bytes(data)
        await trio.lowlevel.checkpoint()

    async def journal_get(self, run_id: str, key: str) -> bytes | None:
        """The journal entry ``key`` of run ``run_id``, left in place."""
        await trio.lowlevel.checkpoint()
        return self._journal.get((run_id, key))

    async def journal_take(self, run_id: str, key: str) -> bytes | None:
        """Remove and return the journal entry ``key``: exactly one taker gets it."""
        # No await between the read and the removal: one taker only.
        data = self._journal.pop((run_id, key), None)
        await trio.lowlevel.checkpoint()
        return data

    async def journal_items(self, run_id: str) -> dict[str, bytes]:
        """Every journal entry of run ``run_id``, by key."""
        await trio.lowlevel.checkpoint()
        return {key: data for (run, key), data in self._journal.items() if run == run_id}
