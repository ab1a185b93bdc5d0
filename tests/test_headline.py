"""The one-line result of a comparison (``chatlib.compare.headline.result_line``), on real
comparisons of scripted models on the test's clock: a winner is named only where the
analysis's verdict is conclusive, its figures are those the verdicts rest on, nothing
conclusive says how many more runs would settle it, one run each says it cannot tell, three
targets name the best on each figure, and a free model never gets a cost clause."""

from __future__ import annotations

import itertools

import pytest

from chatlib.compare import headline
from chatlib.compare.analysis import MIN_PAIRS, verdicts
from chatlib.compare.comparison import Comparison, SharedSettings, TargetSpec
from chatlib.compare.comparisons import Comparisons
from chatlib.compare.headline import result_line
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.store import ComparisonStore, RunStore
from tests.clocks import HANG_GUARD_S, ThreadClock
from tests.test_report_html import CHARS, PricedScripted, run_demo

ANSWER = "Paris is the capital of France. " * 4


class Jittered(ScriptedProvider):
    """A scripted stream whose first chunk waits the next of ``first_delays_s`` on each
    request: runs that differ from one to the next, as a network's do."""

    def __init__(self, first_delays_s: list[float], **kwargs) -> None:
        super().__init__(Script.from_text(ANSWER, 8), **kwargs)
        self._delays = itertools.cycle(first_delays_s)

    def stream(self, messages, settings):
        self._script = Script.from_text(ANSWER, 8, first_delay_s=next(self._delays),
                                        gap_s=0.01)
        return super().stream(messages, settings)


def start(store: RunStore, clock: ThreadClock, targets: list[TargetSpec], *,
          repeat: int = 6) -> Comparison:
    comparison = Comparisons(ComparisonStore(store)).start(
        "Which city?", targets, SharedSettings(max_tokens=500), repeat=repeat, warmup=True,
        clock=clock)
    assert comparison.wait(HANG_GUARD_S)
    return comparison


def test_two_targets_the_winner_with_the_figures_its_verdicts_rest_on(store):
    comparison = run_demo(store, ["demo-markdown", "demo-fast"])
    line = result_line(comparison)
    fast = "B · Scripted demo · demo-fast"
    assert line.startswith(f"{fast}: first token 100 ms sooner, ")
    judged = verdicts(comparison)
    assert all(v.conclusive and v.winner == fast for v in judged)
    e2e = next(v for v in judged if v.figure.key == "e2e")
    assert f"whole answer {e2e.advantage:.1f} s sooner" in line
    assert line.endswith(f"; {judged[0].pairs} paired runs.") and judged[0].pairs >= MIN_PAIRS
    assert "cost" not in line  # both free


def test_the_ratios_are_of_the_medians_over_the_verdicts_paired_runs(store):
    clock = ThreadClock()
    # Both priced (as gpt-4o-mini): the short answer costs less per run.
    long = Script.from_text(ANSWER * 3, 6, first_delay_s=0.2, gap_s=0.01)
    short = Script.from_text(ANSWER, 6, first_delay_s=0.05, gap_s=0.02)
    comparison = start(store, clock, [
        TargetSpec(PricedScripted(long, sleep=clock.sleep), "gpt-4o-mini", CHARS),
        TargetSpec(PricedScripted(short, sleep=clock.sleep), "gpt-4o-mini", CHARS)])
    line = result_line(comparison)
    a, b = (comparison.title(t) for t in comparison.targets)
    figures = {v.figure.key: v for v in verdicts(comparison)}
    for key, v in figures.items():  # the medians the ratios use are the verdicts' own
        first, second = headline._paired_medians(comparison, v.figure, a, b, ())
        assert abs(second - first) == pytest.approx(v.advantage)
    cost_a, cost_b = headline._paired_medians(comparison, figures["cost"].figure, a, b, ())
    assert figures["cost"].conclusive and figures["cost"].winner == b
    assert f"at {cost_b / cost_a * 100:.0f} % of the cost" in line
    # A streams more tok/s (a long answer at a 10 ms gap), B answers first and is cheaper.
    tps_a, tps_b = headline._paired_medians(comparison, figures["tps"].figure, a, b, ())
    assert f"{a}: {tps_a / tps_b:.1f}× the tok/s" in line
    assert f"{b}: first token 150 ms sooner" in line


def test_nothing_conclusive_says_so_and_how_many_more_runs_would_settle_it(store):
    clock = ThreadClock()
    comparison = start(store, clock, [
        TargetSpec(Jittered([0.10, 0.30, 0.12, 0.28, 0.15, 0.25, 0.2], sleep=clock.sleep),
                   "a", CHARS),
        TargetSpec(Jittered([0.27, 0.11, 0.29, 0.16, 0.24, 0.13, 0.2], sleep=clock.sleep),
                   "b", CHARS)])
    judged = verdicts(comparison)
    assert judged and not any(v.conclusive for v in judged)
    line = result_line(comparison)
    assert line.startswith(f"No clear winner after {judged[0].pairs} paired runs: no figure "
                           "differs beyond the run-to-run noise")
    near = min((v for v in judged if v.more_runs is not None), key=lambda v: v.more_runs or 0)
    assert (f"about {near.more_runs} more paired runs would likely settle {near.figure.noun}"
            in line)
    assert "sooner" not in line and "×" not in line


def test_too_few_paired_runs_names_no_winner_and_says_how_many_runs_give_one(store):
    comparison = run_demo(store, ["demo-fast", "demo-markdown"], repeat=3)
    line = result_line(comparison)
    assert line.startswith(f"Too few paired runs to name a winner: 3, where a verdict needs "
                           f"{MIN_PAIRS}; {MIN_PAIRS} runs per target give one.")
    assert "first token 50 ms" in line and "first token 150 ms" in line
    assert "sooner" not in line


def test_three_targets_name_the_best_on_each_figure_where_it_is_clear(store):
    comparison = run_demo(store, ["demo-markdown", "demo-thinking", "demo-fast"])
    line = result_line(comparison)
    fast = "C · Scripted demo · demo-fast"
    # demo-fast beats both others on every figure; the edge is over the next best
    # (demo-thinking's first token at 100 ms, demo-markdown's at 150 ms).
    assert line.startswith(f"Best of 3 where it is clear — {fast}: first token 50 ms sooner, ")
    assert "(each against the next best)" in line and "paired runs per pair." in line
    assert line.count("·") == 2  # one target named: the other two win nothing outright
    assert "cost" not in line


def test_one_run_each_and_one_target(store):
    comparison = run_demo(store, ["demo-fast", "demo-markdown"], repeat=1)
    line = result_line(comparison)
    assert line.startswith(f"One run each cannot separate them: {MIN_PAIRS} runs per target "
                           "give a verdict. A · Scripted demo · demo-fast: first token 50 ms, ")
    single = run_demo(store, ["demo-fast"], repeat=1)
    assert result_line(single).startswith("One target, nothing to compare: A · Scripted demo "
                                          "· demo-fast: first token 50 ms, ")


def test_a_priced_run_alone_shows_its_cost_and_a_free_one_none(store):
    clock = ThreadClock()
    script = Script.from_text(ANSWER, 8, first_delay_s=0.05, gap_s=0.01)
    comparison = Comparisons(ComparisonStore(store)).start(
        "x", [TargetSpec(PricedScripted(script, sleep=clock.sleep), "gpt-4o-mini", CHARS),
              TargetSpec(ScriptedProvider(script, sleep=clock.sleep), "free", CHARS)],
        SharedSettings(max_tokens=500), clock=clock)
    assert comparison.wait(HANG_GUARD_S)
    first, second = result_line(comparison).split(". ", 1)[1].split("; ")
    assert "per answer" in first and "$" in first
    assert "per answer" not in second and "$" not in second


def test_the_public_names():
    assert headline.__all__ == ["result_line"]


def test_enough_runs_with_flagged_ones_left_out_says_so_instead_of_asking_for_more(store):
    """Runs cut by the token limit are flagged and left out of the verdicts: with the runs a
    verdict needs asked for, the line points at the flags, not at running the same again."""
    clock = ThreadClock()
    cut = ScriptedProvider(Script.from_text(ANSWER, 8, first_delay_s=0.05, gap_s=0.01,
                                            finish_reason="length"), sleep=clock.sleep)
    whole = ScriptedProvider(Script.from_text(ANSWER, 8, first_delay_s=0.05, gap_s=0.01),
                             sleep=clock.sleep)
    comparison = start(store, clock, [TargetSpec(cut, "scripted", _counter()),
                                      TargetSpec(whole, "scripted", _counter())],
                       repeat=MIN_PAIRS)
    line = result_line(comparison)
    assert line.startswith(f"Too few paired runs to name a winner: 0, where a verdict needs "
                           f"{MIN_PAIRS}; {MIN_PAIRS} flagged runs were left out (see Details")
    assert "runs per target give one" not in line


def _counter():
    from chatlib.core.tokens import counter_for

    return counter_for("scripted", "scripted")
