"""Figures of the per-run columns of finished runs, per provider and model, computed where
the runs are: what the stats page's tables, headline and charts are made of.

``read`` answers one ``FigureQuery`` for a filter: for each column its count, mean, chosen
percentiles and the median's 95 % interval; a histogram of some columns; the median of some
columns per time bucket. Two ways, the same figures:

- in SQL (PostgreSQL: ``percentile_cont`` / ``percentile_disc … WITHIN GROUP``,
  ``width_bucket``), so a million runs' figures never leave the server: per model, in one
  snapshot, its counts (the median interval's ranks depend on them), its summaries (the
  ordered-set aggregates of one column share one sort), its histograms and its medians per
  bucket, each query over the model's own index range; the models are read side by side;
- in numpy over the fetched columns (SQLite, which has no ordered-set aggregate), the
  page's figures as they were always computed.

Definitions: ``percentile_cont`` is numpy's default ("linear") percentile: the value at
position ``q·(n−1)`` of the sorted values, interpolated between its two neighbours (the same
position, the same neighbours; the interpolation may round differently in the last bit). The
median's interval is two order statistics (``chatlib.runs.distributions.median_ci``), read
exactly by ``percentile_disc`` at the middle of their rank. Histogram bins are
``bin_index``'s: ``width_bucket`` over the bin edges puts every value in the same bin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from chatlib.runs.distributions import (CHART_SHIFT, _median_ci_rank, bin_edges, histogram,
                                        median_ci)
from chatlib.store.filters import RunFilter

__all__ = ["FigureQuery", "FigureSummary", "RunFigures", "read", "read_in_python", "read_in_sql",
           "summarize"]

Group = tuple[str, str]
Where = Callable[[RunFilter], tuple[str, list[Any]]]
_CONFIDENCE = 0.95


@dataclass(frozen=True)
class FigureQuery:
    """What to compute over the finished runs of each (provider, model)."""

    #: column -> the percentiles wanted, as fractions (0.5 is p50); every column also gets
    #: its count, mean and the median's 95 % interval.
    quantiles: Mapping[str, tuple[float, ...]]
    #: columns counted into the bins whose edges these are (values outside go to the end
    #: bins, as ``chatlib.runs.distributions.histogram``).
    histogram_columns: tuple[str, ...] = ()
    histogram_edges: tuple[float, ...] = ()
    #: columns whose median and count are wanted per time bucket: bucket
    #: ``floor((created_at + shift) / bucket)``, starting at ``k·bucket − shift`` (pandas'
    #: floor division and SQL's ``floor`` agree there: for epoch times a whole step of
    #: ``created_at`` is wider than the quotient's rounding).
    timeline_columns: tuple[str, ...] = ()
    #: the bucket (seconds) for the span (seconds) of a column's runs with a value, over
    #: every model asked for (ask for every model of the filter, as the page does).
    bucket_for_span: Callable[[float], float] = lambda span: 86400.0
    #: local midnight: the UTC offset in seconds.
    timeline_shift_s: float = 0.0
    #: (column, twin): pairs of columns that often hold the same value on every run (TTFAT
    #: is TTFT for a model that never thinks). Where they do, the database sums up the twin
    #: alone and the column gets the twin's figures: the same values, the same figures.
    twins: tuple[tuple[str, str], ...] = ()

    def columns(self) -> list[str]:
        return list(dict.fromkeys([*self.quantiles, *self.histogram_columns,
                                   *self.timeline_columns]))


@dataclass(frozen=True)
class FigureSummary:
    """One column over one model's finished runs (``NULL`` values left out)."""

    n: int
    mean: float | None
    quantiles: dict[float, float | None]  # fraction -> value
    median_ci: tuple[float, float] | None  # 95 %, None under 6 values


@dataclass
class RunFigures:
    """What ``read`` answers; a model without a finished run is left out."""

    summaries: dict[Group, dict[str, FigureSummary]] = field(default_factory=dict)
    #: (provider, model) -> column -> counts per bin
    histograms: dict[Group, dict[str, np.ndarray]] = field(default_factory=dict)
    #: column -> provider, model, bucket (start, epoch s), p50, n; one row per non-empty bucket
    timelines: dict[str, pd.DataFrame] = field(default_factory=dict)


def _empty_timeline() -> pd.DataFrame:
    return pd.DataFrame({"provider": pd.Series(dtype=object), "model": pd.Series(dtype=object),
                         "bucket": pd.Series(dtype=float), "p50": pd.Series(dtype=float),
                         "n": pd.Series(dtype=np.int64)})


def _ci_ranks(n: int) -> tuple[int, int] | None:
    """0-based ranks of the median's interval (``median_ci``'s order statistics)."""
    k = _median_ci_rank(n, _CONFIDENCE)
    return (k - 1, n - k) if k >= 1 else None


def read(db: Any, groups: Sequence[Group], flt: RunFilter, query: FigureQuery,
         where_of: Where, executor: Executor) -> RunFigures:
    """The figures of ``query`` over the finished runs of ``groups`` matching ``flt``: in SQL
    when the backend has ordered-set aggregates, else in numpy. ``where_of`` turns a filter
    into the store's ``WHERE`` (its owner included); ``executor`` runs the reads side by
    side, each in its own snapshot."""
    if getattr(db, "percentiles_in_sql", False):
        return read_in_sql(db, groups, flt, query, where_of, executor)
    return read_in_python(db, groups, flt, query, where_of, executor)


def _group_filter(flt: RunFilter, group: Group) -> RunFilter:
    return flt.narrowed(statuses=("ok",), providers=(group[0],), models=(group[1],))


# -- numpy, over the fetched columns (SQLite) --------------------------------------------------
def summarize(values: np.ndarray, fractions: Sequence[float]) -> FigureSummary:
    """The summary of one column's values (``NaN``: unknown), in numpy."""
    values = values[~np.isnan(values)]
    if not values.size:
        return FigureSummary(0, None, {q: None for q in fractions}, None)
    qs = np.quantile(values, list(fractions)) if fractions else []
    return FigureSummary(int(values.size), float(values.mean()),
                         {q: float(v) for q, v in zip(fractions, qs)}, median_ci(values))


def read_in_python(db: Any, groups: Sequence[Group], flt: RunFilter, query: FigureQuery,
                   where_of: Where, executor: Executor) -> RunFigures:
    columns = query.columns()
    wanted = list(dict.fromkeys(["created_at", *columns]))

    def fetch(group: Group) -> dict[str, np.ndarray]:
        clause, params = where_of(_group_filter(flt, group))
        with db.snapshot():
            arrays: dict[str, np.ndarray] = db.float_columns(wanted, f"FROM runs{clause}",
                                                             params)
        return arrays

    def figures(group: Group) -> tuple[dict[str, FigureSummary], dict[str, np.ndarray],
                                       dict[str, np.ndarray]] | None:
        arrays = fetch(group)
        if not arrays["created_at"].size:
            return None  # no finished run
        summaries = {c: summarize(arrays[c], qs) for c, qs in query.quantiles.items()}
        edges = np.asarray(query.histogram_edges)
        hists = {c: _histogram(arrays[c], edges) for c in query.histogram_columns}
        kept = {c: arrays[c] for c in ("created_at", *query.timeline_columns)}
        return summaries, hists, kept

    out = RunFigures()
    futures = {g: executor.submit(figures, g) for g in groups}
    kept_by_group = {}
    for g, future in futures.items():
        found = future.result()
        if found is not None:
            out.summaries[g], out.histograms[g], kept_by_group[g] = found
    for column in query.timeline_columns:
        parts = []
        for (provider, model), kept in kept_by_group.items():
            known = ~np.isnan(kept[column])
            parts.append(pd.DataFrame({"provider": provider, "model": model,
                                       "created_at": kept["created_at"][known],
                                       "value": kept[column][known]}))
        runs = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        if runs.empty:
            out.timelines[column] = _empty_timeline()
            continue
        bucket_s = query.bucket_for_span(float(runs.created_at.max() - runs.created_at.min()))
        shift = query.timeline_shift_s
        bucket = ((runs.created_at + shift) // bucket_s) * bucket_s - shift
        out.timelines[column] = (runs.assign(bucket=bucket)
                                 .groupby(["provider", "model", "bucket"], sort=True).value
                                 .agg(p50="median", n="size").reset_index())
    return out


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    values = values[~np.isnan(values)]
    if np.array_equal(edges, bin_edges(CHART_SHIFT)):
        return histogram(values, CHART_SHIFT)
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, edges.size - 2)
    return np.bincount(index, minlength=edges.size - 1)


def _quantile_of(summary: FigureSummary, q: float) -> float | None:
    if q not in summary.quantiles:
        raise ValueError(f"twins need the same percentiles ({q} missing)")
    return summary.quantiles[q]


# -- SQL (PostgreSQL) ----------------------------------------------------------------------------
def _summary_sql(quantiles: Mapping[str, tuple[float, ...]], ranked: Mapping[str, bool]) -> str:
    """The select list of one model's summaries: per column its count, mean,
    ``percentile_cont`` over its fractions and ``percentile_disc`` at the median interval's
    ranks (two ``?`` arrays, in that order). The aggregates of one column share one sort."""
    parts = []
    for column, fractions in quantiles.items():
        parts.append(f"COUNT({column}), AVG({column})")
        parts.append(f"percentile_cont(?::float8[]) WITHIN GROUP (ORDER BY {column})"
                     if fractions else "NULL")
        parts.append(f"percentile_disc(?::float8[]) WITHIN GROUP (ORDER BY {column})"
                     if ranked[column] else "NULL")
    return ", ".join(parts)


def read_in_sql(db: Any, groups: Sequence[Group], flt: RunFilter, query: FigureQuery,
                where_of: Where, executor: Executor) -> RunFigures:
    """Each model in one task (its own snapshot): its counts, then its summaries, histogram
    and medians per time bucket, each a query over its rows alone (an index range)."""
    out = RunFigures()
    columns = list(query.quantiles)
    edges = [float(e) for e in query.histogram_edges]
    bins = len(edges) - 1
    # The bucket of a timeline column is set by the span of all its runs: two index probes.
    buckets: dict[float, list[str]] = {}
    if groups:
        clause, params = where_of(flt.narrowed(statuses=("ok",)))
        for column in query.timeline_columns:
            with db.snapshot():
                row = db.one(f"SELECT MIN(created_at), MAX(created_at) FROM runs{clause} "
                             f"AND {column} IS NOT NULL", params)
            if row is not None and row[0] is not None:
                bucket_s = float(query.bucket_for_span(float(row[1]) - float(row[0])))
                buckets.setdefault(bucket_s, []).append(column)

    def group_figures(group: Group) -> tuple[dict[str, FigureSummary], dict[str, np.ndarray],
                                             list[tuple[float, list[str], list[Any]]]] | None:
        g_clause, g_params = where_of(_group_filter(flt, group))
        hist_columns = list(query.histogram_columns)
        with db.snapshot():  # one state for all three reads
            # One pass: the histograms, and how many values each column has (the median
            # interval's ranks depend on it), per histogram bin (NULL: no value).
            bin_of = [f"CASE WHEN {c} IS NOT NULL THEN LEAST(GREATEST(width_bucket({c}, "
                      f"?::float8[]) - 1, 0), {bins - 1}) END" for c in hist_columns]
            twins = [(c, t) for c, t in query.twins if c in query.quantiles
                     and t in query.quantiles and c != t]
            counted = db.all(
                f"SELECT {''.join(f'{b}, ' for b in bin_of)}COUNT(*)"
                f"{''.join(f', COUNT({c})' for c in columns)}"
                f"{''.join(f', bool_and({c} IS NOT DISTINCT FROM {t})' for c, t in twins)}"
                f" FROM runs{g_clause}"
                + (f" GROUP BY {', '.join(str(i + 1) for i in range(len(bin_of)))}"
                   if bin_of else ""),
                [edges] * len(bin_of) + g_params)
            k = len(hist_columns)
            if not sum(int(r[k]) for r in counted):
                return None  # no finished run
            counts = [sum(int(r[k + 1 + i]) for r in counted) for i in range(len(columns))]
            same = {c: t for j, (c, t) in enumerate(twins)
                    if all(r[k + 1 + len(columns) + j] is not False for r in counted)
                    and t not in {c2 for c2, _ in twins}}  # no chains: a twin is summed up
            summed = {c: q for c, q in query.quantiles.items() if c not in same}
            hists = {}
            for i, c in enumerate(hist_columns):
                counts_of = np.zeros(bins, dtype=np.int64)
                for r in counted:
                    if r[i] is not None:
                        counts_of[int(r[i])] += int(r[k])
                hists[c] = counts_of
            ranks = {c: _ci_ranks(n) for c, n in zip(columns, counts) if c in summed}
            sql_params: list[Any] = []
            for c, n in zip(columns, counts):
                if c not in summed:
                    continue
                if query.quantiles[c]:
                    sql_params.append(list(query.quantiles[c]))
                rank = ranks[c]
                if rank is not None:
                    # The middle of each rank: percentile_disc takes row ceil(f·n), exactly it.
                    sql_params.append([(r + 0.5) / n for r in rank])
            select = _summary_sql(summed, {c: ranks[c] is not None for c in summed})
            row = db.one(f"SELECT {select} FROM runs{g_clause}", [*sql_params, *g_params]) \
                if summed else ()
            timelines = []
            for bucket_s, cs in buckets.items():
                medians = ", ".join(f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {c}), "
                                    f"COUNT({c})" for c in cs)
                rows = db.all(f"SELECT floor((created_at + ?) / ?) AS bucket, {medians} "
                              f"FROM runs{g_clause} GROUP BY bucket ORDER BY bucket",
                              [float(query.timeline_shift_s), bucket_s, *g_params])
                timelines.append((bucket_s, cs, rows))
        summaries = {}
        assert row is not None
        for i, c in enumerate(summed):
            n, mean, cont, disc = row[4 * i : 4 * i + 4]
            fractions = query.quantiles[c]
            values = list(cont) if cont is not None else [None] * len(fractions)
            summaries[c] = FigureSummary(
                int(n), float(mean) if mean is not None else None,
                {q: (float(v) if v is not None else None) for q, v in zip(fractions, values)},
                (float(disc[0]), float(disc[1])) if disc is not None else None)
        for c, twin in same.items():
            fractions = query.quantiles[c]
            of_twin = summaries[twin]
            summaries[c] = FigureSummary(
                of_twin.n, of_twin.mean,
                {q: _quantile_of(of_twin, q) for q in fractions}, of_twin.median_ci)
        return summaries, hists, timelines

    futures = {g: executor.submit(group_figures, g) for g in groups}
    rows_of: dict[str, list[tuple[str, str, float, float, int]]] = {}
    shift = float(query.timeline_shift_s)
    for (provider, model), future in futures.items():
        found = future.result()
        if found is None:
            continue
        out.summaries[(provider, model)], out.histograms[(provider, model)], timelines = found
        for bucket_s, cs, rows in timelines:
            for i, c in enumerate(cs):
                rows_of.setdefault(c, []).extend(
                    (provider, model, float(b) * bucket_s - shift, float(r[2 * i]),
                     int(r[2 * i + 1]))
                    for b, *r in rows if int(r[2 * i + 1]))
    for c in query.timeline_columns:
        kept = rows_of.get(c)
        out.timelines[c] = (pd.DataFrame(kept, columns=["provider", "model", "bucket", "p50",
                                                        "n"])
                            .sort_values(["provider", "model", "bucket"], kind="stable")
                            .reset_index(drop=True)
                            if kept else _empty_timeline())
    return out
