"""Load runs (chatlib.load): the arithmetic on hand-made runs, the arrivals on the
generator's own clock, the sweep's search, the generator's check of itself, the estimate,
and the store. The knee against servers of known capacity is tests/test_load_knee.py."""

from __future__ import annotations

import time

import numpy as np
import pytest

from chatlib.compare.comparison import TargetSpec
from chatlib.core.tokens import counter_for
from chatlib.load.arrivals import arrival_offsets
from chatlib.load.estimate import estimate_target, max_levels
from chatlib.load.knee import knee_of, next_sweep_level
from chatlib.load.lanes import request_head
from chatlib.load.levels import GeneratorCheck, LevelResult, error_kind, summarize_level
from chatlib.load.run import LoadRun, LoadView
from chatlib.load.spec import LoadSpec, Schedule, Slo, Workload, parse_slo
from chatlib.load.workload import level_prompts, synthetic_prompt
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.runs.pricing import Price, PriceTable
from chatlib.runs.record import RunRecord
from chatlib.store import RunStore
from chatlib.store.loads import LoadStore


def _run(ttft: float | None, e2e: float | None = None, *, status: str = "ok",
         gaps: int = 4, error: str | None = None, tokens: int = 5) -> RunRecord:
    """A finished run whose first chunk came at ``ttft`` and whose last at ``e2e``."""
    offsets: list[float] = []
    if ttft is not None:
        end = e2e if e2e is not None else ttft + 0.01 * gaps
        offsets = list(np.linspace(ttft, end, gaps + 1))
    return RunRecord(provider="scripted", model="m", settings={}, status=status,  # type: ignore[arg-type]
                     created_at=time.time(), chunk_offsets_s=offsets,
                     chunk_texts=["x"] * len(offsets), output_tokens=tokens, error=error)


# -- SLOs ------------------------------------------------------------------------------------
def test_an_slo_is_read_as_people_write_it() -> None:
    assert parse_slo("p99 ttft <= 200ms") == Slo("ttft", 99, 0.2)
    assert parse_slo("P90 E2E ≤ 10s") == Slo("e2e", 90, 10.0)
    assert parse_slo(" p99.9 itl < 50 ms ") == Slo("itl", 99.9, 0.05)
    assert parse_slo("p99 ttft <= 200ms").text == "p99 TTFT ≤ 200 ms"
    for bad in ("ttft <= 200ms", "p99 speed <= 1s", "p99 ttft <= 200", "p0 ttft <= 1s",
                "p99 ttft >= 1s"):
        with pytest.raises(ValueError):
            parse_slo(bad)


def test_slo_attainment_goodput_and_percentiles_on_hand_made_runs() -> None:
    # 10 requests: TTFTs 0.1 ... 1.0 s, one failed, one stopped by the user.
    runs = [_run(0.1 * i, 0.1 * i + 1.0) for i in range(1, 9)]
    runs.append(_run(None, status="error", error="Rate limit reached (429)"))
    runs.append(_run(0.05, status="stopped"))
    slos = [Slo("ttft", 50, 0.45), Slo("e2e", 90, 1.85)]
    result = summarize_level("A", 4, 0, runs, slos, duration_s=4.0)
    assert (result.requests, result.ok, result.stopped) == (10, 8, 1)
    assert result.errors == {"rate limited": 1}
    # Counted: 9 (the stop is left out; the failure is a miss). TTFT ≤ 0.45: 0.1-0.4 → 4/9.
    assert result.attainment["p50 TTFT ≤ 450 ms"] == pytest.approx(4 / 9)
    # E2E ≤ 1.85: 1.1 ... 1.8 → all 8 finished, 8/9 < 0.9: missed.
    assert result.attainment["p90 E2E ≤ 1.85 s"] == pytest.approx(8 / 9)
    assert result.meets_slos is False
    assert result.goodput_per_s == pytest.approx(4 / 4.0)  # met both limits: TTFT 0.1-0.4
    assert result.requests_per_s == pytest.approx(8 / 4.0)
    assert result.output_tokens_per_s == pytest.approx(8 * 5 / 4.0)
    ttfts = [0.1 * i for i in range(1, 9)]
    for key, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9)):
        assert result.percentiles["ttft"][key] == pytest.approx(np.percentile(ttfts, q))
    # ITL pools every gap of the finished runs (4 per run here).
    assert result.percentiles["itl"]["p50"] == pytest.approx(0.25)
    lenient = summarize_level("A", 4, 0, runs, [Slo("ttft", 40, 0.45)], duration_s=4.0)
    assert lenient.meets_slos is True  # 4/9 ≥ 40 %


def test_errors_are_sorted_by_kind() -> None:
    assert error_kind("Rate limit reached: 429 Too Many Requests") == "rate limited"
    assert error_kind("The request timed out after 60 s") == "timeout"
    assert error_kind("Anthropic is overloaded (529)") == "overloaded"
    assert error_kind("Server error 500 from the provider") == "server error"
    assert error_kind("Could not connect to http://127.0.0.1:1") == "connection"
    assert error_kind("something else") == "other"


def test_a_level_where_the_generator_was_the_bottleneck_is_flagged_and_not_counted() -> None:
    runs = [_run(0.05, 0.5) for _ in range(10)]
    slos = [Slo("ttft", 99, 0.2)]
    fine = summarize_level("A", 1, 0, runs, slos, 5.0, GeneratorCheck(0.001, 0.002, 0.003, 0.2))
    assert not fine.client_bound
    busy_cpu = summarize_level("A", 2, 1, runs, slos, 5.0, GeneratorCheck(cpu_share=0.97))
    late = summarize_level("A", 4, 2, runs, slos, 5.0, GeneratorCheck(overhead_mean_s=0.05))
    dropped = summarize_level("A", 8, 3, runs, slos, 5.0, GeneratorCheck(dropped=3))
    assert "97% of a core" in busy_cpu.client_bound_why
    assert "late" in late.client_bound_why
    assert "3 arrivals" in dropped.client_bound_why
    knee = knee_of("A", "scripted:m", [fine, busy_cpu, late, dropped], slos,
                   Schedule("concurrency", (1, 2, 4, 8)))
    assert knee.level == 1  # the others prove nothing
    assert "bottleneck" in knee.words and "8 concurrent streams" in knee.words


# -- arrivals --------------------------------------------------------------------------------
def test_constant_arrivals_are_evenly_spaced() -> None:
    offsets = arrival_offsets(4.0, poisson=False)
    assert [next(offsets) for _ in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_poisson_arrivals_have_the_rate_and_the_dispersion_of_a_poisson_process() -> None:
    rate, n = 20.0, 40_000
    offsets = arrival_offsets(rate, poisson=True, seed=3)
    times = np.array([next(offsets) for _ in range(n)])
    gaps = np.diff(times)
    assert gaps.min() > 0
    assert gaps.mean() == pytest.approx(1 / rate, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)  # exponential: CV 1
    counts = np.bincount(times.astype(int))[:-1]  # arrivals per whole second
    assert counts.mean() == pytest.approx(rate, rel=0.03)
    assert counts.var() / counts.mean() == pytest.approx(1.0, abs=0.2)  # Poisson: var = mean
    again = arrival_offsets(rate, poisson=True, seed=3)
    assert [next(again) for _ in range(5)] == list(times[:5])  # the seed repeats it
    constant = np.bincount(np.array([next(c) for c in [arrival_offsets(rate, poisson=False)]
                                     for _ in range(2000)]).astype(int))[:-1]
    assert constant.var() == 0


# -- the sweep -------------------------------------------------------------------------------
def _level(level: float, held: bool, rps: float = 1.0) -> LevelResult:
    return LevelResult("A", level, 0, 10, 10, 0, {}, 1.0, rps, None, {}, {}, None, held)


@pytest.mark.parametrize("capacity", [1, 3, 5, 8, 24, 100])
def test_a_sweep_doubles_then_bisects_to_the_capacity(capacity: int) -> None:
    slos = [Slo("ttft", 99, 0.2)]
    results: list[LevelResult] = []
    while (level := next_sweep_level(results, slos, 256)) is not None:
        assert level not in {r.level for r in results}
        results.append(_level(level, level <= capacity))
    knee = knee_of("A", "x", results, slos, Schedule("sweep"))
    assert knee.level is not None
    # Exact up to 8; above, within an eighth of the capacity (the bracket's stop).
    assert capacity - capacity // 8 <= knee.level <= capacity
    assert len(results) <= max_levels(LoadSpec((("A", "x"),), schedule=Schedule("sweep")))


def test_a_sweep_without_slos_stops_where_throughput_stops_growing() -> None:
    results: list[LevelResult] = []
    while (level := next_sweep_level(results, [], 256)) is not None:
        results.append(_level(level, True, rps=min(level, 6) * 2.0))
    # req/s 2, 4, 8, 12, 12: 16 streams add nothing over 8.
    assert [r.level for r in results] == [1, 2, 4, 8, 16]
    knee = knee_of("A", "x", results, [], Schedule("sweep"))
    assert knee.level == 8 and "stops growing past 8 concurrent streams" in knee.words


def test_a_target_that_misses_at_the_first_level_has_no_knee() -> None:
    slos = [Slo("ttft", 99, 0.2)]
    knee = knee_of("A", "x", [_level(1, False)], slos, Schedule("sweep"))
    assert knee.level is None and "misses p99 TTFT ≤ 200 ms even at 1 concurrent stream" \
        in knee.words
    assert next_sweep_level([_level(1, False)], slos, 256) is None


# -- workload and estimate -------------------------------------------------------------------
def test_synthetic_prompts_have_the_asked_length_in_the_targets_tokens_and_all_differ() -> None:
    counter = counter_for("openai", "gpt-4o")  # tiktoken: a real tokenizer
    for tokens in (16, 128, 1000):
        # What a request sends: its own head, then the text.
        prompt = request_head(123) + synthetic_prompt(counter, tokens, seed=1)
        assert 0 <= counter.count(prompt) - tokens <= 1
    prompts = level_prompts(Workload(input_tokens=64), counter, seed=0, count=10)
    assert len(set(prompts)) == 10
    assert all(0 <= counter.count(request_head(7) + p) - 64 <= 1 for p in prompts)
    given = level_prompts(Workload(prompts=("a", "b")), counter, seed=0)
    assert given == ["a", "b"]


def test_the_estimate_is_a_ceiling_from_the_request_cap_and_the_price_table() -> None:
    prices = PriceTable(as_of=__import__("datetime").date(2026, 12, 1), currency="USD",
                        prices={("openai", "gpt-x"): Price(1.0, 4.0)})
    spec = LoadSpec((("A", "openai:gpt-x"),), Workload(input_tokens=1000, output_tokens=500),
                    Schedule("concurrency", (1, 2, 4)), requests=10)
    estimate = estimate_target(spec, "A", "openai", "gpt-x", warmups=1, prices=prices)
    assert estimate.requests == 31  # 3 levels × 10, and a warm-up
    assert estimate.cost == pytest.approx((31_000 * 1.0 + 15_500 * 4.0) / 1e6)
    unbounded = LoadSpec((("A", "openai:gpt-x"),), schedule=Schedule("concurrency", (1,)))
    assert not estimate_target(unbounded, "A", "openai", "gpt-x", prices=prices).bounded
    rate = LoadSpec((("A", "openai:gpt-x"),), schedule=Schedule("rate", (2.0,)), seconds=10)
    assert estimate_target(rate, "A", "openai", "gpt-x", prices=prices).requests == 21


# -- a whole run, through the worker processes and the store ---------------------------------
def _scripted(capacity: int | None = None, first: float = 0.05, gap: float = 0.01,
              chunks: int = 20) -> TargetSpec:
    script = Script(chunks=tuple("ab" for _ in range(chunks)), first_delay_s=first, gap_s=gap,
                    capacity=capacity)
    provider = ScriptedProvider(scripts={"m": script})
    return TargetSpec(provider, "m", counter_for("scripted", "m"))


def test_a_run_is_read_by_worker_processes_stored_and_reopened(tmp_path) -> None:
    runs = RunStore(tmp_path / "runs.db")
    store = LoadStore(runs)
    spec = LoadSpec((("A", "scripted:m"),), Workload(input_tokens=16, output_tokens=20),
                    Schedule("concurrency", (1, 3)), slos=(parse_slo("p99 ttft <= 2s"),),
                    seconds=0.6)
    run = LoadRun(spec, [_scripted()], store=store).start()
    assert run.wait(60)
    assert run.failure is None and not run.stopped
    assert [r.level for r in run.results] == [1, 3]
    assert all(r.generator.in_workers for r in run.results)
    assert all(r.ok >= r.level and not r.errors for r in run.results)
    assert all(r.cost == 0.0 for r in run.results)  # scripted: priced at zero, not unknown
    stored = store.get(run.id)
    assert stored is not None and stored.ended_at is not None
    view = LoadView.from_stored(stored)
    assert view.results == run.results and view.spec == spec
    assert [k.words for k in view.knees()] == [k.words for k in run.knees()]
    records = store.runs(run.id, [0, 1])
    assert len(records) == sum(r.requests for r in run.results)
    assert {r.page for r in records} == {"load"} and {r.label for r in records} == {"A"}
    assert all(len(r.chunk_offsets_s) == 20 for r in records)
    # No two requests alike (no prefix cache serves one from another); each counted here.
    assert len({r.prompt for r in records}) == len(records)
    assert all(r.input_tokens and r.input_source == "estimate" for r in records)
    # Another user sees none of it.
    assert LoadStore(runs.for_owner("someone-else")).get(run.id) is None


def test_a_slowed_generator_flags_its_levels_client_bound() -> None:
    spec = LoadSpec((("A", "scripted:m"),), Workload(input_tokens=16, output_tokens=20),
                    Schedule("concurrency", (2,)), seconds=1.0)
    run = LoadRun(spec, [_scripted()], before_send=lambda: time.sleep(0.08)).start()
    assert run.wait(60)
    (result,) = run.results
    assert result.client_bound and "late" in result.client_bound_why
    assert result.generator.overhead_mean_s is not None
    assert result.generator.overhead_mean_s >= 0.08


def test_stop_keeps_the_levels_measured_and_the_requests_in_flight(tmp_path) -> None:
    store = LoadStore(RunStore(tmp_path / "runs.db"))
    spec = LoadSpec((("A", "scripted:m"),), Workload(input_tokens=16, output_tokens=20),
                    Schedule("concurrency", (1, 2)), seconds=0.5)
    slow = _scripted(first=0.05, gap=0.05, chunks=40)  # 2 s per request
    run = LoadRun(spec, [slow], store=store).start()
    deadline = time.monotonic() + 30
    while not (run.results and run.progress().level == 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the second level's requests are streaming (each lasts 2 s or more)
    run.stop()
    assert run.wait(30) and run.stopped
    assert [r.level for r in run.results] == [1, 2]
    assert run.results[1].stopped == 2
    stored = store.get(run.id)
    assert stored is not None and stored.stopped and len(stored.levels) == 2
    partial = [r for r in store.runs(run.id, [1]) if r.status == "stopped"]
    assert len(partial) == 2 and all(r.chunk_texts for r in partial)
