"""chatlib.compare.race: the race rows, cumulative characters, time to the first N answer
characters and the longest stall, from records with known chunk offsets (no clock: the
offsets are the record's), and the live sampler on a pump whose time moves only when the
test lets the provider go on. Offsets are binary fractions, so every figure is exact."""

import random
import threading

import pytest

from chatlib.compare.comparison import Comparison, SharedSettings, StoredRun, TargetSpec
from chatlib.compare.race import (
    RACE_CHARS,
    RACE_COLUMNS,
    RaceSampler,
    live_tracks,
    race_figures,
    race_frame,
    record_track,
    shown_runs,
)
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.streaming.pump import StreamPump
from chatlib.runs.record import RunRecord
from chatlib.core.tokens import FunctionCounter
from chatlib.core.types import Message, Settings
from tests.clocks import VirtualClock, wait_for

CHARS = FunctionCounter("chars", len)


def record(offsets=(), texts=(), *, thinking_offsets=(), thinking_texts=(), status="ok",
           label="A") -> RunRecord:
    return RunRecord(
        provider="scripted", model="scripted", settings={}, status=status, created_at=0.0,
        chunk_offsets_s=list(offsets), chunk_texts=list(texts), label=label,
        reasoning_offsets_s=list(thinking_offsets), reasoning_texts=list(thinking_texts),
        output_tokens=len(offsets) + len(thinking_offsets),
    )


def rows(frame) -> list[tuple]:
    return [tuple(r) for r in frame.itertuples(index=False)]


# An answer of 120 characters in four chunks; the longest gap is 0.5 s → 1.5 s.
PLAIN = record([0.25, 0.5, 1.5, 1.75], ["a" * 40, "b" * 40, "c" * 30, "d" * 10])
# 11 characters of thinking, then 110 of answer; the longest gap is thinking → answer.
THINKER = record([1.5, 1.625], ["x" * 60, "y" * 50], thinking_offsets=[0.125, 0.25, 0.5],
                 thinking_texts=["think", "ing", "..."], label="B")


def test_one_row_per_chunk_with_cumulative_answer_characters():
    frame = race_frame([record_track("A · plain", PLAIN)])
    assert list(frame.columns) == RACE_COLUMNS
    assert rows(frame) == [
        ("A · plain", 0.25, "answer", 40, 40, 0, True),
        ("A · plain", 0.5, "answer", 40, 80, 0, True),
        ("A · plain", 1.5, "answer", 30, 110, 0, True),
        ("A · plain", 1.75, "answer", 10, 120, 0, True),
    ]


def test_time_to_the_first_n_answer_characters_and_the_longest_stall():
    figures = race_figures("A", PLAIN)
    assert figures.n_chars == RACE_CHARS == 100
    assert figures.to_n_s == 1.5  # the chunk that took the answer from 80 to 110 characters
    assert (figures.stall_s, figures.stall_from_s) == (1.0, 0.5)
    assert (figures.answer_chars, figures.answer_chunks, figures.thinking_chars) == (120, 4, 0)
    assert (figures.thinking_from_s, figures.thinking_to_s) == (None, None)
    assert race_figures("A", PLAIN, n_chars=80).to_n_s == 0.5  # reached exactly at 80
    assert race_figures("A", PLAIN, n_chars=121).to_n_s is None  # never reached
    with pytest.raises(ValueError):
        race_figures("A", PLAIN, n_chars=0)


def test_thinking_chunks_are_rows_of_their_own_kind_and_count_in_the_stall():
    frame = race_frame([record_track("B", THINKER)])
    assert rows(frame) == [
        ("B", 0.125, "thinking", 5, 0, 5, True),
        ("B", 0.25, "thinking", 3, 0, 8, True),
        ("B", 0.5, "thinking", 3, 0, 11, True),
        ("B", 1.5, "answer", 60, 60, 11, True),
        ("B", 1.625, "answer", 50, 110, 11, True),
    ]
    figures = race_figures("B", THINKER)
    # Answer characters only: the 11 of thinking do not bring it to 100 any sooner.
    assert figures.to_n_s == 1.625 and figures.answer_chars == 110
    assert figures.thinking_chars == 11
    # The gap from the last thinking chunk to the first answer chunk: a stall like any other.
    assert (figures.stall_s, figures.stall_from_s) == (1.0, 0.5)
    # The thinking span is the README's reasoning time: first thinking to first answer chunk.
    assert (figures.thinking_from_s, figures.thinking_to_s) == (0.125, 1.5)
    assert figures.thinking_to_s - figures.thinking_from_s == THINKER.metrics().reasoning_s
    track = record_track("B", THINKER)
    assert (track.thinking_from_s, track.thinking_to_s, track.answer_from_s) == (0.125, 1.5, 1.5)


def test_a_run_that_only_thought_spans_to_its_last_thinking_chunk():
    only = record(thinking_offsets=[0.25, 0.75], thinking_texts=["hm", "mm"], status="error")
    figures = race_figures("A", only)
    assert (figures.thinking_from_s, figures.thinking_to_s) == (0.25, 0.75)
    assert (figures.to_n_s, figures.answer_chars, figures.status) == (None, 0, "error")
    assert (figures.stall_s, figures.stall_from_s) == (0.5, 0.25)


def test_on_equal_offsets_thinking_comes_first_and_equal_gaps_give_the_first():
    tie = record([0.5, 1.0], ["ab", "cd"], thinking_offsets=[0.5], thinking_texts=["t"])
    assert [r[2] for r in rows(race_frame([record_track("A", tie)]))] == [
        "thinking", "answer", "answer"]
    even = record([0.25, 0.5, 0.75], ["a", "b", "c"])
    assert race_figures("A", even).stall_from_s == 0.25


def test_a_run_stopped_before_any_text_has_no_rows_and_no_figures():
    empty = record(status="stopped")
    frame = race_frame([record_track("A", empty), record_track("B", PLAIN)])
    assert set(frame.target) == {"B"} and list(frame.columns) == RACE_COLUMNS
    assert race_frame([record_track("A", empty)]).empty
    figures = race_figures("A", empty)
    assert (figures.status, figures.answer_chars, figures.answer_chunks) == ("stopped", 0, 0)
    assert (figures.to_n_s, figures.stall_s, figures.stall_from_s) == (None, None, None)
    one = race_figures("A", record([0.5], ["hello"], status="stopped"))
    assert (one.to_n_s, one.stall_s, one.answer_chars) == (None, None, 5)  # one chunk: no gap


def test_several_targets_keep_their_own_order_and_cumulative_counts():
    frame = race_frame([record_track("B", THINKER), record_track("A", PLAIN)])
    assert list(frame.target) == ["B"] * 5 + ["A"] * 4
    assert list(frame[frame.target == "A"].answer_chars) == [40, 80, 110, 120]
    assert list(frame[frame.target == "B"].answer_chars) == [0, 0, 0, 60, 110]


def comparison(*, blind: bool) -> Comparison:
    specs = [TargetSpec(ScriptedProvider(Script(("x",))), model, CHARS)
             for model in ("fast", "slow")]
    return Comparison("race", specs, SharedSettings(), blind=blind, rng=random.Random(1))


def test_the_shown_run_is_each_targets_last_counted_run_under_its_title():
    c = comparison(blind=False)
    a, b = c.targets
    first = record([0.5], ["first"])
    a.runs += [StoredRun(first), StoredRun(PLAIN)]
    b.runs.append(StoredRun(THINKER))
    assert shown_runs(c) == [("A · Scripted demo · fast", PLAIN),
                             ("B · Scripted demo · slow", THINKER)]
    b.runs.clear()  # a target with no run yet is left out
    assert [t for t, _ in shown_runs(c)] == ["A · Scripted demo · fast"]


def test_a_blind_comparison_races_under_its_labels_until_the_vote():
    c = comparison(blind=True)
    for target in c.targets:
        target.runs.append(StoredRun(PLAIN))
    assert [t for t, _ in shown_runs(c)] == ["A", "B"]
    assert set(race_frame([record_track(t, r) for t, r in shown_runs(c)]).target) == {"A", "B"}
    c.cast_vote("A")
    names = {t.label: t.settings.model for t in c.targets}
    assert [t for t, _ in shown_runs(c)] == [f"{label} · Scripted demo · {names[label]}"
                                            for label in ("A", "B")]


class GatedClock(VirtualClock):
    """The provider's sleeps move this clock, one at a time, when the test says ``step()``."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self._go = threading.Semaphore(0)

    def sleep(self, seconds: float) -> None:
        self._go.acquire()
        super().sleep(seconds)

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self._go.release()


def test_the_sampler_keeps_each_sample_of_a_live_pump_then_takes_its_record():
    clock = GatedClock()
    script = Script(("aaaa", "bb", "cccccc", "d"), reasoning_chunks=("hmm", "m"),
                    delays_s=(0.25, 0.25, 0.5, 0.25, 0.25, 0.5))
    pump = StreamPump(ScriptedProvider(script, sleep=clock.sleep), [Message("user", "go")],
                      Settings(model="scripted"), counter=CHARS, clock=clock).start()
    sampler = RaceSampler()
    try:
        assert sampler.track("A", pump).answer == ()  # nothing yet
        clock.step()  # thinking "hmm" at 0.25
        wait_for(lambda: pump.progress()[1] == 0.25, "the first thinking chunk")
        track = sampler.track("A", pump)
        assert (track.exact, track.status, track.answer) == (False, "running", ())
        assert track.answer_from_s is None
        assert track.thinking == ((0.25, 3),)
        assert (track.thinking_from_s, track.thinking_to_s) == (0.25, 0.25)
        clock.step(2)  # thinking "m" at 0.5, answer "aaaa" at 1.0
        wait_for(lambda: pump.arrivals()[2] == 1, "the first answer chunk")
        track = sampler.track("A", pump)
        assert track.answer == ((1.0, 4),) and track.thinking == ((0.25, 3),)
        assert (track.thinking_from_s, track.thinking_to_s) == (0.25, 1.0)
        assert track.answer_from_s == 1.0
        assert sampler.track("A", pump).answer == ((1.0, 4),)  # no new chunk: no new point
        clock.step(2)  # "bb" at 1.25 and "cccccc" at 1.5: seen together in one sample
        wait_for(lambda: pump.arrivals()[2] == 3, "the third answer chunk")
        assert sampler.track("A", pump).answer == ((1.0, 4), (1.5, 12))
        frame = race_frame([sampler.track("A", pump)])
        assert list(frame.answer_chars) == [0, 4, 12] and not frame.exact.any()
    finally:
        clock.step(10)
    done = pump.wait(10)
    assert done is not None
    exact = sampler.track("A", pump)
    assert exact == record_track("A", done) and exact.exact
    assert exact.answer == ((1.0, 4), (1.25, 6), (1.5, 12), (2.0, 13))


def test_live_tracks_are_the_current_counted_runs_without_warm_ups():
    c = comparison(blind=True)
    a, b = c.targets
    assert live_tracks(c, RaceSampler()) == []  # not started: no runs
    done = StreamPump(ScriptedProvider(Script(("hi",))), [Message("user", "go")],
                      Settings(model="scripted"), counter=CHARS).start()
    assert done.wait(10) is not None
    a.current = done
    b.current = b.warmup = done
    [track] = live_tracks(c, RaceSampler())
    assert track.target == "A" and track.exact and track.answer[-1][1] == 2
