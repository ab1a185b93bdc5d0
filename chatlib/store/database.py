"""What a store backend is: a connection to one database that runs Chat Lab's SQL.

The stores (``runs``, ``chats``, ``comparisons``, ``prompt_sets``) write their queries once,
in the SQL that SQLite and PostgreSQL both speak, with ``?`` placeholders; a backend
(``chatlib.store.sqlite``, ``chatlib.store.postgres``) owns everything that differs: how it
connects (one connection per thread, or a pool), how a transaction and a consistent read are
opened, how a large result is streamed, its placeholders, its schema (each backend has its
own migrations module) and its integrity check. ``chatlib.store.backends.open_database``
picks one from a URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
import pandas as pd

__all__ = ["Database", "half_written_runs", "frame"]

Row = tuple[Any, ...]


class Database(Protocol):
    """One database, shared by every thread of a process (and by other processes)."""

    #: Where the data is, for the page and cache keys: a path or a URL without its password.
    location: str
    #: The case-insensitive ``LIKE`` of the backend (SQLite's ``LIKE`` already is, for ASCII).
    ilike: str
    #: Whether app replicas on other machines share it (PostgreSQL), not one machine's file.
    shared: bool

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement (in the open transaction, if this thread has one); returns the
        number of rows it changed."""

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def columns_and_rows(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str],
                                                                               list[Row]]: ...

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 1000
               ) -> Iterator[list[Row]]:
        """The rows of a query ``batch`` at a time, never all of them in memory at once."""

    def float_columns(self, columns: Sequence[str], from_where: str,
                      params: Sequence[Any] = ()) -> dict[str, np.ndarray]:
        """Numeric ``columns`` of the rows of ``FROM … WHERE …`` as float64 arrays (``NaN``
        for ``NULL``), row ``i`` of each array from the same row, in no particular order:
        what aggregates over many rows are computed from."""

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction: every call of this thread inside it is part of it; it
        commits at the end of the block and rolls back on an exception. Nested blocks join
        the outer one."""

    def snapshot(self) -> AbstractContextManager[None]:
        """A read transaction: every read of this thread inside the block sees one state of
        the database while writers go on. Nested blocks join the outer one."""

    def integrity_problems(self) -> list[str]:
        """What is wrong with the stored data (half-written runs, a failed check); empty
        when nothing is."""

    def applied_migrations(self) -> list[str]: ...

    def close(self) -> None: ...


def half_written_runs(db: Database) -> list[str]:
    """Runs without their chunks row, or chunks without their run: what a write cut off
    halfway would leave (``add`` writes both in one transaction, so there should be none)."""
    row = db.one(
        """SELECT (SELECT COUNT(*) FROM runs r LEFT JOIN chunks c ON c.run_id = r.id
                   WHERE c.run_id IS NULL),
                  (SELECT COUNT(*) FROM chunks c LEFT JOIN runs r ON r.id = c.run_id
                   WHERE r.id IS NULL)""")
    runs_alone, chunks_alone = row if row else (0, 0)
    problems = []
    if runs_alone:
        problems.append(f"{runs_alone} runs without their chunks")
    if chunks_alone:
        problems.append(f"{chunks_alone} chunks rows without their run")
    return problems


def frame(db: Database, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    """A query's rows as a DataFrame (what ``pandas.read_sql_query`` builds, from any
    backend's cursor)."""
    columns, rows = db.columns_and_rows(sql, params)
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)
