"""Latency and throughput of stored runs, per provider and model: what the stats page shows.

The data path (the page runs it on each filter change; ``bench/bench_stats.py`` times it):

    RunFilter ─► store.totals()        counts and token sums per provider/model/status/source
              ─► store.figures()       the per-run figures of finished runs (float columns)
              ─► store.iter_offsets()  packed chunk offsets of finished runs, one model per
                                       reader thread (two) ─► pooled ITL (exact percentiles +
                                       histogram, chatlib.runs.distributions), then the gaps are
                                       dropped, so 100k runs' gaps never sit in memory at once
    ─► StatsData ─► latency_table / runs_table / headline / chart frames (pure functions)

Definitions are vLLM's (see ``DEFINITIONS`` and ``chatlib.runs.metrics``). Only finished runs
(status ``ok``) enter latency figures; stopped and failed runs are counted apart. Percentiles
are numpy's (linear interpolation). "How sure": every figure comes with its ``n``, and each
p50 of a per-run figure with a distribution-free 95 % confidence interval (order statistics
of a binomial, valid for any distribution of independent runs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from chatlib.runs.distributions import (CHART_SHIFT, FINE_SHIFT, GapHistogram, bin_edges, bin_index,
                                   exact_percentiles, histogram, histogram_percentiles,
                                   median_ci, pool_gaps)
from chatlib.runs.metrics import PERCENTILES, percentiles
from chatlib.runs.pricing import PriceTable
from chatlib.store import RunFilter, RunStore

__all__ = [
    "DEFINITIONS", "Metric", "METRICS", "RunFilter", "time_range", "TIME_RANGES", "ItlPool",
    "StatsData", "load_stats", "EXACT_ITL_UP_TO", "latency_table", "runs_table", "Leader",
    "headline",
    "histogram_frame", "ttft_histogram", "itl_histogram",
    "spread_frame", "over_time", "chunk_timeline", "group_label", "StatsView", "build_view",
]

DEFINITIONS = """\
All times are measured from **t0**, taken just before the request is sent (monotonic clock,
in the thread that reads the stream), to the arrival of each chunk of text.

| Figure | Definition |
|---|---|
| TTFT | first chunk with non-empty text − t0, thinking or answer |
| TTFAT (time to first answer token) | first chunk of answer text − t0 (= TTFT without thinking) |
| Reasoning time | first thinking chunk → first answer chunk (→ last thinking chunk if no answer) |
| E2E latency | last chunk − t0 |
| ITL (inter-token latency) | every gap between successive answer chunks after the first, \
pooled over all runs of a model (a distribution, as in vLLM) |
| TPOT (time per output token) | (E2E − TTFT) / (streamed tokens − 1) |
| Output tok/s per request | output tokens (thinking included) / E2E |
| Decode tok/s | (streamed tokens − 1) / (E2E − TTFT) |
| Answer decode tok/s | (answer tokens − 1) / (last answer chunk − first answer chunk) |

Streamed tokens are thinking and answer tokens together, the ones whose chunks fill the window
from TTFT to E2E; a model that hides its reasoning (OpenAI's reasoning models) streams only the
answer, so its hidden tokens are left out of TPOT and decode tok/s, and its TTFT includes the
thinking. Answer tokens = output tokens − reasoning tokens.
Output tokens are the provider's usage report when it sends one (`usage`), else a count by the
model's own tokenizer (`tokenizer`), else a labelled `estimate`; reasoning tokens likewise
(usage when the provider reports them apart, else counted over the thinking text).
Aggregates are count, mean, p50, p90, p95, p99 (numpy, linear interpolation) over **finished**
runs only: stopped and failed runs are counted apart and never enter a latency figure. The
p50's 95 % confidence interval is distribution-free (order statistics); ITL has none, as gaps
within a run are not independent. ITL percentiles are exact up to 2 million gaps per model;
above, they come from gap histograms the store keeps per model and hour as runs are stored
(128 bins per octave), so each is within 0.54 % of the exact value (its count and mean stay
exact, and the runs of a cut-off first or last hour are counted from their offsets).
Same definitions as vLLM's `benchmark_serving`."""


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    column: str | None  # the per-run column in the store; None for the pooled ITL
    scale: float  # seconds -> ms is 1000
    lower_is_better: bool


METRICS: tuple[Metric, ...] = (
    Metric("ttft", "TTFT (ms)", "ttft_s", 1000.0, True),
    Metric("ttfat", "TTFAT (ms)", "ttfat_s", 1000.0, True),
    Metric("reasoning", "Reasoning time (ms)", "reasoning_s", 1000.0, True),
    Metric("e2e", "E2E latency (ms)", "e2e_s", 1000.0, True),
    Metric("tpot", "TPOT (ms)", "tpot_s", 1000.0, True),
    Metric("itl", "ITL (ms)", None, 1000.0, True),
    Metric("output_tps", "Output tok/s per request", "output_tps", 1.0, False),
    Metric("decode_tps", "Decode tok/s", "decode_tps", 1.0, False),
    Metric("answer_decode_tps", "Answer decode tok/s", "answer_decode_tps", 1.0, False),
)
# Shown only for models that have them (a model that never thinks has no reasoning time).
_ONLY_WHEN_PRESENT = {"reasoning"}
_BY_KEY = {m.key: m for m in METRICS}
_RUN_COLUMNS = ["created_at", "ttft_s", "e2e_s", "tpot_s", "output_tps", "decode_tps",
                "output_tokens", "chunk_count", "ttfat_s", "reasoning_s", "answer_decode_tps",
                "reasoning_tokens"]


def group_label(provider: str, model: str) -> str:
    return f"{provider} · {model}"


# -- filters (``RunFilter`` is the store's: it turns it into SQL) -------------------------
TIME_RANGES = ("All time", "Today", "Last hour", "Last 24 hours", "Last 7 days", "Last 30 days")


def time_range(name: str, now: datetime | None = None) -> tuple[float | None, float | None]:
    """``(since, until)`` epoch seconds of a named range in local time ("Today" starts at
    local midnight)."""
    now = now or datetime.now().astimezone()
    if name == "All time":
        return None, None
    if name == "Today":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.timestamp(), None
    spans = {"Last hour": timedelta(hours=1), "Last 24 hours": timedelta(days=1),
             "Last 7 days": timedelta(days=7), "Last 30 days": timedelta(days=30)}
    if name not in spans:
        raise ValueError(f"unknown time range {name!r}")
    # To the minute: reruns within a minute ask for the same runs (and hit the page's cache).
    return (now - spans[name]).replace(second=0, microsecond=0).timestamp(), None


# -- pooled inter-token latency ---------------------------------------------------------------
@dataclass(frozen=True)
class ItlPool:
    """Pooled ITL of one model, kept as figures only: the gaps themselves are dropped."""

    runs: int  # finished runs with at least two chunks
    stats: dict[str, float | None]  # count, mean, p50... in seconds
    counts: np.ndarray  # histogram over bin_edges(CHART_SHIFT)
    exact: bool = True  # percentiles of the gaps themselves; else of the stored histograms

    @classmethod
    def of(cls, gaps: np.ndarray, runs: int) -> ItlPool:
        """Figures of ``gaps``: count, mean and exact percentiles, and the chart's histogram."""
        index = bin_index(gaps, FINE_SHIFT)
        fine = np.bincount(index, minlength=bin_edges(FINE_SHIFT).size - 1)
        # Chart bins are whole groups of fine ones (same power-of-two edges).
        counts = fine.reshape(-1, 1 << (CHART_SHIFT - FINE_SHIFT)).sum(axis=1)
        stats: dict[str, float | None] = {"count": float(gaps.size),
                                          "mean": float(gaps.mean()) if gaps.size else None}
        stats.update(exact_percentiles(gaps, PERCENTILES, FINE_SHIFT, index))
        return cls(runs, stats, counts)

    @classmethod
    def of_histogram(cls, pooled: GapHistogram) -> ItlPool:
        """Figures of the stored hourly histograms of a model's gaps: count and mean exact,
        percentiles within one fine bin (0.54 %)."""
        counts = pooled.counts.reshape(-1, 1 << (CHART_SHIFT - FINE_SHIFT)).sum(axis=1)
        stats: dict[str, float | None] = {
            "count": float(pooled.gaps),
            "mean": pooled.total_s / pooled.gaps if pooled.gaps else None}
        stats.update(histogram_percentiles(pooled.counts, PERCENTILES, FINE_SHIFT))
        return cls(pooled.runs, stats, counts, exact=False)


# Up to this many gaps a model's ITL is pooled from the offsets themselves (exact); above, from
# the hourly histograms the store keeps (a million runs: 0.1 s instead of 30 s and 1.3 GB).
EXACT_ITL_UP_TO = 2_000_000


# -- loading ---------------------------------------------------------------------------------
@dataclass
class StatsData:
    """Everything the page's figures are computed from, for one filter."""

    filter: RunFilter
    totals: pd.DataFrame  # RunStore.totals rows
    ok_runs: pd.DataFrame  # one row per finished run: provider, model, _RUN_COLUMNS
    itl: dict[tuple[str, str], ItlPool] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.totals.empty

    def groups(self) -> list[tuple[str, str]]:
        pairs = self.totals[["provider", "model"]].drop_duplicates()
        return [(str(p), str(m)) for p, m in pairs.itertuples(index=False)]


def load_stats(store: RunStore, flt: RunFilter, workers: int = 2) -> StatsData:
    """Read what the page needs for ``flt``: the counts, then per model its per-run figures
    and its ITL pool, read by ``workers`` threads side by side (SQLite releases the GIL while
    it steps; PostgreSQL aggregates in its own processes), each in its own snapshot: a run
    that lands during the read may show in one and not in another. A model's ITL comes from
    its offsets (exact) up to ``EXACT_ITL_UP_TO`` gaps, else from the store's hourly
    histograms, read once for every model."""
    with store.snapshot():
        totals = store.totals(flt)
        ok = totals[totals.status == "ok"]
        groups = [(str(p), str(m), int(g)) for p, m, g in zip(ok.provider, ok.model, ok.gaps)]
        stored = (store.itl_pools(flt) if any(g > EXACT_ITL_UP_TO for _, _, g in groups)
                  else None)

    def group(provider: str, model: str) -> RunFilter:
        return flt.narrowed(statuses=("ok",), providers=(provider,), models=(model,))

    def figures(provider: str, model: str) -> pd.DataFrame:
        with store.snapshot():
            runs = store.figures(_RUN_COLUMNS, group(provider, model))
        runs.insert(0, "model", model)
        runs.insert(0, "provider", provider)
        return runs

    def pool(provider: str, model: str, expected: int) -> ItlPool:
        if stored is not None and expected > EXACT_ITL_UP_TO:
            return ItlPool.of_histogram(stored.get((provider, model), GapHistogram()))
        # Figures only leave the worker: at most `workers` models' gaps are alive at once.
        runs = 0

        def blobs() -> Iterator[list[bytes]]:
            nonlocal runs
            with store.snapshot():
                # Small batches: same-size temporaries recycle in the allocator
                # (measured peak RSS over 100k runs: 500 -> ~300 MB, 8000 -> ~400 MB).
                for batch in store.iter_offsets(group(provider, model), batch=500):
                    part = [blob for _, blob in batch]
                    runs += sum(len(b) >= 16 for b in part)  # runs with a gap
                    yield part

        return ItlPool.of(pool_gaps(blobs(), expected), runs)

    with ThreadPoolExecutor(max(1, workers)) as executor:
        frames = [executor.submit(figures, p, m) for p, m, _ in groups]
        pools = {(p, m): executor.submit(pool, p, m, g) for p, m, g in groups}
        ok_runs = (pd.concat([f.result() for f in frames], ignore_index=True) if frames
                   else pd.DataFrame(columns=["provider", "model", *_RUN_COLUMNS]))
        itl = {key: future.result() for key, future in pools.items()}
    for column in ("provider", "model"):
        ok_runs[column] = ok_runs[column].astype("category")
    return StatsData(flt, totals, ok_runs, itl)


# -- tables ----------------------------------------------------------------------------------
def latency_table(data: StatsData) -> pd.DataFrame:
    """One row per provider, model and metric over finished runs: ``runs`` (runs with that
    figure), ``n`` (values: runs, or gaps for ITL), mean, p50 with its 95 % CI
    (``p50_low``/``p50_high``), p90, p95, p99, in the metric's unit (ms or tok/s)."""
    rows = []
    grouped = data.ok_runs.groupby(["provider", "model"], observed=True)
    by_group = {key: part for key, part in grouped}
    for provider, model in data.groups():
        runs = by_group.get((provider, model))
        if runs is None or runs.empty:
            continue
        for metric in METRICS:
            row: dict[str, Any] = {"provider": provider, "model": model, "metric": metric.label}
            if metric.column is None:
                pool = data.itl.get((provider, model))
                if pool is None:
                    continue
                stats, n_runs, n, ci = pool.stats, pool.runs, int(pool.stats["count"] or 0), None
            else:
                values = runs[metric.column].to_numpy(dtype=float)
                values = values[~np.isnan(values)]
                if not values.size and metric.key in _ONLY_WHEN_PRESENT:
                    continue
                stats, n_runs, n = percentiles(values), values.size, values.size
                ci = median_ci(values)
            row.update(runs=n_runs, n=n)
            row["mean"] = _scaled(stats["mean"], metric)
            row["p50"] = _scaled(stats["p50"], metric)
            row["p50_low"] = _scaled(ci[0], metric) if ci else None
            row["p50_high"] = _scaled(ci[1], metric) if ci else None
            for p in PERCENTILES[1:]:
                row[f"p{p}"] = _scaled(stats[f"p{p}"], metric)
            rows.append(row)
    columns = ["provider", "model", "metric", "runs", "n", "mean", "p50", "p50_low", "p50_high",
               *(f"p{p}" for p in PERCENTILES[1:])]
    return pd.DataFrame(rows, columns=columns)


def _scaled(value: float | None, metric: Metric) -> float | None:
    return None if value is None else value * metric.scale


def runs_table(data: StatsData, prices: PriceTable) -> pd.DataFrame:
    """One row per provider and model: runs by status, token totals, where the token counts
    came from (share of runs with a count), and the estimated cost (``None``: no price)."""
    rows = []
    t = data.totals
    for (provider, model), part in t.groupby(["provider", "model"], sort=True):
        by_status = part.groupby("status").runs.sum()
        counted = {source: int(part[f"output_from_{source}"].fillna(0).sum())
                   for source in ("usage", "tokenizer", "estimate")}
        counted_total = sum(counted.values())
        row: dict[str, Any] = {
            "provider": provider, "model": model,
            "runs": int(part.runs.sum()),
            "ok": int(by_status.get("ok", 0)),
            "stopped": int(by_status.get("stopped", 0)),
            "error": int(by_status.get("error", 0)),
            "input tokens": _int_or_none(part.input_tokens, part.input_counted),
            "output tokens": _int_or_none(part.output_tokens, part.output_counted),
            "of which reasoning": _int_or_none(part.reasoning_tokens, part.reasoning_counted),
        }
        for source in ("usage", "tokenizer", "estimate"):
            row[f"from {source} %"] = (100.0 * counted[source] / counted_total
                                       if counted_total else None)
        price = prices.price(str(provider), str(model))
        priced_runs = int(part.priced_runs.sum())
        cost = (price.cost(float(part.priced_input_tokens.fillna(0).sum()),
                           float(part.priced_output_tokens.fillna(0).sum()))
                if price is not None and priced_runs else None)
        row["est. cost"] = cost
        row["est. cost per run"] = cost / priced_runs if cost is not None else None
        row["costed runs"] = priced_runs if price is not None else 0
        row["chunks"] = int(part.gaps.sum()) + int(part.runs.sum())  # about: runs + gaps
        rows.append(row)
    return pd.DataFrame(rows)


def _int_or_none(sums: pd.Series, counted: pd.Series) -> int | None:
    return int(sums.fillna(0).sum()) if int(counted.sum()) else None


# -- the headline: which model is fastest, and how sure -----------------------------------------
@dataclass(frozen=True)
class Leader:
    """The best model on one metric (by p50 over finished runs) and its runner-up. ``clear``
    is True when their 95 % CIs do not overlap, False when they do, None when either has too
    few runs for an interval (or there is no runner-up). Not a comparison's paired verdict
    (``chatlib.compare.analysis.Verdict``): models here ran at different times, unpaired."""

    metric: Metric
    best: tuple[str, str]
    best_p50: float
    best_ci: tuple[float, float] | None
    best_n: int
    runner_up: tuple[str, str] | None = None
    runner_up_p50: float | None = None
    runner_up_ci: tuple[float, float] | None = None
    runner_up_n: int = 0

    @property
    def clear(self) -> bool | None:
        if self.runner_up is None or self.best_ci is None or self.runner_up_ci is None:
            return None
        if self.metric.lower_is_better:
            return self.best_ci[1] < self.runner_up_ci[0]
        return self.best_ci[0] > self.runner_up_ci[1]


def headline(data: StatsData, keys: Sequence[str] = ("ttft", "output_tps")) -> list[Leader]:
    """The leader of each metric in ``keys`` (per-run metrics only)."""
    out = []
    groups = list(data.ok_runs.groupby(["provider", "model"], observed=True))
    for key in keys:
        metric = _BY_KEY[key]
        assert metric.column is not None, "the headline compares per-run figures"
        ranked = []
        for (provider, model), part in groups:
            values = part[metric.column].to_numpy(dtype=float)
            values = values[~np.isnan(values)]
            if values.size:
                p50 = float(np.percentile(values, 50)) * metric.scale
                ci = median_ci(values)
                ci = (ci[0] * metric.scale, ci[1] * metric.scale) if ci else None
                ranked.append(((str(provider), str(model)), p50, ci, int(values.size)))
        if not ranked:
            continue
        ranked.sort(key=lambda r: r[1] if metric.lower_is_better else -r[1])
        best, second = ranked[0], ranked[1] if len(ranked) > 1 else None
        out.append(Leader(
            metric, best[0], best[1], best[2], best[3],
            *(second if second else (None, None, None, 0)),
        ))
    return out


# -- chart frames (small: the browser gets bins and quantiles, never 100k points) ----------------
def histogram_frame(counts_by_group: dict[str, np.ndarray], edges: np.ndarray,
                    scale: float = 1000.0) -> pd.DataFrame:
    """Long frame for a histogram chart: group, bin start/end (scaled), count, share of the
    group's values (so models with different run counts compare)."""
    rows = []
    for group, counts in counts_by_group.items():
        total = counts.sum()
        for lo, hi, c in zip(edges[:-1], edges[1:], counts):
            if c:
                rows.append({"model": group, "from": lo * scale, "to": hi * scale,
                             "count": int(c), "share": float(c / total)})
    return pd.DataFrame(rows, columns=["model", "from", "to", "count", "share"])


def ttft_histogram(data: StatsData) -> pd.DataFrame:
    counts = {}
    for (provider, model), part in data.ok_runs.groupby(["provider", "model"], observed=True):
        values = part.ttft_s.dropna().to_numpy(dtype=float)
        counts[group_label(str(provider), str(model))] = histogram(values)
    return histogram_frame(counts, bin_edges())


def itl_histogram(data: StatsData) -> pd.DataFrame:
    return histogram_frame({group_label(p, m): pool.counts for (p, m), pool in data.itl.items()},
                           bin_edges())


def spread_frame(data: StatsData, column: str = "output_tps", scale: float = 1.0) -> pd.DataFrame:
    """p5, p25, p50, p75, p95 and n of a per-run figure per model (a box plot's parts)."""
    rows = []
    for (provider, model), part in data.ok_runs.groupby(["provider", "model"], observed=True):
        values = part[column].dropna().to_numpy(dtype=float) * scale
        if values.size:
            q = np.percentile(values, [5, 25, 50, 75, 95])
            rows.append({"model": group_label(str(provider), str(model)), "n": int(values.size),
                         **{f"p{p}": float(v) for p, v in zip((5, 25, 50, 75, 95), q)}})
    return pd.DataFrame(rows, columns=["model", "n", "p5", "p25", "p50", "p75", "p95"])


def over_time(data: StatsData, column: str = "e2e_s", scale: float = 1000.0,
              bucket_s: float | None = None) -> pd.DataFrame:
    """p50 and n of a per-run figure per model per time bucket (an hour when the runs span
    up to two days, else a day; local time)."""
    runs = data.ok_runs[["provider", "model", "created_at", column]].dropna()
    if runs.empty:
        return pd.DataFrame(columns=["time", "model", "p50", "n"])
    if bucket_s is None:
        span = runs.created_at.max() - runs.created_at.min()
        bucket_s = 3600.0 if span <= 2 * 86400 else 86400.0
    offset = datetime.now().astimezone().utcoffset()
    shift = offset.total_seconds() if offset else 0.0  # buckets start at local midnight/hours
    bucket = ((runs.created_at + shift) // bucket_s) * bucket_s - shift
    grouped = (runs.assign(bucket=bucket, value=runs[column] * scale)
               .groupby(["provider", "model", "bucket"], observed=True).value
               .agg(p50="median", n="size").reset_index())
    grouped["time"] = pd.to_datetime(grouped.bucket, unit="s", utc=True).dt.tz_convert(
        datetime.now().astimezone().tzinfo)
    grouped["model"] = [group_label(str(p), str(m))
                        for p, m in zip(grouped.provider, grouped.model)]
    return grouped[["time", "model", "p50", "n"]]


def chunk_timeline(offsets_s: Sequence[float], texts: Sequence[str],
                   output_tokens: int | None) -> pd.DataFrame:
    """One row per chunk of a run: arrival (ms since t0), its text length and the running
    output token count. Per-chunk token counts are not recorded, so the run's total is
    spread over its chunks by characters (``tokens`` is exact at the last chunk)."""
    chars = np.array([len(t) for t in texts], dtype=float)
    cum_chars = np.cumsum(chars)
    total = output_tokens if output_tokens is not None else len(texts)
    tokens = (cum_chars / cum_chars[-1] * total if len(texts) and cum_chars[-1]
              else np.arange(1, len(texts) + 1))
    return pd.DataFrame({
        "chunk": np.arange(1, len(texts) + 1),
        "arrival (ms)": np.asarray(offsets_s, dtype=float) * 1000.0,
        "chars": chars.astype(int),
        "tokens (cumulative)": tokens,
    })


# -- everything the page shows, in one call ----------------------------------------------------
@dataclass(frozen=True)
class StatsView:
    """The page's figures for one filter: small frames only (the page caches this)."""

    filter: RunFilter
    runs: int  # runs matching the filter, any status
    latency: pd.DataFrame
    counts: pd.DataFrame
    leaders: list[Leader]
    ttft_hist: pd.DataFrame
    itl_hist: pd.DataFrame
    tps_spread: pd.DataFrame
    ttft_over_time: pd.DataFrame
    e2e_over_time: pd.DataFrame


def build_view(store: RunStore, flt: RunFilter, prices: PriceTable, workers: int = 2) -> StatsView:
    """The stats page's whole data path: query, then aggregate (what the bench times)."""
    data = load_stats(store, flt, workers)
    return StatsView(
        filter=flt,
        runs=int(data.totals.runs.sum()) if not data.empty else 0,
        latency=latency_table(data),
        counts=runs_table(data, prices),
        leaders=headline(data),
        ttft_hist=ttft_histogram(data),
        itl_hist=itl_histogram(data),
        tps_spread=spread_frame(data, "output_tps"),
        ttft_over_time=over_time(data, "ttft_s"),
        e2e_over_time=over_time(data, "e2e_s"),
    )
