"""The embedded backend: one SQLite file (the default; nothing to set up).

One connection per thread, in autocommit mode, so each call is its own short transaction
unless the thread opened one (``transaction``: ``BEGIN IMMEDIATE``, so two writers queue
instead of failing on an upgrade; ``snapshot``: a deferred read transaction, which WAL keeps
while writers go on). WAL mode lets the stats page read while chat pages write, and many
threads and processes share the file. The schema is ``chatlib.store.migrations_sqlite``,
applied as the file opens, by one process at a time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from chatlib.store.database import half_written_runs
from chatlib.store.migrations_sqlite import MIGRATIONS

__all__ = ["SqliteDatabase"]

Row = tuple[Any, ...]


def _wal(db: sqlite3.Connection, attempts: int = 300) -> None:
    """Switch the file to WAL. On a new file that other processes open at the same moment,
    SQLite answers "database is locked" at once (the switch does not wait on the busy
    timeout): try again, for up to about 30 s."""
    for attempt in range(attempts):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)


class SqliteDatabase:
    ilike = "LIKE"
    shared = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migrate()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                 check_same_thread=False)
            _wal(db)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    def _migrate(self) -> None:
        with self.transaction():  # one process migrates; the others wait, then see it done
            db = self._db()
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY)")
            done = {row[0] for row in db.execute("SELECT name FROM migrations")}
            for step in MIGRATIONS:
                if step.__name__ not in done:
                    step(db)
                    db.execute("INSERT INTO migrations VALUES (?)", (step.__name__,))

    # -- statements ---------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._db().execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db().executemany(sql, rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._db().execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._db().execute(sql, params).fetchall()

    def columns_and_rows(self, sql: str, params: Sequence[Any] = ()
                         ) -> tuple[list[str], list[Row]]:
        cursor = self._db().execute(sql, params)
        return [d[0] for d in cursor.description], cursor.fetchall()

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 1000
               ) -> Iterator[list[Row]]:
        # SQLite steps the query as rows are fetched: nothing is read ahead.
        cursor = self._db().execute(sql, params)
        while rows := cursor.fetchmany(batch):
            yield rows

    def float_columns(self, columns: Sequence[str], from_where: str,
                      params: Sequence[Any] = ()) -> dict[str, np.ndarray]:
        rows = self._db().execute(f"SELECT {', '.join(columns)} {from_where}", params).fetchall()
        table = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))  # None: NaN
        return {c: table[:, i] for i, c in enumerate(columns)}

    # -- transactions -------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        db = self._db()
        if db.in_transaction:
            yield
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        db = self._db()
        if db.in_transaction:
            yield
            return
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.execute("COMMIT")

    # -- checks -------------------------------------------------------------------------
    def integrity_problems(self) -> list[str]:
        problems = [row[0] for row in self.all("PRAGMA integrity_check") if row[0] != "ok"]
        problems += half_written_runs(self)
        return problems

    def applied_migrations(self) -> list[str]:
        return [row[0] for row in self.all("SELECT name FROM migrations ORDER BY rowid")]

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

