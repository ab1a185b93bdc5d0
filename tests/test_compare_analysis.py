"""Verdicts from paired runs: the arithmetic against seeded distributions with known
differences (and a null case that must come out inconclusive), the validity flags, and the
rounds that make runs pairable (every lane starts each round together; a shared lane runs
its targets in a new random order each round)."""

import random
import threading
import time

import numpy as np
import pytest

import chatlib.compare.comparison
from chatlib.compare.comparison import Comparison, SharedSettings, TargetSpec
from chatlib.compare.analysis import (FIGURES, MIN_PAIRS, flag_table, paired_verdict,
                                      run_flags, verdicts)
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.runs.distributions import MIN_FOR_INTERVAL, median_ci, too_few_for_interval
from chatlib.runs.record import RunRecord
from chatlib.core.tokens import FunctionCounter
from tests.clocks import HANG_GUARD_S, ThreadClock, wait_for

CHARS = FunctionCounter("chars", len)
SHARED = SharedSettings(max_tokens=64)
TTFT, TPS = FIGURES[0], FIGURES[2]


def test_a_known_difference_is_found_with_its_interval_in_plain_words():
    rng = np.random.default_rng(7)
    a = rng.normal(0.50, 0.02, 20)  # seconds
    b = rng.normal(0.32, 0.02, 20)
    v = paired_verdict(TTFT, "A", "B", a, b)
    assert v.winner == "B" and v.conclusive and v.more_runs is None
    assert v.advantage == pytest.approx(np.median(a) - np.median(b))
    assert 0.15 < v.low < v.advantage < v.high < 0.21  # around the true 180 ms
    assert v.words.startswith(f"B's first token comes {v.advantage * 1000:.0f} ms sooner")
    assert "20 paired runs" in v.words and "95 % CI" in v.words


def test_higher_is_better_for_speed():
    rng = np.random.default_rng(3)
    v = paired_verdict(TPS, "A", "B", rng.normal(90, 3, 12), rng.normal(60, 3, 12))
    assert v.winner == "A" and v.conclusive and v.words.startswith("A streams ")


def test_no_real_difference_is_inconclusive_and_says_how_many_more_runs():
    rng = np.random.default_rng(11)
    a, b = rng.normal(0.4, 0.05, 20), rng.normal(0.4, 0.05, 20)
    v = paired_verdict(TTFT, "A", "B", a, b)
    assert not v.conclusive and v.low <= 0 <= v.high
    assert v.words.startswith("No clear difference in first token")
    assert v.more_runs is not None and v.more_runs > 0
    assert f"about {v.more_runs} more paired runs" in v.words or "many more runs" in v.words


def test_too_few_pairs_give_no_interval():
    v = paired_verdict(TTFT, "A", "B", [0.1, 0.2], [0.3, 0.4])
    assert v.low is None and not v.conclusive and "too few for a 95 % interval" in v.words


def test_an_unsettled_verdict_reads_as_a_sentence_a_person_understands():
    """Issue 25: "the interval includes none" said nothing to a reader."""
    rng = np.random.default_rng(11)
    v = paired_verdict(TTFT, "A", "B", rng.normal(0.4, 0.05, 20), rng.normal(0.4, 0.05, 20))
    assert v.winner is not None and not v.conclusive
    assert "includes none" not in v.words
    assert (f"{v.winner}'s first token comes {v.advantage * 1000:.0f} ms sooner, but the 95 % "
            "interval also includes no difference at all, so this is not settled (95 % CI"
            in v.words)


def test_compare_and_stats_ask_for_the_same_number_of_runs_and_say_it_the_same_way():
    """Issue 25: Stats wanted 6 runs, Compare 5 pairs. The minimum is the fewest values a
    distribution-free 95 % interval of a median can come from, on both pages."""
    few = [0.1 * i for i in range(1, MIN_FOR_INTERVAL)]
    assert MIN_PAIRS == MIN_FOR_INTERVAL == 6
    assert median_ci(few) is None and median_ci([*few, 0.7]) is not None  # Stats' interval
    short = paired_verdict(TTFT, "A", "B", few, few)
    assert short.low is None and short.more_runs == 1  # Compare's, one pair short
    assert short.words.endswith(": 5 paired runs, too few for a 95 % interval: it takes at "
                                "least 6 paired runs.")
    assert paired_verdict(TTFT, "A", "B", [*few, 0.7], [*few, 0.7]).low is not None
    assert too_few_for_interval("finished runs per model") == (
        "too few for a 95 % interval: it takes at least 6 finished runs per model")


def record(**kwargs) -> RunRecord:
    return RunRecord(provider="p", model="m", settings={}, status="ok", created_at=0.0,
                     chunk_offsets_s=[0.1, 0.2], chunk_texts=["a", "b"], output_tokens=2,
                     output_source="usage", **kwargs)


def test_run_flags():
    assert run_flags(record(), cold=False) == frozenset()
    assert run_flags(record(), cold=True) == {"cold"}
    assert run_flags(record(attempts=2), cold=False) == {"retried"}
    assert run_flags(record(cached_input_tokens=1024), cold=False) == {"cached"}
    assert run_flags(record(finish_reason="max_tokens"), cold=False) == {"length"}
    assert run_flags(record(reasoning_hidden=True), cold=False) == {"hidden reasoning"}
    est = RunRecord(provider="p", model="m", settings={}, status="ok", created_at=0.0,
                    output_tokens=2, output_source="estimate")
    assert run_flags(est, cold=False) == {"estimated"}


def scripted(first: float, clock, events=None, name="") -> TargetSpec:
    script = Script(chunks=tuple(f"w{i} " for i in range(5)), first_delay_s=first, gap_s=0.01)
    provider = ScriptedProvider(script, sleep=clock.sleep)
    if events is not None:  # note when each run starts and ends, in one order for all
        inner, lock = provider.stream, threading.Lock()

        def stream(messages, settings):
            with lock:
                events.append(("start", name))
            yield from inner(messages, settings)
            with lock:
                events.append(("end", name))
        provider.stream = stream
    return TargetSpec(provider, "scripted", CHARS)


def test_verdicts_over_a_comparison_pair_rounds_and_leave_flagged_runs_out():
    clock = ThreadClock()
    comparison = Comparison("hi", [scripted(0.05, clock), scripted(0.15, clock)], SHARED,
                            repeat=7, clock=clock).start()
    assert comparison.wait(HANG_GUARD_S)
    by_key = {v.figure.key: v for v in verdicts(comparison)}
    assert "ttfat" not in by_key  # neither thinks
    assert "cost" not in by_key  # both are free: "costs $0 less" says nothing
    ttft = by_key["ttft"]
    assert ttft.pairs == 6  # round 1 is cold (no warm-up): left out
    assert ttft.winner.startswith("A") and ttft.advantage == pytest.approx(0.1)
    assert ttft.conclusive and "100 ms sooner" in ttft.words
    kept = {v.figure.key: v for v in verdicts(comparison, keep=["cold"])}
    assert kept["ttft"].pairs == 7
    flags = flag_table(comparison)
    assert len(flags) == 14 and flags.cold.sum() == 2


def test_every_lane_starts_each_round_together():
    clock, events = ThreadClock(), []
    specs = [scripted(0.0, clock, events, "A"), scripted(0.0, clock, events, "B")]
    held = specs[1].provider.stream

    def slow_first_run(messages, settings, _first=[True]):
        if _first.pop() if _first else False:
            # B's first run lasts until A's has ended, and 50 ms more: a lane that did not
            # wait for the round would start A's second run meanwhile.
            wait_for(lambda: ("end", "A") in events, "A's first run")
            time.sleep(0.05)
        yield from held(messages, settings)

    specs[1].provider.stream = slow_first_run
    comparison = Comparison("hi", specs, SHARED, repeat=5, clock=clock).start()
    assert comparison.wait(HANG_GUARD_S)
    # Round k of either target starts only after both runs of round k - 1 ended.
    def at(kind: str, name: str) -> list[int]:  # positions in the shared order, by round
        return [i for i, e in enumerate(events) if e == (kind, name)]

    starts, ends = {n: at("start", n) for n in "AB"}, {n: at("end", n) for n in "AB"}
    assert all(len(v) == 5 for v in (*starts.values(), *ends.values()))
    for k in range(1, 5):
        assert max(ends["A"][k - 1], ends["B"][k - 1]) < min(starts["A"][k], starts["B"][k]), \
            events


def test_a_shared_lane_runs_its_targets_in_a_new_random_order_each_round(monkeypatch):
    monkeypatch.setattr(chatlib.compare.comparison, "serial_key", lambda provider: "one lane")
    clock, events = ThreadClock(), []
    specs = [scripted(0.0, clock, events, "A"), scripted(0.0, clock, events, "B")]
    comparison = Comparison("hi", specs, SHARED, repeat=8, clock=clock,
                            rng=random.Random(5)).start()
    assert comparison.wait(HANG_GUARD_S)
    starts = [name for kind, name in events if kind == "start"]
    rounds = [tuple(starts[i:i + 2]) for i in range(0, 16, 2)]
    assert all(sorted(r) == ["A", "B"] for r in rounds)  # each round runs both once
    assert len(set(rounds)) == 2  # and not always in the same order


def test_stop_ends_lanes_waiting_for_the_next_round():
    clock = ThreadClock()
    slow = Script(chunks=("x",) * 3, first_delay_s=0.0, gap_s=0.0)
    gate = threading.Event()

    class Held(ScriptedProvider):
        def stream(self, messages, settings):
            gate.wait(HANG_GUARD_S)
            yield from super().stream(messages, settings)

    specs = [TargetSpec(ScriptedProvider(slow, sleep=clock.sleep), "scripted", CHARS),
             TargetSpec(Held(slow, sleep=clock.sleep), "scripted", CHARS)]
    comparison = Comparison("hi", specs, SHARED, repeat=5, clock=clock).start()
    # A finishes round 1 and waits at the round barrier for B, which is held.
    comparison.stop()
    gate.set()
    assert comparison.wait(HANG_GUARD_S), "a lane stayed waiting for the next round"
    assert all(t.completed <= 1 for t in comparison.targets)
