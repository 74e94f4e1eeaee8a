"""Unit tests of MemoryStore and SqliteStore (no actors)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

import agentree
from agentree.store._sqlite import SCHEMA_VERSION


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[agentree.Store]:
    s: agentree.Store = (
        agentree.MemoryStore()
        if request.param == "memory"
        else agentree.SqliteStore(tmp_path / "s.db")
    )
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_state_round_trip(store: agentree.Store) -> None:
    assert await store.get_state("run", "app/a") is None
    await store.put_state("run", "app/a", b"one")
    await store.put_state("run", "app/a", b"two")
    await store.put_state("other", "app/a", b"x")
    assert await store.get_state("run", "app/a") == b"two"
    assert await store.get_state("other", "app/a") == b"x"
    assert await store.get_state("run", "app/b") is None


async def test_journal_take_once(store: agentree.Store) -> None:
    await store.journal_put("run", "k", b"answer")
    assert await store.journal_get("run", "k") == b"answer"
    assert await store.journal_get("run", "k") == b"answer"
    assert await store.journal_get("other", "k") is None
    results: list[bytes | None] = []

    async def take() -> None:
        results.append(await store.journal_take("run", "k"))

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(take)
    assert sorted(results, key=lambda r: r is None) == [b"answer", None, None, None, None]
    assert await store.journal_get("run", "k") is None


async def test_journal_items_are_the_runs_entries(store: agentree.Store) -> None:
    assert await store.journal_items("run") == {}
    await store.journal_put("run", "a", b"1")
    await store.journal_put("run", "b", b"2")
    await store.journal_put("run", "a", b"3")
    await store.journal_put("other", "c", b"4")
    assert await store.journal_items("run") == {"a": b"3", "b": b"2"}
    await store.journal_take("run", "b")
    assert await store.journal_items("run") == {"a": b"3"}


async def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    first = agentree.SqliteStore(path, fsync=True)
    await first.open()
    await first.put_state("run", "app/a", b"kept")
    await first.journal_put("run", "q", b"yes")
    # fsync=True waits for the disk at each commit (synchronous=FULL is 2).
    assert first._db is not None
    assert first._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    await first.close()
    second = agentree.SqliteStore(path)
    await second.open()
    try:
        assert second._db is not None
        assert second._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert await second.get_state("run", "app/a") == b"kept"
        assert await second.journal_take("run", "q") == b"yes"
    finally:
        await second.close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_sqlite_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s = agentree.SqliteStore(path)
    await s.open()
    await s.put_state("run", "app/a", b"kept")
    await s.close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "UPDATE agentree_meta SET value=? WHERE key='schema_version'", (SCHEMA_VERSION + 1,)
        )
    with pytest.raises(agentree.StoreError, match="newer agentree"):
        await agentree.SqliteStore(path).open()
    # Refused, not reset: the data and the version are untouched.
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        assert db.execute("SELECT data FROM agentree_states").fetchone()[0] == b"kept"
        assert db.execute("SELECT value FROM agentree_meta").fetchone()[0] == SCHEMA_VERSION + 1


async def test_sqlite_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    text = b"these are my notes, not a database\n" * 200
    path.write_bytes(text)
    with pytest.raises(agentree.StoreError, match="not a usable SQLite database"):
        await agentree.SqliteStore(path).open()
    assert path.read_bytes() == text


async def test_sqlite_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s = agentree.SqliteStore(path)
    await s.open()
    for i in range(200):
        await s.put_state("run", f"app/a{i}", bytes(1024))
    await s.close()
    raw = bytearray(path.read_bytes())
    assert raw.startswith(b"SQLite format 3\x00")
    # Keep the header, scribble over every page after the first.
    raw[4096:] = b"\xa5" * (len(raw) - 4096)
    path.write_bytes(bytes(raw))
    with pytest.raises(agentree.StoreError):
        await agentree.SqliteStore(path).open()
    assert path.read_bytes() == bytes(raw)


async def test_sqlite_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(agentree.StoreError, match="not an agentree store"):
        await agentree.SqliteStore(path).open()


async def test_sqlite_closed_store_is_a_clear_error(tmp_path: Path) -> None:
    s = agentree.SqliteStore(tmp_path / "s.db")
    with pytest.raises(agentree.StoreError, match="is not open"):
        await s.put_state("run", "app/a", b"x")


async def test_a_replaced_incarnation_cannot_overwrite_the_checkpoint() -> None:
    from agentree.store._serve import bind, put_checkpoint, unbind

    store = agentree.MemoryStore()
    binding = bind(store, "run")
    try:
        binding.fence("app/a", 1)
        await put_checkpoint(binding.token, "app/a", b"one", incarnation=1)
        binding.fence("app/a", 2)
        # Incarnation 1's checkpoint arriving late is refused; incarnation 2 writes.
        with pytest.raises(agentree.StoreError, match="incarnation 2 has replaced it"):
            await put_checkpoint(binding.token, "app/a", b"late", incarnation=1)
        assert await store.get_state("run", "app/a") == b"one"
        await put_checkpoint(binding.token, "app/a", b"two", incarnation=2)
        assert await store.get_state("run", "app/a") == b"two"
    finally:
        unbind(binding)
    with pytest.raises(agentree.StoreError, match="store is closed"):
        await put_checkpoint(binding.token, "app/a", b"x", incarnation=2)
