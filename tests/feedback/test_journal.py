"""The journal of a feedback level, in memory and in a store (no actors)."""

from __future__ import annotations

import agentree
from agentree.feedback import Journal, StoreJournal


async def test_a_memory_journal_keeps_an_answer_for_one_ask() -> None:
    journal = Journal()
    await journal.load()
    await journal.record("k", b"yes")
    assert journal.take("k") is None  # recorded, not kept: it was delivered
    journal.keep("k", b"yes")
    assert journal.kept("k") == b"yes"
    assert journal.take("k") == b"yes"
    assert journal.take("k") is None


async def test_a_store_journal_replays_each_recorded_answer_once_per_run() -> None:
    store = agentree.MemoryStore()
    await store.open()
    try:
        first = StoreJournal(store, "run-1")
        await first.load()
        await first.record("asked", b"yes")
        await first.record("refused", b"bad")
        await first.forget("refused")
        assert await store.journal_items("run-1") == {"asked": b"yes"}

        # A rerun (a new level on the same store and run id) keeps it once.
        again = StoreJournal(store, "run-1")
        await again.load()
        assert again.take("asked") == b"yes"
        assert again.take("asked") is None
        # Still recorded, for a later rerun; another run id sees nothing.
        assert await store.journal_items("run-1") == {"asked": b"yes"}
        other = StoreJournal(store, "run-2")
        await other.load()
        assert other.take("asked") is None
    finally:
        await store.close()
