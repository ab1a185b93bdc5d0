"""The pooled inter-token latency kept as runs arrive: one gap histogram per provider, model,
page, owner and UTC hour (``itl_hours``), so the stats page's ITL over a million runs is a sum
of a few thousand histograms instead of a read of every chunk offset.

``add`` merges the gaps of finished runs into their hours inside the run's own transaction
(``RunStore.add``/``add_many``), so the histograms always count exactly the stored runs.
``read`` sums the whole hours a filter covers and adds the runs of its cut-off first and last
hours from their offsets, so any time range is counted exactly; it answers ``None`` for a
filter the hours cannot serve (by prompt, chat or target), and the caller reads offsets.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from chatlib.runs.distributions import GapHistogram
from chatlib.runs.record import RunRecord
from chatlib.store.filters import RunFilter

__all__ = ["ITL_HOURS_TABLE", "HOUR_S", "EdgeOffsets", "add", "read", "backfill"]

HOUR_S = 3600.0
ITL_HOURS_TABLE = """
    CREATE TABLE itl_hours (
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        page TEXT NOT NULL,
        owner TEXT NOT NULL,
        hour {real} NOT NULL,          -- start of the UTC hour (epoch seconds) of created_at
        runs INTEGER NOT NULL,         -- finished runs with at least one gap
        gaps INTEGER NOT NULL,
        gap_sum {real} NOT NULL,       -- seconds, for the exact mean
        bins {blob} NOT NULL,          -- GapHistogram.packed()
        PRIMARY KEY (provider, model, page, owner, hour)
    )"""
_KEY = "provider = ? AND model = ? AND page = ? AND owner = ? AND hour = ?"
Key = tuple[str, str, str, str, float]


def _hour(created_at: float) -> float:
    return math.floor(created_at / HOUR_S) * HOUR_S


def _merge(into: dict[Any, GapHistogram], rows: Iterable[tuple[Any, bytes]]) -> None:
    """Add the runs' packed offsets ``rows`` of ``(key, offsets)`` to ``into``'s histograms:
    one histogram per key of the batch (one binning pass, not one per run)."""
    blobs_of: dict[Any, list[bytes]] = {}
    for key, blob in rows:
        blobs_of.setdefault(key, []).append(bytes(blob))
    for key, blobs in blobs_of.items():
        part = GapHistogram.of_blobs(blobs)
        into[key] = into[key].add(part) if key in into else part


def _histograms(records: Iterable[RunRecord], owner: str) -> dict[Key, GapHistogram]:
    from array import array

    out: dict[Key, GapHistogram] = {}
    _merge(out, (((r.provider, r.model, r.page, owner, _hour(r.created_at)),
                  array("d", r.chunk_offsets_s).tobytes())
                 for r in records if r.status == "ok" and len(r.chunk_offsets_s) >= 2))
    return out


def add(db: Any, records: Iterable[RunRecord], owner: str) -> None:
    """Merge the finished runs' gaps into their hours (call inside the runs' transaction)."""
    hours = _histograms(records, owner)
    if not hours:
        return
    keys = sorted(hours)  # one lock order for every writer: no deadlock between two
    db.executemany("INSERT INTO itl_hours (provider, model, page, owner, hour, runs, gaps, "
                   "gap_sum, bins) VALUES (?,?,?,?,?,0,0,0,?) ON CONFLICT DO NOTHING",
                   [(*k, GapHistogram().packed()) for k in keys])
    lock = " FOR UPDATE" if db.shared else ""  # SQLite's writer already holds the file
    merged = []
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        rows = db.all("SELECT provider, model, page, owner, hour, runs, gaps, gap_sum, bins "
                      "FROM itl_hours WHERE (provider, model, page, owner, hour) IN (VALUES "
                      + ",".join(["(?,?,?,?,?)"] * len(part))
                      + ") ORDER BY provider, model, page, owner, hour" + lock,
                      [v for k in part for v in k])
        for *key, runs, gaps, total, blob in rows:
            stored = GapHistogram.unpacked(runs, gaps, total, blob)
            stored.add(hours[(key[0], key[1], key[2], key[3], float(key[4]))])
            merged.append((stored.runs, stored.gaps, stored.total_s, stored.packed(), *key))
    db.executemany(f"UPDATE itl_hours SET runs = ?, gaps = ?, gap_sum = ?, bins = ? WHERE {_KEY}",
                   merged)


EdgeOffsets = Callable[[RunFilter], Iterable[list[tuple[str, str, bytes]]]]


def read(db: Any, flt: RunFilter, owner: str | None,
         edge_offsets: EdgeOffsets) -> dict[tuple[str, str], GapHistogram] | None:
    """The pooled gaps of the finished runs matching ``flt``, per (provider, model), or
    ``None`` when the hours cannot tell (a filter by prompt, chat, target or excluded
    provider). ``edge_offsets(flt)`` yields batches of ``(provider, model, offsets)`` of the
    runs of ``flt``: read for the cut-off first and last hours."""
    if flt.statuses and "ok" not in flt.statuses:
        return {}  # only finished runs have an ITL
    if flt.prompts or flt.group_ids or flt.labels or flt.not_providers or flt.streamed:
        return None
    first = None if flt.since is None else math.ceil(flt.since / HOUR_S) * HOUR_S
    end = None if flt.until is None else _hour(flt.until)
    whole_hours = first is None or end is None or first <= end
    out: dict[tuple[str, str], GapHistogram] = {}

    if whole_hours:
        parts, params = ["1 = 1"], []
        for field_name, column in (("providers", "provider"), ("models", "model"),
                                   ("pages", "page")):
            values = getattr(flt, field_name)
            if values:
                parts.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if owner is not None:
            parts.append("owner = ?")
            params.append(owner)
        if first is not None:
            parts.append("hour >= ?")
            params.append(first)
        if end is not None:
            parts.append("hour < ?")
            params.append(end)
        by_group: dict[tuple[str, str], list[tuple[int, int, float, bytes]]] = {}
        for provider, model, *row in db.all(
                "SELECT provider, model, runs, gaps, gap_sum, bins FROM itl_hours WHERE "
                + " AND ".join(parts), params):
            by_group.setdefault((provider, model), []).append((row[0], row[1], row[2], row[3]))
        for key, rows in by_group.items():
            out[key] = GapHistogram.summed(rows)  # the edges are added below
    # The runs the whole hours leave out: before the first whole hour, from the last on.
    ok = flt.narrowed(statuses=("ok",))
    edges = [ok]  # a range within one hour: its runs alone
    if whole_hours:
        edges = []
        if first is not None and flt.since is not None and first > flt.since:
            edges.append(ok.narrowed(until=first))
        if end is not None and flt.until is not None and end < flt.until:
            edges.append(ok.narrowed(since=end))
    for edge in edges:
        for batch in edge_offsets(edge):
            _merge(out, (((provider, model), blob) for provider, model, blob in batch))
    return out


def backfill(db: sqlite3.Connection) -> None:
    """Build the hours of a store's existing runs (the migration that adds the table)."""
    cursor = db.execute(
        "SELECT r.provider, r.model, r.page, r.owner, r.created_at, c.offsets FROM runs r "
        "JOIN chunks c ON c.run_id = r.id WHERE r.status = 'ok' AND r.chunk_count > 1")
    hours: dict[Key, GapHistogram] = {}
    while rows := cursor.fetchmany(5000):
        _merge(hours, (((provider, model, page, owner, _hour(created_at)), blob)
                       for provider, model, page, owner, created_at, blob in rows))
    db.executemany("INSERT INTO itl_hours VALUES (?,?,?,?,?,?,?,?,?)",
                   [(*k, h.runs, h.gaps, h.total_s, h.packed()) for k, h in hours.items()])
