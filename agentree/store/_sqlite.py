"""``SqliteStore``: checkpoints in a SQLite file (stdlib ``sqlite3``, WAL).

Every database call runs in one worker thread (``trio.to_thread``, one at a time
through a limiter of 1), so no event loop ever blocks on the disk. Each write is
one transaction. In WAL mode with ``synchronous=NORMAL`` a committed write
survives the crash of any process; with ``fsync=True`` (``synchronous=FULL``) it
also survives a power loss.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from typing import TypeVar

import trio

from .._exceptions import StoreError
from ._base import Store

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

T = TypeVar("T")

SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS agentree_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS agentree_states ("
    " run_id TEXT NOT NULL, path TEXT NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (run_id, path))",
    "CREATE TABLE IF NOT EXISTS agentree_journal ("
    " run_id TEXT NOT NULL, key TEXT NOT NULL, data BLOB NOT NULL,"
    " PRIMARY KEY (run_id, key))",
)


class SqliteStore(Store):
    """A store in a SQLite file: checkpoints survive the end of every process.

    Args:
        path: the database file (created if missing).
        fsync: wait for the disk at each commit (``synchronous=FULL``), so that a
            checkpoint also survives a power loss. Without it a committed
            checkpoint survives the SIGKILL of any process, the root included.

    Opening it (done by the supervisor that uses it) checks the file: a file that
    is not a SQLite database, a corrupt one, or one written by a newer schema
    raises :class:`agentree.StoreError`; it is never reset.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.fsync = bool(fsync)
        self._db: sqlite3.Connection | None = None
        self._limiter: trio.CapacityLimiter | None = None

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path!r} fsync={self.fsync}>"

    async def _run(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        db, limiter = self._db, self._limiter
        if db is None or limiter is None:
            raise StoreError(f"{self!r} is not open ({what}): open a supervisor with it")

        def guarded() -> T:
            try:
                return fn(db)
            except sqlite3.Error as exc:
                raise StoreError(f"{self!r}: {what} failed: {exc}") from exc

        return await trio.to_thread.run_sync(guarded, limiter=limiter)

    async def _open(self) -> None:
        # One database call at a time, in a worker thread; made here, in the trio
        # run that uses the store (a store may be built before ``trio.run``).
        self._limiter = limiter = trio.CapacityLimiter(1)
        self._db = await trio.to_thread.run_sync(self._connect, limiter=limiter)

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"{self!r}: cannot open the database: {exc}") from exc
        try:
            self._check_and_init(db)
        except BaseException:
            db.close()
            raise
        return db

    def _check_and_init(self, db: sqlite3.Connection) -> None:
        try:
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise StoreError(
                    f"{self!r}: the database is corrupt ({check!r}); not resetting it"
                )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
            db.execute("BEGIN IMMEDIATE")
            try:
                tables = {
                    row[0]
                    for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
                }
                if tables and "agentree_meta" not in tables:
                    raise StoreError(
                        f"{self!r}: this SQLite file is not an agentree store "
                        f"(tables {sorted(tables)}); not touching it"
                    )
                for statement in _SCHEMA:
                    db.execute(statement)
                row = db.execute(
                    "SELECT value FROM agentree_meta WHERE key='schema_version'"
                ).fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO agentree_meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                    )
                elif row[0] != SCHEMA_VERSION:
                    newer = row[0] > SCHEMA_VERSION
                    raise StoreError(
                        f"{self!r}: the store has schema version {row[0]}, this agentree "
                        f"reads version {SCHEMA_VERSION}"
                        + ("; it was written by a newer agentree" if newer else "")
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self!r}: not a usable SQLite database ({exc}); not resetting it"
            ) from exc

    async def _close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await trio.to_thread.run_sync(db.close, limiter=self._limiter)
        self._limiter = None

    async def put_state(self, run_id: str, path: str, data: bytes) -> None:
        """Replace the state of agent ``path`` in run ``run_id``; return once written."""

        def put(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO agentree_states VALUES (?, ?, ?)",
                    (run_id, path, bytes(data)),
                )

        await self._run(put, f"checkpoint of {path!r}")

    async def get_state(self, run_id: str, path: str) -> bytes | None:
        """The last state written for agent ``path`` in run ``run_id``, if any."""

        def get(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "SELECT data FROM agentree_states WHERE run_id=? AND path=?", (run_id, path)
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._run(get, f"reading the state of {path!r}")

    async def journal_put(self, run_id: str, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key`` in run ``run_id``'s journal (replacing any)."""

        def put(db: sqlite3.Connection) -> None:
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO agentree_journal VALUES (?, ?, ?)",
                    (run_id, key, bytes(data)),
                )

        await self._run(put, f"journal_put({key!r})")

    async def journal_get(self, run_id: str, key: str) -> bytes | None:
        """The journal entry ``key`` of run ``run_id``, left in place."""

        def get(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "SELECT data FROM agentree_journal WHERE run_id=? AND key=?", (run_id, key)
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._run(get, f"journal_get({key!r})")

    async def journal_take(self, run_id: str, key: str) -> bytes | None:
        """Remove and return the journal entry ``key``: exactly one taker gets it."""

        def take(db: sqlite3.Connection) -> bytes | None:
            with db:
                row = db.execute(
                    "DELETE FROM agentree_journal WHERE run_id=? AND key=? RETURNING data",
                    (run_id, key),
                ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._run(take, f"journal_take({key!r})")

    async def journal_items(self, run_id: str) -> dict[str, bytes]:
        """Every journal entry of run ``run_id``, by key."""

        def items(db: sqlite3.Connection) -> dict[str, bytes]:
            rows = db.execute(
                "SELECT key, data FROM agentree_journal WHERE run_id=?", (run_id,)
            ).fetchall()
            return {str(key): bytes(data) for key, data in rows}

        return await self._run(items, "reading the journal")
