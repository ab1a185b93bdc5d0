"""The team backend: a PostgreSQL server, chosen by ``CHATLAB_DATABASE_URL=postgresql://…``.

Connections come from a ``psycopg_pool`` pool (autocommit, so each call is its own short
transaction), bounded per process so N replicas stay under the server's ``max_connections``.
A thread that opens ``transaction`` or ``snapshot`` keeps one connection for the block, and
every call of that thread inside it runs on it; a snapshot is ``REPEATABLE READ READ ONLY``,
so the stats page's several queries see one state. Large reads (``stream``) use a
server-side cursor, so a million runs' offsets never sit in this process at once. The SQL
the stores write uses ``?`` placeholders; they become psycopg's ``%s`` here. The schema is
``chatlib.store.migrations_postgres``.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from chatlib.store.database import half_written_runs
from chatlib.store.migrations_postgres import MIGRATIONS

__all__ = ["PostgresDatabase", "redact_url"]

Row = tuple[Any, ...]
_MIGRATION_LOCK = 0x43484C42  # pg_advisory_xact_lock key: "CHLB"
_cursor_names = itertools.count()


def redact_url(url: str) -> str:
    """The URL without its password (what a page or a log may show)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase:
    ilike = "ILIKE"
    shared = True
    #: Ordered-set aggregates (``percentile_cont``): the stats page's figures are computed
    #: here, not in the app (``chatlib.store.run_figures``).
    percentiles_in_sql = True

    def __init__(self, url: str, *, max_connections: int | None = None) -> None:
        self.location = redact_url(url)
        size = max_connections or int(os.environ.get("CHATLAB_DATABASE_POOL", "10"))
        self._pool = ConnectionPool(url, min_size=1, max_size=size, open=True,
                                    kwargs={"autocommit": True}, name="chatlab")
        self._local = threading.local()
        self._migrate()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        pinned: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if pinned is not None:
            yield pinned
            return
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _pinned(self, begin: str, *settings: str) -> Iterator[None]:
        """Hold one connection for this thread's block, in a transaction opened by ``begin``
        (then ``settings``, ``SET LOCAL`` statements: they end with it)."""
        if getattr(self._local, "conn", None) is not None:  # nested: join the outer block
            yield
            return
        with self._pool.connection() as conn:
            conn.execute(begin)
            for setting in settings:
                conn.execute(setting)
            self._local.conn = conn
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._local.conn = None

    def _migrate(self) -> None:
        with self.transaction():
            self.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            self.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, "
                         "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            done = {row[0] for row in self.all("SELECT name FROM migrations")}
            for step in MIGRATIONS:
                if step.__name__ not in done:
                    step(self)
                    self.execute("INSERT INTO migrations (name) VALUES (?)", (step.__name__,))

    # -- statements ---------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._connection() as conn:
            return conn.execute(_pg(sql) if params else sql, params or None).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._connection() as conn, conn.cursor() as cursor:
            cursor.executemany(_pg(sql), list(rows))

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._connection() as conn:
            row: Row | None = conn.execute(_pg(sql) if params else sql,
                                           params or None).fetchone()
            return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._connection() as conn:
            return conn.execute(_pg(sql) if params else sql, params or None).fetchall()

    def columns_and_rows(self, sql: str, params: Sequence[Any] = ()
                         ) -> tuple[list[str], list[Row]]:
        with self._connection() as conn:
            cursor = conn.execute(_pg(sql) if params else sql, params or None)
            return [d.name for d in cursor.description or ()], cursor.fetchall()

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 1000
               ) -> Iterator[list[Row]]:
        # A named cursor lives in a transaction: inside a snapshot it is the snapshot's,
        # else this read opens its own. Binary: the packed offsets arrive as they are stored
        # (text would send them hex-encoded, twice the bytes; measured 1.8x slower).
        with self.snapshot(), self._connection() as conn:
            with conn.cursor(name=f"chatlab_stream_{next(_cursor_names)}",
                             binary=True) as cursor:
                cursor.itersize = batch
                cursor.execute(_pg(sql) if params else sql, params or None)
                while rows := cursor.fetchmany(batch):
                    yield rows

    def float_columns(self, columns: Sequence[str], from_where: str,
                      params: Sequence[Any] = ()) -> dict[str, np.ndarray]:
        # Each column packed by the server into one bytea of big-endian float64s (NULL as
        # NaN, so the columns stay aligned: one Agg node feeds every aggregate the same rows
        # in the same order): a million runs' figures in a few dozen values, not 10M
        # Python objects (measured: 7x faster than fetching the rows).
        packed = ", ".join(f"string_agg(float8send(COALESCE({c}::float8, 'NaN'::float8)), "
                           "''::bytea)" for c in columns)
        row = self.one(f"SELECT {packed} {from_where}", params) or ()
        return {c: np.frombuffer(blob or b"", dtype=">f8").astype(np.float64)
                for c, blob in zip(columns, row)}

    # -- transactions -------------------------------------------------------------------
    def transaction(self) -> Any:
        return self._pinned("BEGIN")

    def snapshot(self) -> Any:
        # No JIT and no parallel workers for reads (measured over a million runs, PostgreSQL
        # 15): the stats page's aggregates take well under a second each, and compiling the
        # one whose estimate passes jit_above_cost (the counts) cost 0.1-1 s more than it
        # saved; the page already reads two models side by side, so the counts' two parallel
        # workers only added processes on busy cores (+0.25 s CPU, 0.75 s of it in all).
        return self._pinned("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                            "SET LOCAL jit = off", "SET LOCAL max_parallel_workers_per_gather = 0")

    # -- checks -------------------------------------------------------------------------
    def integrity_problems(self) -> list[str]:
        return half_written_runs(self)

    def applied_migrations(self) -> list[str]:
        return [row[0] for row in self.all("SELECT name FROM migrations ORDER BY name")]

    def close(self) -> None:
        self._pool.close()
