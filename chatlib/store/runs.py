"""The run store: every answer (finished, stopped or failed) as one row in SQLite.

The schema is built by ``chatlib.store.migrations``; the chats kept in the same file are
``chatlib.store.chats``'s.

One small interface (``add``, ``get``, ``runs``, ``chunk_offsets``) so the store can move to
PostgreSQL with the same schema. WAL mode lets the stats page read while chat pages write;
each call opens its own short transaction, so many threads and processes can share a file.
Per-run metrics are computed once on ``add`` and kept in columns so the stats page
aggregates 100k runs without touching the chunk timestamps. Keys are never stored: the
settings saved are ``Settings.to_dict()``, which holds none.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd

from chatlib.paths import data_dir
from chatlib.record import RunRecord
from chatlib.store.migrations import MIGRATIONS

__all__ = ["RunStore", "RowidMismatch", "default_store_path", "MIGRATIONS", "STATS_COLUMNS"]

class RowidMismatch(LookupError):
    """A run's chunks row does not share its rowid (see ``RunStore.iter_offsets``)."""


def default_store_path() -> Path:
    import os

    return Path(os.environ.get("CHATLAB_DB") or data_dir() / "runs.sqlite3")


_RUN_COLUMNS = (
    "id", "created_at", "page", "provider", "model", "label", "group_id", "status", "error",
    "finish_reason", "attempts", "settings_json", "prompt", "response", "input_tokens",
    "input_source", "output_tokens", "output_source", "chunk_count", "ttft_s", "e2e_s",
    "tpot_s", "itl_mean_s", "output_tps", "decode_tps", "ttfat_s", "reasoning_s",
    "reasoning_tokens", "reasoning_source", "reasoning_hidden", "answer_tokens",
    "answer_decode_tps", "cached_input_tokens",
)
_INSERT_RUN = (f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) "
               f"VALUES ({','.join('?' * len(_RUN_COLUMNS))})")
_INSERT_CHUNKS = ("INSERT INTO chunks (run_id, offsets, texts_json, reasoning_offsets, "
                  "reasoning_texts_json) VALUES (?,?,?,?,?)")


def _run_values(record: RunRecord) -> tuple[Any, ...]:
    """The ``runs`` row of a record, its per-run metrics computed here once."""
    m = record.metrics()
    itl_mean = sum(m.itl_s) / len(m.itl_s) if m.itl_s else None
    return (
        record.id, record.created_at, record.page, record.provider, record.model,
        record.label, record.group_id, record.status, record.error,
        record.finish_reason, record.attempts, json.dumps(record.settings),
        record.prompt, record.text, record.input_tokens, record.input_source,
        record.output_tokens, record.output_source, len(record.chunk_texts),
        m.ttft_s, m.e2e_s, m.tpot_s, itl_mean, m.output_tps, m.decode_tps,
        m.ttfat_s, m.reasoning_s, record.reasoning_tokens, record.reasoning_source,
        int(record.reasoning_hidden), m.answer_tokens, m.answer_decode_tps,
        record.cached_input_tokens,
    )


def _chunk_values(record: RunRecord) -> tuple[Any, ...]:
    return (
        record.id,
        array("d", record.chunk_offsets_s).tobytes(),
        json.dumps(record.chunk_texts),
        array("d", record.reasoning_offsets_s).tobytes(),
        json.dumps(record.reasoning_texts),
    )


def _floats(blob: bytes) -> list[float]:
    values = array("d")
    values.frombytes(blob)
    return list(values)


# The runs columns the stats page reads: everything but the long texts (settings, prompt,
# response), so 100k rows stay a few tens of MB.
STATS_COLUMNS = (
    "id", "created_at", "page", "provider", "model", "label", "group_id", "status", "error",
    "finish_reason", "attempts", "input_tokens", "input_source", "output_tokens",
    "output_source", "chunk_count", "ttft_s", "e2e_s", "tpot_s", "itl_mean_s", "output_tps",
    "decode_tps", "ttfat_s", "reasoning_s", "reasoning_tokens", "reasoning_source",
    "reasoning_hidden", "answer_tokens", "answer_decode_tps",
)


class RunStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    def _migrate(self) -> None:
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")  # one process migrates; others wait, then see it done
        try:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY)")
            done = {row[0] for row in db.execute("SELECT name FROM migrations")}
            for step in MIGRATIONS:
                if step.__name__ not in done:
                    step(db)
                    db.execute("INSERT INTO migrations VALUES (?)", (step.__name__,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def add(self, record: RunRecord) -> None:
        db = self._connect()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(_INSERT_RUN, _run_values(record))
            db.execute(_INSERT_CHUNKS, _chunk_values(record))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def add_many(self, records: Iterable[RunRecord], batch: int = 2000) -> int:
        """Insert many runs, ``batch`` per transaction (bulk imports, benchmarks); the rows
        are exactly what ``add`` writes. Returns how many were added."""
        db = self._connect()
        added = 0
        it = iter(records)
        while part := list(islice(it, batch)):
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(_INSERT_RUN, [_run_values(r) for r in part])
                db.executemany(_INSERT_CHUNKS, [_chunk_values(r) for r in part])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            added += len(part)
        return added

    def get(self, run_id: str) -> RunRecord | None:
        db = self._connect()
        row = db.execute(
            """SELECT r.provider, r.model, r.settings_json, r.status, r.created_at, c.offsets,
                      c.texts_json, r.error, r.finish_reason, r.attempts, r.input_tokens,
                      r.input_source, r.output_tokens, r.output_source, r.prompt, r.page,
                      r.label, r.group_id, r.id, c.reasoning_offsets, c.reasoning_texts_json,
                      r.reasoning_tokens, r.reasoning_source, r.reasoning_hidden,
                      r.cached_input_tokens
               FROM runs r JOIN chunks c ON c.run_id = r.id WHERE r.id = ?""",
            (run_id,),
        ).fetchone()
        if row is None:
            return None
        return RunRecord(
            provider=row[0], model=row[1], settings=json.loads(row[2]), status=row[3],
            created_at=row[4], chunk_offsets_s=_floats(row[5]), chunk_texts=json.loads(row[6]),
            error=row[7], finish_reason=row[8], attempts=row[9], input_tokens=row[10],
            input_source=row[11], output_tokens=row[12], output_source=row[13],
            prompt=row[14], page=row[15], label=row[16], group_id=row[17], id=row[18],
            reasoning_offsets_s=_floats(row[19]), reasoning_texts=json.loads(row[20]),
            reasoning_tokens=row[21], reasoning_source=row[22],
            reasoning_hidden=bool(row[23]), cached_input_tokens=row[24],
        )

    def runs(self, where: str = "", params: Iterable[Any] = ()) -> pd.DataFrame:
        """All run rows (no chunk data) matching an optional SQL ``where`` clause."""
        sql = "SELECT * FROM runs" + (f" WHERE {where}" if where else "") + " ORDER BY created_at"
        return pd.read_sql_query(sql, self._connect(), params=list(params))

    def chunk_offsets(self, run_ids: Iterable[str]) -> dict[str, list[float]]:
        ids = list(run_ids)
        out: dict[str, list[float]] = {}
        db = self._connect()
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ",".join("?" * len(part))
            for run_id, blob in db.execute(
                f"SELECT run_id, offsets FROM chunks WHERE run_id IN ({marks})", part
            ):
                out[run_id] = _floats(blob)
        return out

    # -- queries for the stats page ---------------------------------------------------------
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads in this thread inside the block all see one state of the store (a read
        transaction: WAL keeps it while writers go on), so figures built from several
        queries agree with each other."""
        db = self._connect()
        if db.in_transaction:  # nested: the outer block already holds the snapshot
            yield
            return
        db.execute("BEGIN")
        try:
            yield
        finally:
            db.execute("COMMIT")

    def select(
        self, columns: Sequence[str] = STATS_COLUMNS, where: str = "", params: Iterable[Any] = ()
    ) -> pd.DataFrame:
        """Some columns of the runs matching ``where`` (oldest first); the stats page reads
        ``STATS_COLUMNS`` so the long texts stay on disk."""
        known = {row[1] for row in self._connect().execute("PRAGMA table_info(runs)")}
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise ValueError(f"unknown runs columns {unknown}")
        sql = (f"SELECT {', '.join(columns)} FROM runs" + (f" WHERE {where}" if where else "")
               + " ORDER BY created_at")
        return pd.read_sql_query(sql, self._connect(), params=list(params))

    def iter_offsets(
        self, where: str = "", params: Iterable[Any] = (), batch: int = 5000, *,
        by_rowid: bool = False,
    ) -> Iterator[list[tuple[str, bytes]]]:
        """``(run_id, offsets)`` of the runs matching ``where`` (a clause over ``runs``
        columns), ``batch`` rows at a time; ``offsets`` is the packed float64 blob (read it
        with ``numpy.frombuffer``), so a pooled figure over 100k runs never builds lists.

        ``by_rowid`` finds each run's chunks row by the runs row's rowid (one B-tree search
        instead of two: a third less CPU over 100k runs). That holds while both tables were
        only ever appended to together, as ``add`` does; when a run is missed that way,
        ``RowidMismatch`` is raised after the last batch and the caller reads again without.
        """
        params = list(params)
        clause = f" WHERE {where}" if where else ""
        if not by_rowid:
            cursor = self._connect().execute(
                "SELECT runs.id, chunks.offsets FROM runs JOIN chunks ON chunks.run_id = runs.id"
                + clause, params)
            while rows := cursor.fetchmany(batch):
                yield rows
            return
        db = self._connect()
        with self.snapshot():
            expected = db.execute(f"SELECT COUNT(*) FROM runs{clause}", params).fetchone()[0]
            cursor = db.execute(
                "SELECT runs.id, chunks.offsets FROM runs JOIN chunks ON chunks.rowid = runs.rowid"
                " AND chunks.run_id = runs.id" + clause, params)
            seen = 0
            while rows := cursor.fetchmany(batch):
                seen += len(rows)
                yield rows
        if seen != expected:
            raise RowidMismatch(f"{expected - seen} of {expected} runs not found by rowid")

    def iter_rows(
        self, columns: Sequence[str], where: str = "", params: Iterable[Any] = (),
        batch: int = 1000,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows of ``columns`` (of ``runs``) plus the packed offsets blobs of the answer and
        of the thinking last, for the runs matching ``where``, oldest first, ``batch`` at a
        time (exports of any size)."""
        known = {row[1] for row in self._connect().execute("PRAGMA table_info(runs)")}
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise ValueError(f"unknown runs columns {unknown}")
        sql = (f"SELECT {', '.join(f'runs.{c}' for c in columns)}, chunks.offsets, "
               "chunks.reasoning_offsets "
               "FROM runs JOIN chunks ON chunks.run_id = runs.id"
               + (f" WHERE {where}" if where else "") + " ORDER BY runs.created_at")
        cursor = self._connect().execute(sql, list(params))
        while rows := cursor.fetchmany(batch):
            yield rows

    def recent(self, limit: int = 200, where: str = "", params: Iterable[Any] = ()) -> pd.DataFrame:
        """The newest runs matching ``where`` first, with the start of each answer (pickers)."""
        return pd.read_sql_query(
            f"""SELECT id, created_at, provider, model, status, page, chunk_count,
                       substr(response, 1, 80) AS preview
                FROM runs {f"WHERE {where}" if where else ""}
                ORDER BY created_at DESC LIMIT ?""",
            self._connect(), params=[*params, int(limit)],
        )

    def totals(self, where: str = "", params: Iterable[Any] = ()) -> pd.DataFrame:
        """Counts and token sums of the runs matching ``where``, one row per provider, model
        and status: what the stats page's counts and costs are made of. ``gaps`` is how many
        inter-chunk gaps those runs hold; ``priced_*`` only cover runs whose input and output
        counts are both known; ``output_from_<source>`` counts runs by where their output
        count came from (likewise ``input_from_<source>``). Grouped in the covering index's
        order, so SQLite needs no sort."""
        by_source = ", ".join(
            f"SUM({side}_source = '{source}') AS {side}_from_{source}"
            for side in ("output", "input") for source in ("usage", "tokenizer", "estimate")
        )
        return pd.read_sql_query(
            f"""SELECT provider, model, status,
                       COUNT(*) AS runs,
                       SUM(input_tokens) AS input_tokens, COUNT(input_tokens) AS input_counted,
                       SUM(output_tokens) AS output_tokens, COUNT(output_tokens) AS output_counted,
                       SUM(reasoning_tokens) AS reasoning_tokens,
                       COUNT(reasoning_tokens) AS reasoning_counted,
                       SUM(CASE WHEN chunk_count > 1 THEN chunk_count - 1 ELSE 0 END) AS gaps,
                       COUNT(input_tokens + output_tokens) AS priced_runs,
                       SUM(CASE WHEN output_tokens IS NOT NULL THEN input_tokens END)
                           AS priced_input_tokens,
                       SUM(CASE WHEN input_tokens IS NOT NULL THEN output_tokens END)
                           AS priced_output_tokens,
                       {by_source},
                       MIN(created_at) AS first_at, MAX(created_at) AS last_at
                FROM runs {f"WHERE {where}" if where else ""}
                GROUP BY provider, model, status
                ORDER BY provider, model, status""",
            self._connect(), params=list(params),
        )

    def provider_models(self) -> list[tuple[str, str]]:
        """Every (provider, model) pair with at least one run."""
        rows = self._connect().execute(
            "SELECT DISTINCT provider, model FROM runs ORDER BY provider, model"
        ).fetchall()
        return [(p, m) for p, m in rows]

    def count(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    # -- votes (compare page) -------------------------------------------------------------
    def add_vote(
        self,
        comparison_id: str,
        choice: str,
        *,
        blind: bool,
        prompt: str,
        targets: list[dict[str, Any]],
        created_at: float,
    ) -> None:
        """Keep the verdict on a comparison; voting again replaces it."""
        self._connect().execute(
            "INSERT OR REPLACE INTO votes VALUES (?,?,?,?,?,?)",
            (comparison_id, created_at, choice, int(blind), prompt, json.dumps(targets)),
        )

    def votes(self) -> pd.DataFrame:
        """One row per vote (``targets_json`` holds the label -> provider/model mapping)."""
        return pd.read_sql_query("SELECT * FROM votes ORDER BY created_at", self._connect())

    def voted_runs(self) -> pd.DataFrame:
        """Each run of a voted comparison beside its vote: ``won`` is 1 for the chosen
        label, 0 for the others, NULL on a tie."""
        return pd.read_sql_query(
            """SELECT v.comparison_id, v.choice, v.blind, r.id AS run_id, r.label, r.provider,
                      r.model, r.status, r.ttft_s, r.e2e_s, r.tpot_s, r.output_tps,
                      CASE WHEN v.choice = 'tie' THEN NULL ELSE r.label = v.choice END AS won
               FROM votes v JOIN runs r ON r.group_id = v.comparison_id AND r.page = 'compare'
               ORDER BY v.created_at, r.label, r.created_at""",
            self._connect(),
        )
