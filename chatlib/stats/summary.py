"""Latency and throughput of stored runs, per provider and model: what the stats page shows.

The data path (the page runs it on each filter change; ``bench/bench_stats.py`` times it):

    RunFilter ─► store.totals()        counts and token sums per provider/model/status/source
              ─► store.run_figures()   per model and per-run figure: count, mean, percentiles,
                                       the median's CI, TTFT histogram, medians over time;
                                       computed by PostgreSQL in SQL, on SQLite in numpy over
                                       the fetched columns (chatlib.store.run_figures)
              ─► store.iter_offsets()  packed chunk offsets of finished runs, one model per
                                       reader thread (two) ─► pooled ITL (exact percentiles +
                                       histogram, chatlib.runs.distributions), then the gaps are
                                       dropped, so 100k runs' gaps never sit in memory at once
                                       (above EXACT_ITL_UP_TO gaps: store.itl_pools())
    ─► StatsData ─► latency_table / runs_table / headline / chart frames (pure functions)

Definitions are vLLM's (see ``DEFINITIONS`` and ``chatlib.runs.metrics``). Only finished runs
(status ``ok``) enter latency figures; stopped and failed runs are counted apart. Percentiles
are numpy's (linear interpolation; PostgreSQL's ``percentile_cont`` is the same definition).
"How sure": every figure comes with its ``n``, and each p50 of a per-run figure with a
distribution-free 95 % confidence interval (order statistics of a binomial, valid for any
distribution of independent runs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from chatlib.runs.distributions import (CHART_SHIFT, FINE_SHIFT, GapHistogram, bin_edges, bin_index,
                                   exact_percentiles, histogram_percentiles,
                                   pool_gaps)
from chatlib.runs.metrics import PERCENTILES
from chatlib.runs.pricing import PriceTable
from chatlib.store import RunFilter, RunStore
from chatlib.store.run_figures import FigureQuery, FigureSummary, RunFigures

__all__ = [
    "DEFINITIONS", "Metric", "METRICS", "SPREAD", "figure_query", "RunFilter", "time_range",
    "TIME_RANGES", "ItlPool",
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
Aggregates are count, mean, p50, p90, p95, p99 (numpy's linear interpolation; on PostgreSQL
its `percentile_cont`, the same definition) over **finished**
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
SPREAD = (5, 25, 50, 75, 95)  # the box plot's percentiles (spread_frame)
_FRACTIONS = tuple(sorted({p / 100 for p in (*PERCENTILES, *SPREAD)}))
_TIMELINE_COLUMNS = ("ttft_s", "e2e_s")


def _bucket_for_span(span_s: float) -> float:
    """Over-time buckets: an hour when the runs span up to two days, else a day."""
    return 3600.0 if span_s <= 2 * 86400 else 86400.0


def figure_query() -> FigureQuery:
    """What the page shows of the per-run figures: every metric's count, mean, percentiles
    and median CI, the TTFT histogram, TTFT and E2E medians over time (local buckets)."""
    offset = datetime.now().astimezone().utcoffset()
    return FigureQuery(
        quantiles={m.column: _FRACTIONS for m in METRICS if m.column is not None},
        histogram_columns=("ttft_s",), histogram_edges=tuple(float(e) for e in bin_edges()),
        timeline_columns=_TIMELINE_COLUMNS, bucket_for_span=_bucket_for_span,
        timeline_shift_s=offset.total_seconds() if offset else 0.0,
        # Without thinking, the first answer token is the first token and the answer is
        # the whole stream: computed once.
        twins=(("ttfat_s", "ttft_s"), ("answer_decode_tps", "decode_tps")))


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
    figures: RunFigures  # the per-run figures of finished runs, per model (figure_query)
    itl: dict[tuple[str, str], ItlPool] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.totals.empty

    def groups(self) -> list[tuple[str, str]]:
        pairs = self.totals[["provider", "model"]].drop_duplicates()
        return [(str(p), str(m)) for p, m in pairs.itertuples(index=False)]

    def summaries(self, column: str) -> list[tuple[tuple[str, str], FigureSummary]]:
        """Each model's summary of a per-run column, models in order, those without a
        value left out."""
        out = []
        for key in sorted(self.figures.summaries):
            summary = self.figures.summaries[key].get(column)
            if summary is not None and summary.n:
                out.append((key, summary))
        return out


# The counts, the models with finished runs and their gaps, the stored ITL histograms (None:
# not needed, or a filter they cannot serve) and the exact ITL reads under way.
_CountsAndPools = tuple[pd.DataFrame, list[tuple[str, str, int]],
                        dict[tuple[str, str], GapHistogram] | None,
                        dict[tuple[str, str], Future[ItlPool]]]


def load_stats(store: RunStore, flt: RunFilter, workers: int = 2) -> StatsData:
    """Read what the page needs for ``flt``: the counts, per model its per-run figures
    (``RunStore.run_figures``: summed up by the database where it can) and its ITL pool,
    read by ``workers`` threads side by side (SQLite releases the GIL while it steps;
    PostgreSQL aggregates in its own processes), each in its own snapshot: a run that lands
    during the read may show in one and not in another. The figures are asked for every
    stored model the filter allows (a model without a finished run gives none), so they
    need not wait for the counts. A model's ITL comes from its offsets (exact) up to
    ``EXACT_ITL_UP_TO`` gaps, else from the store's hourly histograms, read once for every
    model."""

    def group(provider: str, model: str) -> RunFilter:
        return flt.narrowed(statuses=("ok",), providers=(provider,), models=(model,))

    def pool(provider: str, model: str, expected: int) -> ItlPool:
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

    def counts_then_pools(executor: ThreadPoolExecutor) -> _CountsAndPools:
        """The counts, then the ITL they call for: the stored histograms read here at once
        (not queued behind the figures, where they would end the read on one thread), the
        exact pools queued."""
        with store.snapshot():
            totals = store.totals(flt)
        ok = totals[totals.status == "ok"]
        groups = [(str(p), str(m), int(g)) for p, m, g in zip(ok.provider, ok.model, ok.gaps)]
        large = any(g > EXACT_ITL_UP_TO for _, _, g in groups)
        stored = store.itl_pools(flt) if large else None
        exact = {(p, m): executor.submit(pool, p, m, g)
                 for p, m, g in groups if g <= EXACT_ITL_UP_TO}
        return totals, groups, stored, exact

    no_ok = bool(flt.statuses) and "ok" not in flt.statuses
    candidates = [] if no_ok else [
        (p, m) for p, m in store.provider_models()
        if (not flt.providers or p in flt.providers) and (not flt.models or m in flt.models)
        and p not in flt.not_providers]
    with ThreadPoolExecutor(max(1, workers)) as executor:
        first = executor.submit(counts_then_pools, executor)
        figures = store.run_figures(figure_query(), candidates, flt, executor)
        totals, groups, pooled, exact = first.result()
        itl = {key: future.result() for key, future in exact.items()}
    for p, m, g in groups:
        if (p, m) in itl:
            continue
        if pooled is None:  # a filter the hours cannot serve: from the offsets after all
            itl[(p, m)] = pool(p, m, g)
        else:
            itl[(p, m)] = ItlPool.of_histogram(pooled.get((p, m), GapHistogram()))
    itl = {(p, m): itl[(p, m)] for p, m, _ in groups}
    return StatsData(flt, totals, figures, itl)


# -- tables ----------------------------------------------------------------------------------
def latency_table(data: StatsData) -> pd.DataFrame:
    """One row per provider, model and metric over finished runs: ``runs`` (runs with that
    figure), ``n`` (values: runs, or gaps for ITL), mean, p50 with its 95 % CI
    (``p50_low``/``p50_high``), p90, p95, p99, in the metric's unit (ms or tok/s)."""
    rows = []
    for provider, model in data.groups():
        summaries = data.figures.summaries.get((provider, model))
        if summaries is None:  # no finished run
            continue
        for metric in METRICS:
            row: dict[str, Any] = {"provider": provider, "model": model, "metric": metric.label}
            stats: dict[str, float | None]
            if metric.column is None:
                pool = data.itl.get((provider, model))
                if pool is None:
                    continue
                stats, n_runs, n, ci = pool.stats, pool.runs, int(pool.stats["count"] or 0), None
            else:
                summary = summaries[metric.column]
                if not summary.n and metric.key in _ONLY_WHEN_PRESENT:
                    continue
                stats = {"mean": summary.mean,
                         **{f"p{p}": summary.quantiles[p / 100] for p in PERCENTILES}}
                n_runs = n = summary.n
                ci = summary.median_ci
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
    for key in keys:
        metric = _BY_KEY[key]
        assert metric.column is not None, "the headline compares per-run figures"
        ranked = []
        for group, summary in data.summaries(metric.column):
            median = summary.quantiles[0.5]
            assert median is not None
            p50 = median * metric.scale
            ci = summary.median_ci
            ci = (ci[0] * metric.scale, ci[1] * metric.scale) if ci else None
            ranked.append((group, p50, ci, summary.n))
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
    counts = {group_label(p, m): data.figures.histograms[(p, m)]["ttft_s"]
              for p, m in sorted(data.figures.histograms)}
    return histogram_frame(counts, bin_edges())


def itl_histogram(data: StatsData) -> pd.DataFrame:
    return histogram_frame({group_label(p, m): pool.counts for (p, m), pool in data.itl.items()},
                           bin_edges())


def spread_frame(data: StatsData, column: str = "output_tps", scale: float = 1.0) -> pd.DataFrame:
    """p5, p25, p50, p75, p95 and n of a per-run figure per model (a box plot's parts)."""
    rows = []
    for (provider, model), summary in data.summaries(column):
        rows.append({"model": group_label(provider, model), "n": summary.n,
                     **{f"p{p}": _times(summary.quantiles[p / 100], scale) for p in SPREAD}})
    return pd.DataFrame(rows, columns=["model", "n", "p5", "p25", "p50", "p75", "p95"])


def _times(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale


def over_time(data: StatsData, column: str = "e2e_s", scale: float = 1000.0) -> pd.DataFrame:
    """p50 and n of a per-run figure per model per time bucket (an hour when the runs span
    up to two days, else a day; local time): ``figure_query``'s timeline columns."""
    frame = data.figures.timelines.get(column)
    if frame is None or frame.empty:
        return pd.DataFrame(columns=["time", "model", "p50", "n"])
    out = pd.DataFrame({
        "time": pd.to_datetime(frame.bucket, unit="s", utc=True).dt.tz_convert(
            datetime.now().astimezone().tzinfo),
        "model": [group_label(str(p), str(m)) for p, m in zip(frame.provider, frame.model)],
        "p50": frame.p50 * scale,
        "n": frame.n,
    })
    return out.reset_index(drop=True)


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
