"""The run store: every answer (finished, stopped or failed) as one row, in SQLite or
PostgreSQL (``chatlib.store.database``: the backend is chosen by a path or a URL).

What callers pass is typed: a ``RunRecord`` to add, a ``RunFilter`` to read, the fields of a
vote; no SQL leaves this package. Per-run metrics are computed once on ``add`` and kept in
columns, so the stats page aggregates a million runs without touching the chunk timestamps.
A store may be scoped to one signed-in user (``for_owner``): it then stamps that user on
what it writes and reads only that user's rows. Keys are never stored: the settings saved
are ``Settings.to_dict()``, which holds none. Chats, comparisons and prompt sets live in the
same database (``chatlib.store.chats`` and siblings), reached through a ``RunStore``.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd

from chatlib.runs.distributions import GapHistogram
from chatlib.runs.record import RunRecord
from chatlib.store import itl_hours, run_figures
from chatlib.store.backends import open_database
from chatlib.store.database import Database, frame
from chatlib.store.filters import RunFilter, where
from chatlib.store.run_figures import FigureQuery, RunFigures

__all__ = ["RunStore", "STATS_COLUMNS"]

_RUN_COLUMNS = (
    "id", "created_at", "page", "provider", "model", "label", "group_id", "status", "error",
    "finish_reason", "attempts", "settings_json", "prompt", "response", "input_tokens",
    "input_source", "output_tokens", "output_source", "chunk_count", "ttft_s", "e2e_s",
    "tpot_s", "itl_mean_s", "output_tps", "decode_tps", "ttfat_s", "reasoning_s",
    "reasoning_tokens", "reasoning_source", "reasoning_hidden", "answer_tokens",
    "answer_decode_tps", "cached_input_tokens", "owner",
)
_INSERT_RUN = (f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) "
               f"VALUES ({','.join('?' * len(_RUN_COLUMNS))})")
_INSERT_CHUNKS = ("INSERT INTO chunks (run_id, offsets, texts_json, reasoning_offsets, "
                  "reasoning_texts_json) VALUES (?,?,?,?,?)")


def _run_values(record: RunRecord, owner: str) -> tuple[Any, ...]:
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
        record.cached_input_tokens, owner,
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


_KNOWN_COLUMNS = frozenset(_RUN_COLUMNS)
_GET_RUN = """SELECT r.provider, r.model, r.settings_json, r.status, r.created_at, c.offsets,
                     c.texts_json, r.error, r.finish_reason, r.attempts, r.input_tokens,
                     r.input_source, r.output_tokens, r.output_source, r.prompt, r.page,
                     r.label, r.group_id, r.id, c.reasoning_offsets, c.reasoning_texts_json,
                     r.reasoning_tokens, r.reasoning_source, r.reasoning_hidden,
                     r.cached_input_tokens
              FROM runs r JOIN chunks c ON c.run_id = r.id WHERE r.id = ?"""


def _checked(columns: Sequence[str]) -> Sequence[str]:
    unknown = [c for c in columns if c not in _KNOWN_COLUMNS]
    if unknown:
        raise ValueError(f"unknown runs columns {unknown}")
    return columns


class RunStore:
    """Runs and votes. ``RunStore()`` opens the configured store (``CHATLAB_DATABASE_URL``,
    else the SQLite file); ``RunStore(path_or_url)`` a given one."""

    def __init__(self, target: str | Path | Database | None = None, *,
                 owner: str | None = None) -> None:
        self.database: Database = (open_database(target)
                                   if target is None or isinstance(target, (str, Path))
                                   else target)
        #: Whose rows this store reads and writes: ``None`` is everyone's (no sign-in, or an
        #: admin reading); a user id keeps that user's alone.
        self.owner = owner

    @property
    def location(self) -> str:
        """Where the runs are (a path, or a URL without its password)."""
        return self.database.location

    def for_owner(self, owner: str | None) -> RunStore:
        """The same database, seen as ``owner`` (``None``: everyone's rows)."""
        return RunStore(self.database, owner=owner)

    def _where(self, flt: RunFilter | None, table: str = "") -> tuple[str, list[Any]]:
        return where(flt or RunFilter(), self.owner, table)

    def _owner_clause(self, table: str = "") -> tuple[str, list[Any]]:
        """`` AND owner = ?`` for a scoped store, else nothing."""
        return ("", []) if self.owner is None else (f" AND {table}owner = ?", [self.owner])

    # -- writing ------------------------------------------------------------------------
    def add(self, record: RunRecord) -> None:
        with self.database.transaction():
            self.database.execute(_INSERT_RUN, _run_values(record, self.owner or ""))
            self.database.execute(_INSERT_CHUNKS, _chunk_values(record))
            itl_hours.add(self.database, [record], self.owner or "")

    def add_many(self, records: Iterable[RunRecord], batch: int = 2000) -> int:
        """Insert many runs, ``batch`` per transaction (bulk imports, benchmarks); the rows
        are exactly what ``add`` writes. Returns how many were added."""
        added = 0
        it = iter(records)
        while part := list(islice(it, batch)):
            with self.database.transaction():
                self.database.executemany(_INSERT_RUN,
                                          [_run_values(r, self.owner or "") for r in part])
                self.database.executemany(_INSERT_CHUNKS, [_chunk_values(r) for r in part])
                itl_hours.add(self.database, part, self.owner or "")
            added += len(part)
        return added

    def add_vote(self, comparison_id: str, choice: str, *, blind: bool, prompt: str,
                 targets: list[dict[str, Any]], created_at: float) -> None:
        """Keep the verdict on a comparison; voting again replaces it (one's own only)."""
        self.database.execute(
            """INSERT INTO votes (comparison_id, created_at, choice, blind, prompt,
                                  targets_json, owner) VALUES (?,?,?,?,?,?,?)
               ON CONFLICT (comparison_id) DO UPDATE SET created_at = excluded.created_at,
                   choice = excluded.choice, blind = excluded.blind, prompt = excluded.prompt,
                   targets_json = excluded.targets_json
               WHERE votes.owner = excluded.owner""",
            (comparison_id, created_at, choice, int(blind), prompt, json.dumps(targets),
             self.owner or ""))

    # -- reading one run ----------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord | None:
        clause, params = self._owner_clause("r.")
        row = self.database.one(_GET_RUN + clause, (run_id, *params))
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

    # -- reading many -------------------------------------------------------------------
    def snapshot(self) -> AbstractContextManager[None]:
        """Reads in this thread inside the block all see one state of the store (a read
        transaction: writers go on), so figures built from several queries agree."""
        return self.database.snapshot()

    def runs(self, flt: RunFilter | None = None) -> pd.DataFrame:
        """Every column of the runs matching ``flt`` (no chunk data), oldest first."""
        return self.select(_RUN_COLUMNS, flt)

    def select(self, columns: Sequence[str] = (), flt: RunFilter | None = None) -> pd.DataFrame:
        """Some columns of the runs matching ``flt``, oldest first; the stats page reads
        ``STATS_COLUMNS`` or fewer, so the long texts stay on disk."""
        clause, params = self._where(flt)
        return frame(self.database, f"SELECT {', '.join(_checked(columns or STATS_COLUMNS))} "
                     f"FROM runs{clause} ORDER BY created_at, id", params)

    def figures(self, columns: Sequence[str], flt: RunFilter | None = None) -> pd.DataFrame:
        """Numeric per-run ``columns`` of the runs matching ``flt`` as float64 (``NaN``:
        unknown), in no particular order: what the stats page's percentiles, histograms and
        charts are computed from, packed by the backend for speed."""
        clause, params = self._where(flt)
        return pd.DataFrame(self.database.float_columns(list(_checked(columns)),
                                                        f"FROM runs{clause}", params))

    def run_figures(self, query: FigureQuery, groups: Sequence[tuple[str, str]],
                    flt: RunFilter | None, executor: Executor, *,
                    in_python: bool = False) -> RunFigures:
        """The per-run figures ``query`` asks for (counts, means, percentiles, the median's
        interval, histograms, medians over time) over the finished runs of each (provider,
        model) of ``groups`` matching ``flt``: computed by the database where it can
        (PostgreSQL), else (or with ``in_python``) in numpy over the fetched columns
        (``chatlib.store.run_figures``); the same figures either way. ``executor`` runs the
        reads side by side."""
        _checked(query.columns())
        read = run_figures.read_in_python if in_python else run_figures.read
        return read(self.database, groups, flt or RunFilter(), query,
                    lambda f: self._where(f), executor)

    def iter_offsets(self, flt: RunFilter | None = None, batch: int = 5000
                     ) -> Iterator[list[tuple[str, bytes]]]:
        """``(run_id, offsets)`` of the runs matching ``flt``, ``batch`` rows at a time;
        ``offsets`` is the packed float64 blob (read it with ``numpy.frombuffer``), so a
        pooled figure over a million runs never builds lists."""
        clause, params = self._where(flt, "runs.")
        yield from self.database.stream(
            "SELECT runs.id, chunks.offsets FROM runs JOIN chunks ON chunks.run_id = runs.id"
            + clause, params, batch)

    def itl_pools(self, flt: RunFilter | None = None
                  ) -> dict[tuple[str, str], GapHistogram] | None:
        """The pooled chunk gaps of the finished runs matching ``flt`` per (provider,
        model), as histograms kept as runs were added (``chatlib.store.itl_hours``);
        ``None`` for a filter they cannot serve (by prompt, chat or target)."""
        def edge_offsets(edge: RunFilter) -> Iterator[list[tuple[str, str, bytes]]]:
            clause, params = self._where(edge, "runs.")
            yield from self.database.stream(
                "SELECT runs.provider, runs.model, chunks.offsets FROM runs JOIN chunks ON "
                f"chunks.run_id = runs.id{clause}", params, 1000)

        with self.snapshot():
            return itl_hours.read(self.database, flt or RunFilter(), self.owner, edge_offsets)

    def iter_rows(self, columns: Sequence[str], flt: RunFilter | None = None,
                  batch: int = 1000) -> Iterator[list[tuple[Any, ...]]]:
        """Rows of ``columns`` (of ``runs``) plus the packed offsets blobs of the answer and
        of the thinking last, for the runs matching ``flt``, oldest first, ``batch`` at a
        time (exports of any size)."""
        clause, params = self._where(flt, "runs.")
        yield from self.database.stream(
            f"SELECT {', '.join(f'runs.{c}' for c in _checked(columns))}, chunks.offsets, "
            "chunks.reasoning_offsets FROM runs JOIN chunks ON chunks.run_id = runs.id"
            f"{clause} ORDER BY runs.created_at, runs.id", params, batch)

    def recent(self, flt: RunFilter | None = None, limit: int = 200) -> pd.DataFrame:
        """The newest runs matching ``flt`` first, with the start of each answer (pickers)."""
        clause, params = self._where(flt)
        return frame(self.database,
                     f"""SELECT id, created_at, provider, model, status, page, chunk_count,
                                substr(response, 1, 80) AS preview
                         FROM runs{clause} ORDER BY created_at DESC, id DESC LIMIT ?""",
                     [*params, int(limit)])

    def totals(self, flt: RunFilter | None = None) -> pd.DataFrame:
        """Counts and token sums of the runs matching ``flt``, one row per provider, model
        and status: what the stats page's counts and costs are made of. ``gaps`` is how many
        inter-chunk gaps those runs hold; ``priced_*`` only cover runs whose input and output
        counts are both known; ``output_from_<source>`` counts runs by where their output
        count came from (likewise ``input_from_<source>``). Grouped in the covering index's
        order, so the database needs no sort."""
        by_source = ", ".join(
            f"SUM(CASE WHEN {side}_source = '{source}' THEN 1 ELSE 0 END) "
            f"AS {side}_from_{source}"
            for side in ("output", "input") for source in ("usage", "tokenizer", "estimate")
        )
        clause, params = self._where(flt)
        return frame(self.database,
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
                FROM runs{clause}
                GROUP BY provider, model, status
                ORDER BY provider, model, status""", params)

    def provider_models(self) -> list[tuple[str, str]]:
        """Every (provider, model) pair with at least one run. A skip scan: two index
        probes per pair found, not a pass over every run (a million runs: 0.5 s -> ms)."""
        mine, params = self._owner_clause("r.")
        step = ("SELECT {column} FROM runs r WHERE (r.provider, r.model) > (pm.provider, "
                f"pm.model){mine} ORDER BY r.provider, r.model LIMIT 1")
        rows = self.database.all(
            f"""WITH RECURSIVE pm(provider, model) AS (
                    SELECT * FROM (SELECT r.provider, r.model FROM runs r WHERE 1 = 1{mine}
                                   ORDER BY r.provider, r.model LIMIT 1) AS first_pair
                    UNION ALL
                    SELECT ({step.format(column="r.provider")}),
                           ({step.format(column="r.model")})
                    FROM pm WHERE pm.provider IS NOT NULL)
                SELECT provider, model FROM pm WHERE provider IS NOT NULL""",
            [*params, *params, *params])
        return [(p, m) for p, m in rows]

    def count(self, flt: RunFilter | None = None) -> int:
        clause, params = self._where(flt)
        row = self.database.one(f"SELECT COUNT(*) FROM runs{clause}", params)
        return int(row[0]) if row else 0

    # -- votes (compare page) -----------------------------------------------------------
    def votes(self) -> pd.DataFrame:
        """One row per vote (``targets_json`` holds the label -> provider/model mapping)."""
        clause, params = self._owner_clause()
        return frame(self.database, "SELECT comparison_id, created_at, choice, blind, prompt, "
                     f"targets_json FROM votes WHERE 1 = 1{clause} ORDER BY created_at", params)

    def voted_runs(self) -> pd.DataFrame:
        """Each run of a voted comparison beside its vote: ``won`` is 1 for the chosen
        label, 0 for the others, NULL on a tie."""
        clause, params = self._owner_clause("v.")
        return frame(self.database,
                     f"""SELECT v.comparison_id, v.choice, v.blind, r.id AS run_id, r.label,
                                r.provider, r.model, r.status, r.ttft_s, r.e2e_s, r.tpot_s,
                                r.output_tps,
                                CASE WHEN v.choice = 'tie' THEN NULL
                                     WHEN r.label = v.choice THEN 1 ELSE 0 END AS won
                         FROM votes v JOIN runs r ON r.group_id = v.comparison_id
                              AND r.page = 'compare' AND r.owner = v.owner
                         WHERE 1 = 1{clause}
                         ORDER BY v.created_at, r.label, r.created_at, r.id""", params)

    # -- upkeep -------------------------------------------------------------------------
    def integrity_problems(self) -> list[str]:
        """What is wrong with the stored data; empty when nothing is."""
        return self.database.integrity_problems()

    def close(self) -> None:
        self.database.close()
