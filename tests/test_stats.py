"""Stats aggregation: known schedules give known figures, percentiles are numpy's, stopped and
failed runs stay out of latency figures, filters select what they say, exports recompute."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from datetime import datetime, timezone

import numpy as np
import pytest

from chatlib.stats.export import EXPORT_COLUMNS, export_csv, export_json, redact_settings
from chatlib.runs.pricing import load_prices
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.streaming.pump import StreamPump
from chatlib.runs.record import RunRecord
from chatlib.runs.distributions import exact_percentiles, median_ci, pool_gaps
from chatlib.stats.summary import (
    DEFINITIONS, RunFilter, build_view, chunk_timeline, headline, latency_table, load_stats,
    runs_table, time_range,
)
from chatlib.core.types import Message, Settings

PRICES = load_prices()
NOW = time.time()


@pytest.fixture
def store(any_store):
    """Every stats test runs on each backend (SQLite, a real PostgreSQL): same figures."""
    return any_store


class FakeClock:
    """Time that moves only when the scripted provider sleeps: the schedule is exact."""

    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def rec(provider="p", model="m", offsets=(0.1, 0.12, 0.15), tokens=None, status="ok",
        **kw) -> RunRecord:
    offsets = list(offsets)
    fields = dict(provider=provider, model=model, settings={"model": model}, status=status,
                  created_at=kw.pop("created_at", NOW - 60), chunk_offsets_s=offsets,
                  chunk_texts=["ab"] * len(offsets),
                  output_tokens=len(offsets) if tokens is None else tokens,
                  output_source="usage", input_tokens=10, input_source="usage")
    fields.update(kw)
    return RunRecord(**fields)


def row(table, model, metric):
    hit = table[(table.model == model) & (table.metric == metric)]
    assert len(hit) == 1, f"no single row for {model} {metric}"
    return hit.iloc[0]


# -- a known schedule, end to end ------------------------------------------------------------------
def run_schedule(store, script: Script, model: str = "sched") -> RunRecord:
    clock = FakeClock()
    pump = StreamPump(ScriptedProvider(script, sleep=clock.sleep), [Message("user", "go")],
                      Settings(model=model), on_done=store.add, clock=clock).start()
    record = pump.wait(10)
    assert record is not None and record.status == "ok"
    return record


def test_scripted_schedule_gives_its_figures_through_pump_store_and_stats(store):
    # 30 one-token chunks: first after 250 ms, then every 20 ms.
    run_schedule(store, Script(chunks=tuple("x" * 30), first_delay_s=0.25, gap_s=0.02))
    table = latency_table(load_stats(store, RunFilter()))
    e2e = 0.25 + 29 * 0.02
    expected = {
        "TTFT (ms)": (250.0, "ms"), "E2E latency (ms)": (e2e * 1000, "ms"),
        "ITL (ms)": (20.0, "ms"), "TPOT (ms)": ((e2e - 0.25) / 29 * 1000, "ms"),
        "Output tok/s per request": (30 / e2e, "%"), "Decode tok/s": (29 / (e2e - 0.25), "%"),
    }
    for metric, (want, kind) in expected.items():
        got = row(table, "sched", metric)
        for stat in ("mean", "p50", "p99"):
            if kind == "ms":
                assert abs(got[stat] - want) <= 2.0, (metric, stat, got[stat], want)
            else:
                assert abs(got[stat] - want) <= 0.02 * want, (metric, stat, got[stat], want)
    itl = row(table, "sched", "ITL (ms)")
    assert itl.n == 29 and itl.runs == 1  # the first chunk's wait is TTFT, not an ITL


def test_uneven_schedule_pools_every_gap_after_the_first_chunk(store):
    delays = (0.1, 0.01, 0.05, 0.01, 0.2)
    run_schedule(store, Script(chunks=tuple("abcde"), delays_s=delays))
    run_schedule(store, Script(chunks=tuple("ab"), delays_s=(0.3, 0.04)))
    data = load_stats(store, RunFilter())
    pooled = np.array([0.01, 0.05, 0.01, 0.2, 0.04])
    stats = data.itl[("scripted", "sched")].stats
    assert stats["count"] == 5
    assert stats["p50"] == pytest.approx(np.percentile(pooled, 50), abs=1e-9)
    assert stats["p90"] == pytest.approx(np.percentile(pooled, 90), abs=1e-9)
    ttft = row(latency_table(data), "sched", "TTFT (ms)")
    assert ttft["mean"] == pytest.approx(200.0, abs=1e-6) and ttft.n == 2


# -- percentiles are numpy's -----------------------------------------------------------------------
def seeded_records(n=240, seed=3):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        model = ("fast", "mid", "slow")[i % 3]
        k = int(rng.integers(1, 40))
        ttft = rng.lognormal(np.log(0.1 * (1 + i % 3)), 0.4)
        offsets = ttft + np.concatenate(([0.0], np.cumsum(rng.lognormal(-4, 0.6, k - 1))))
        out.append(rec("prov", model, offsets.tolist(), tokens=int(k * rng.uniform(1, 2)),
                       created_at=NOW - rng.uniform(0, 3 * 86400)))
    return out


def test_latency_table_equals_numpy_on_the_same_data(store):
    records = seeded_records()
    store.add_many(records)
    table = latency_table(load_stats(store, RunFilter()))
    for model in ("fast", "mid", "slow"):
        mine = [r for r in records if r.model == model]
        offsets = [np.array(r.chunk_offsets_s) for r in mine]
        tokens = np.array([r.output_tokens for r in mine], dtype=float)
        ttft = np.array([o[0] for o in offsets])
        e2e = np.array([o[-1] for o in offsets])
        itl = np.concatenate([np.diff(o) for o in offsets])
        many, moved = tokens > 1, (tokens > 1) & (e2e > ttft)
        series = {
            "TTFT (ms)": ttft * 1000, "E2E latency (ms)": e2e * 1000, "ITL (ms)": itl * 1000,
            "TPOT (ms)": (e2e - ttft)[many] / (tokens[many] - 1) * 1000,
            "Output tok/s per request": tokens / e2e,
            "Decode tok/s": (tokens[moved] - 1) / (e2e - ttft)[moved],
        }
        for metric, values in series.items():
            got = row(table, model, metric)
            assert got.n == values.size, metric
            want = [values.mean(), *np.percentile(values, [50, 90, 95, 99])]
            have = [got["mean"], got.p50, got.p90, got.p95, got.p99]
            np.testing.assert_allclose(have, want, rtol=1e-9, err_msg=f"{model} {metric}")
        lo, hi = median_ci(ttft * 1000)
        assert row(table, model, "TTFT (ms)").p50_low == pytest.approx(lo)
        assert row(table, model, "TTFT (ms)").p50_high == pytest.approx(hi)


def test_above_the_exact_limit_itl_comes_from_the_stored_histograms_within_a_bin(
        store, monkeypatch):
    import chatlib.stats.summary as stats

    records = seeded_records()
    store.add_many(records)
    flt = RunFilter(since=NOW - 2 * 86400 - 1234.5)  # cut-off first hour: read from offsets
    exact = latency_table(load_stats(store, flt))
    monkeypatch.setattr(stats, "EXACT_ITL_UP_TO", 0)  # every model's pool is "large"
    data = load_stats(store, flt)
    assert data.itl and not any(pool.exact for pool in data.itl.values())
    pooled = latency_table(data)
    for model in ("fast", "mid", "slow"):
        want, got = row(exact, model, "ITL (ms)"), row(pooled, model, "ITL (ms)")
        assert (got.n, got.runs) == (want.n, want.runs)  # the same gaps, counted exactly
        assert got["mean"] == pytest.approx(want["mean"], rel=1e-9)
        for p in ("p50", "p90", "p95", "p99"):
            assert got[p] == pytest.approx(want[p], rel=0.0054), (model, p)
        assert row(pooled, model, "TTFT (ms)").p50 == row(exact, model, "TTFT (ms)").p50


def test_the_migration_builds_the_histograms_of_runs_stored_before_it(tmp_path):
    import sqlite3

    from chatlib.store import RunStore

    path = tmp_path / "old.sqlite3"
    store = RunStore(path)
    store.add_many(seeded_records(60))
    before = store.itl_pools()
    store.close()
    db = sqlite3.connect(path, isolation_level=None)  # as the release before it left it
    db.execute("DROP TABLE itl_hours")
    db.execute("DELETE FROM migrations WHERE name = 'm011_itl_hours'")
    db.close()
    after = RunStore(path).itl_pools()
    assert {k: (h.runs, h.gaps, list(h.counts)) for k, h in after.items()} == \
        {k: (h.runs, h.gaps, list(h.counts)) for k, h in before.items()}


@pytest.mark.parametrize("values", [
    np.random.default_rng(1).lognormal(-4, 0.5, 50_000), np.zeros(10), np.array([0.5]),
    np.array([0.1, 0.2]), np.full(1000, 0.02), np.random.default_rng(2).random(999) * 1e-6,
    np.random.default_rng(3).random(1000) * 1000,
    np.random.default_rng(4).integers(0, 5, 777) / 100,
    np.array([-0.001, 0.0, 0.002, 200.0]),  # outside the histogram's range on both sides
])
def test_exact_percentiles_are_bit_for_bit_numpy(values):
    ps = [0, 1, 25, 50, 90, 95, 99, 100]
    got = exact_percentiles(values.copy(), ps)
    assert [got[f"p{p}"] for p in ps] == list(np.percentile(values, ps))


def test_pool_gaps_never_spans_two_runs_and_survives_a_wrong_count():
    rng = np.random.default_rng(0)
    runs = [np.cumsum(rng.random(int(rng.integers(0, 6)))) for _ in range(60)]
    blobs = [r.tobytes() for r in runs]
    want = np.concatenate([np.diff(r) for r in runs if r.size > 1])
    for expected in (None, want.size, want.size - 3, 0):
        assert np.array_equal(pool_gaps([blobs[:25], blobs[25:]], expected), want)


# -- stopped and failed runs ----------------------------------------------------------------------
def test_stopped_and_failed_runs_never_leak_into_latency_figures(store):
    store.add_many([rec(model="m", offsets=(0.1, 0.11, 0.12)) for _ in range(10)])
    slow = (5.0, 9.0, 13.0)  # would dominate every figure if counted
    store.add_many([rec(model="m", offsets=slow, status="stopped") for _ in range(4)])
    store.add_many([rec(model="m", offsets=slow, status="error", error="boom") for _ in range(3)])
    store.add(rec(model="m", offsets=(), status="error", error="refused", tokens=0))
    data = load_stats(store, RunFilter())
    table = latency_table(data)
    assert set(table.runs) == {10}
    assert table[table.metric.str.endswith("(ms)")].p99.max() < 200
    counts = runs_table(data, PRICES).iloc[0]
    assert (counts.runs, counts.ok, counts.stopped, counts.error) == (18, 10, 4, 4)
    (ttft, _) = headline(data)
    assert ttft.best_n == 10 and ttft.best_p50 == pytest.approx(100.0)


# -- filters ---------------------------------------------------------------------------------------
def test_filters_select_time_provider_model_status_and_page(store):
    store.add_many([
        rec("a", "m1", created_at=NOW - 10), rec("a", "m2", created_at=NOW - 10, page="compare"),
        rec("b", "m1", created_at=NOW - 10, status="error"),
        rec("b", "m3", created_at=NOW - 10 * 86400),
    ])

    def runs(**kw):
        return int(load_stats(store, RunFilter(**kw)).totals.runs.sum())

    assert runs() == 4
    assert runs(since=NOW - 3600) == 3 and runs(until=NOW - 3600) == 1
    assert runs(providers=("a",)) == 2 and runs(models=("m1",)) == 2
    assert runs(statuses=("error",)) == 1 and runs(pages=("compare",)) == 1
    assert runs(providers=("b",), statuses=("ok",)) == 1
    data = load_stats(store, RunFilter(statuses=("error",)))
    assert latency_table(data).empty and headline(data) == []


def test_time_ranges_are_in_local_time():
    now = datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc)
    assert time_range("All time", now) == (None, None)
    assert time_range("Today", now)[0] == datetime(2026, 11, 24, tzinfo=timezone.utc).timestamp()
    assert time_range("Last hour", now)[0] == now.timestamp() - 3600
    # Relative ranges start on a whole minute, so reruns within it share the page's cache.
    assert time_range("Last hour", now.replace(second=42))[0] == now.timestamp() - 3600
    with pytest.raises(ValueError):
        time_range("Yesterday-ish", now)


# -- how sure --------------------------------------------------------------------------------------
def test_median_ci_uses_exact_order_statistics_and_needs_six_values():
    values = np.arange(1.0, 11.0)  # n=10: the 95 % interval is (x2, x9), coverage 97.9 %
    assert median_ci(values) == (2.0, 9.0)
    assert median_ci(np.arange(5.0)) is None and median_ci([]) is None
    assert median_ci(np.arange(6.0)) == (0.0, 5.0)
    big = np.arange(5000.0)  # normal approximation: ranks 2430 and 2571 (1-based)
    assert median_ci(big) == (2429.0, 2570.0)


def exact_rank(n: int) -> int:
    """The exact binomial rank for 95 %, by brute force in integers."""
    total, term, cumulative, k = 2**n, 1, 0, 0
    for j in range(n // 2 + 1):
        cumulative += term
        if cumulative * 40 > total:  # tail = 1/40
            return k
        k = j + 1
        term = term * (n - j) // (j + 1)
    return k


@pytest.mark.parametrize("n", [6, 10, 999, 1000, 1001, 1500, 5000, 20_000])
def test_median_ci_rank_is_exact_up_to_1000_and_never_narrower_than_exact_above(n):
    from chatlib.runs.distributions import _median_ci_rank

    mine, exact = _median_ci_rank(n, 0.95), exact_rank(n)
    assert mine == exact if n <= 1000 else exact - 1 <= mine <= exact


def test_median_ci_covers_the_true_median_at_least_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    true_median = math.log(2)  # exponential(1)
    for n in (8, 30, 200):
        hits = 0
        for _ in range(1000):
            lo, hi = median_ci(rng.exponential(1.0, n))
            hits += lo <= true_median <= hi
        assert hits >= 940, (n, hits)  # exact intervals cover >= 95 %; 1000 draws: sd ~0.7 %


def test_headline_says_clear_only_when_intervals_do_not_overlap(store):
    rng = np.random.default_rng(5)
    store.add_many([rec("x", "fast", (t, t + 0.01)) for t in rng.normal(0.1, 0.005, 30)])
    store.add_many([rec("x", "slow", (t, t + 0.01)) for t in rng.normal(0.3, 0.005, 30)])
    store.add_many([rec("x", "twin", (t, t + 0.01)) for t in rng.normal(0.101, 0.005, 30)])
    ttft, _ = headline(load_stats(store, RunFilter(models=("fast", "slow"))))
    assert ttft.best == ("x", "fast") and ttft.clear is True
    ttft, _ = headline(load_stats(store, RunFilter(models=("fast", "twin"))))
    assert ttft.clear is False
    store.add_many([rec("y", "few", (0.01, 0.02))])  # one run: no interval
    ttft, _ = headline(load_stats(store, RunFilter(providers=("y",))))
    assert ttft.best_ci is None and ttft.runner_up is None and ttft.clear is None


# -- tokens and cost -------------------------------------------------------------------------------
def test_token_sources_and_cost_per_model(store):
    store.add_many([
        rec("openai", "gpt-4o-mini-2024-07-18", input_tokens=1000, tokens=2000),
        rec("openai", "gpt-4o-mini-2024-07-18", input_tokens=3000, tokens=2000, status="stopped"),
        rec("openai", "gpt-4o-mini-2024-07-18", input_tokens=None, input_source=None, tokens=50,
            output_source="tokenizer"),
        rec("local", "smol", tokens=7, output_source="tokenizer"),
        rec("vllm", "my-finetune", tokens=9, output_source="estimate"),
    ])
    table = runs_table(load_stats(store, RunFilter()), PRICES).set_index("model")
    mini = table.loc["gpt-4o-mini-2024-07-18"]
    assert mini["from usage %"] == pytest.approx(200 / 3)
    assert mini["from tokenizer %"] == pytest.approx(100 / 3)
    # $0.15 / $0.60 per 1M; the run with no input count is not costed, not costed as 0.
    assert mini["est. cost"] == pytest.approx((4000 * 0.15 + 4000 * 0.60) / 1e6)
    assert mini["costed runs"] == 2
    assert mini["est. cost per run"] == pytest.approx(mini["est. cost"] / 2)
    assert table.loc["smol", "est. cost"] == 0.0
    finetune_cost = table.loc["my-finetune", "est. cost"]
    assert finetune_cost is None or math.isnan(finetune_cost)
    assert table.loc["my-finetune", "from estimate %"] == 100.0


# -- the database's figures are numpy's ---------------------------------------------------------
def hand_made_runs() -> list[RunRecord]:
    """Runs chosen to reach every corner of the figures: ties, a model with 1, 5 and 6 runs
    (no median interval below 6), thinking runs (a reasoning time) beside plain ones, unknown
    token counts, values outside the histogram's range, runs over four days, and stopped and
    failed runs that must stay out, and a finished run with no text."""
    rng = np.random.default_rng(24)
    day = 86400.0
    out = []
    for i in range(157):  # odd and even counts of values per column
        t = float(rng.lognormal(np.log(0.3), 0.6))
        gaps = rng.lognormal(-4, 0.7, int(rng.integers(1, 30)))
        offsets = (t + np.concatenate(([0.0], np.cumsum(gaps)))).tolist()
        think = i % 3 == 0
        out.append(rec("p", "big", offsets, tokens=None if i % 11 == 0 else len(offsets) + i % 7,
                       created_at=NOW - 4 * day + i * 2000.0,
                       reasoning_offsets_s=[t / 2] if think else [],
                       reasoning_texts=["hm"] if think else [],
                       output_source=None if i % 11 == 0 else "usage"))
    out += [rec("p", "ties", (0.25, 0.5, 0.75), created_at=NOW - 100 - i) for i in range(8)]
    out += [rec("p", "ties", (0.125, 0.5), created_at=NOW - 50)]
    out += [rec("q", "one", (200.0, 200.5), created_at=NOW - 10)]  # above the last bin
    out += [rec("q", "five", (1e-5 * (i + 1), 0.1), created_at=NOW - 3600 * i) for i in range(5)]
    out += [rec("q", "six", (0.05 * (i + 1), 0.3), created_at=NOW - 7 * i) for i in range(6)]
    # Finished with no text: no TTFT (not in the histogram, not in the span over time).
    out += [rec("p", "big", (), tokens=0, created_at=NOW - 10 * day)]
    out += [rec("p", "big", (9.0, 19.0), status="stopped", created_at=NOW - 5),
            rec("p", "big", (), status="error", error="x", tokens=0, created_at=NOW - 5)]
    return out


def _same_figures(a, b):
    assert sorted(a.summaries) == sorted(b.summaries)
    for group, columns in a.summaries.items():
        for column, x in columns.items():
            y = b.summaries[group][column]
            where = (group, column)
            assert x.n == y.n, where
            assert (x.mean is None) == (y.mean is None), where
            if x.mean is not None:
                assert x.mean == pytest.approx(y.mean, rel=1e-12), where
            # Same definition; the last bit of an interpolation may round differently.
            assert x.quantiles.keys() == y.quantiles.keys(), where
            for q, v in x.quantiles.items():
                assert (v is None and y.quantiles[q] is None) or \
                    v == pytest.approx(y.quantiles[q], rel=1e-12), (where, q)
            assert x.median_ci == y.median_ci, where  # order statistics: exact
        for column, counts in a.histograms[group].items():
            assert np.array_equal(counts, b.histograms[group][column]), (group, column)
    assert sorted(a.timelines) == sorted(b.timelines)
    for column, x in a.timelines.items():
        y = b.timelines[column]
        assert list(zip(x.provider, x.model, x.bucket, x.n)) == \
            list(zip(y.provider, y.model, y.bucket, y.n)), column
        assert list(x.p50) == pytest.approx(list(y.p50), rel=1e-12), column


@pytest.mark.parametrize("flt", [
    RunFilter(), RunFilter(since=NOW - 86400), RunFilter(models=("big", "six"), pages=("chat",)),
    RunFilter(statuses=("ok", "stopped")), RunFilter(statuses=("error",)),
], ids=["all", "one day: hourly buckets", "two models", "ok and stopped", "failed only"])
def test_figures_computed_by_the_database_are_numpys(store, flt):
    """On PostgreSQL the page's figures come from SQL (percentile_cont, percentile_disc,
    width_bucket); they must be the numpy path's, run on the same rows."""
    from concurrent.futures import ThreadPoolExecutor

    from chatlib.stats.summary import figure_query

    store.add_many(hand_made_runs())
    totals = store.totals(flt)
    groups = [(p, m) for p, m in totals[totals.status == "ok"][["provider", "model"]]
              .itertuples(index=False)]
    query = figure_query()
    with ThreadPoolExecutor(2) as executor:
        native = store.run_figures(query, groups, flt, executor)
        numpy_path = store.run_figures(query, groups, flt, executor, in_python=True)
        nobody = store.run_figures(query, [("nobody", "none")], flt, executor)
    _same_figures(native, numpy_path)
    assert not nobody.summaries and not nobody.histograms  # no finished run: no figures
    if flt.statuses == ("error",):
        assert not native.summaries and all(t.empty for t in native.timelines.values())


def test_page_figures_equal_plain_numpy_on_hand_made_runs(store):
    from chatlib.stats.summary import over_time, spread_frame, ttft_histogram

    records = hand_made_runs()
    store.add_many(records)
    data = load_stats(store, RunFilter())
    ok = [r for r in records if r.status == "ok"]
    big = [r for r in ok if r.model == "big" and r.chunk_offsets_s]
    metrics = [r.metrics() for r in big]
    reasoning = np.array([m.reasoning_s for m in metrics if m.reasoning_s is not None])
    table = latency_table(data)
    got = row(table, "big", "Reasoning time (ms)")
    assert got.n == reasoning.size == 53
    assert [got.p50, got.p99] == pytest.approx(list(np.percentile(reasoning, [50, 99]) * 1000),
                                               rel=1e-12)
    assert (got.p50_low, got.p50_high) == pytest.approx(
        tuple(v * 1000 for v in median_ci(reasoning)), rel=1e-15)
    assert "Reasoning time (ms)" not in set(table[table.model == "six"].metric)
    assert math.isnan(row(table, "five", "TTFT (ms)").p50_low)  # 5 runs: no interval
    assert not math.isnan(row(table, "six", "TTFT (ms)").p50_low)
    tps = np.array([m.output_tps for m in metrics if m.output_tps is not None])
    spread = spread_frame(data).set_index("model").loc["p · big"]
    assert spread.n == tps.size
    assert [spread[f"p{p}"] for p in (5, 25, 50, 75, 95)] == pytest.approx(
        list(np.percentile(tps, [5, 25, 50, 75, 95])), rel=1e-12)
    hist = ttft_histogram(data)
    assert hist[hist.model == "q · one"][["from", "count"]].values.tolist() == [
        [112_000.0, 1]]  # 200 s: in the last bin, 112-128 s
    assert hist.groupby("model")["count"].sum().to_dict() == {
        "p · big": 157, "p · ties": 9, "q · five": 5, "q · one": 1, "q · six": 6}
    # Over time: the runs span four days, so daily buckets from local midnight.
    e2e = over_time(data, "e2e_s")
    shift = datetime.now().astimezone().utcoffset().total_seconds()
    created = np.array([r.created_at for r in big])
    values = np.array([m.e2e_s for m in metrics]) * 1000
    buckets = (created + shift) // 86400 * 86400 - shift
    mine = e2e[e2e.model == "p · big"]
    want = [(b, float(np.median(values[buckets == b])), int((buckets == b).sum()))
            for b in sorted(set(buckets))]
    assert [t.timestamp() for t in mine.time] == [b for b, _, _ in want]
    assert list(mine.p50) == pytest.approx([v for _, v, _ in want], rel=1e-12)
    assert list(mine.n) == [n for _, _, n in want]


# -- export ----------------------------------------------------------------------------------------
def test_export_recomputes_the_page_figures_and_holds_no_key(store):
    records = seeded_records(90, seed=8)
    records.append(rec("prov", "fast", (0.2, 0.3), status="stopped"))
    records.append(rec("prov", "fast", (), status="error", error="nope", tokens=0,
                       settings={"model": "fast",
                                 "extra": {"api_key": "sk-live-123", "Authorization": "Bearer x"}}))
    store.add_many(records)
    flt = RunFilter()
    view = build_view(store, flt, PRICES)
    blob = export_json(store, flt, DEFINITIONS)
    doc = json.loads(blob)
    assert b"sk-live-123" not in blob and b"Bearer x" not in blob
    assert doc["format"] == "chatlab-runs/1" and len(doc["runs"]) == 92
    assert list(doc["runs"][0]) == list(EXPORT_COLUMNS) and doc["definitions"] == DEFINITIONS
    assert [r["created_at"] for r in doc["runs"]] == sorted(r.created_at for r in records)
    failed = next(r for r in doc["runs"] if r["status"] == "error")
    assert failed["chunk_offsets_s"] == [] and failed["error"] == "nope"
    assert failed["ttft_s"] is None
    raw_csv = export_csv(store, flt)
    assert b"sk-live-123" not in raw_csv
    csv_rows = list(csv.DictReader(io.StringIO(raw_csv.decode())))
    assert len(csv_rows) == 92 and list(csv_rows[0]) == list(EXPORT_COLUMNS)
    for source in (doc["runs"], csv_rows):
        # Recomputed here from raw offsets and counts only, with plain numpy.
        ok = [r for r in source if r["status"] == "ok" and r["model"] == "fast"]
        offsets = [np.array(json.loads(r["chunk_offsets_s"])
                            if isinstance(r["chunk_offsets_s"], str) else r["chunk_offsets_s"])
                   for r in ok]
        tokens = np.array([float(r["output_tokens"]) for r in ok])
        ttft = np.array([o[0] for o in offsets]) * 1000
        tps = tokens / np.array([o[-1] for o in offsets])
        itl = np.concatenate([np.diff(o) for o in offsets]) * 1000
        assert row(view.latency, "fast", "TTFT (ms)").p50 == pytest.approx(
            np.percentile(ttft, 50), rel=1e-12)
        assert row(view.latency, "fast", "Output tok/s per request")["mean"] == pytest.approx(
            tps.mean(), rel=1e-12)
        assert row(view.latency, "fast", "ITL (ms)").p95 == pytest.approx(
            np.percentile(itl, 95), rel=1e-12)


def test_redact_settings_keeps_max_tokens_and_hides_credentials():
    settings = {"model": "m", "max_tokens": 9, "extra": {"API_KEY": "k", "nested": [{"secret": 1}]}}
    assert redact_settings(settings) == {
        "model": "m", "max_tokens": 9,
        "extra": {"API_KEY": "[redacted]", "nested": [{"secret": "[redacted]"}]}}


def test_chunk_timeline_spreads_the_token_total_by_characters():
    frame = chunk_timeline([0.1, 0.2, 0.4], ["ab", "cd", "abcd"], 8)
    assert list(frame["arrival (ms)"]) == pytest.approx([100, 200, 400])
    assert list(frame["tokens (cumulative)"]) == pytest.approx([2, 4, 8])
    assert list(chunk_timeline([0.1], ["x"], None)["tokens (cumulative)"]) == [1]
