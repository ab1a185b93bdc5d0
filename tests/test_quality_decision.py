"""The decision table (chatlib.quality.decision): its figures from runs and the price table,
constraints and rules read from words, and the pick named with its reasons, or the
statement that the data cannot separate the candidates."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from chatlib.quality.decision import (DEFAULT_RULE, DecisionTable, Quality, TargetFigures, decide,
                                      figures_from_records, parse_constraint, parse_rule)
from chatlib.quality.ratings import leaderboard
from chatlib.runs.pricing import Price, PriceTable, default_prices
from chatlib.runs.record import RunRecord, RunStatus
from tests.test_quality_ratings import battles

PRICES = PriceTable(date(2025, 6, 1), "USD", {
    ("openai", "big"): Price(input_per_m=2.0, output_per_m=8.0),
    ("openai", "small"): Price(input_per_m=0.1, output_per_m=0.4),
})


def rating(value: float, half: float = 50.0, n: int = 40) -> Quality:
    return Quality("rating", value, value - half, value + half, n)


def row(name: str, cost: float | None, p95: float | None = 0.5, quality: Quality | None = None,
        **kwargs) -> TargetFigures:
    values = {"runs": 20, "errors": 0, "ttft_p50_s": (p95 or 0.5) / 2, "ttft_p95_s": p95,
              "output_tps": 50.0, **kwargs}
    return TargetFigures(name, cost_per_reply=cost, quality=quality, **values)


CHEAP = row("cheap", 0.0002, p95=1.6, quality=rating(1010))
PRICEY = row("pricey", 0.0030, p95=0.6, quality=rating(1040))


def test_the_pick_changes_when_a_constraint_excludes_the_cheaper_target():
    free = decide([CHEAP, PRICEY])
    assert free.decision.pick == "cheap"
    assert free.decision.words.startswith("Pick cheap: cheapest: ≈ $0.0002")
    assert "within the best quality's interval (pricey 1040 [990–1090])" in free.decision.words

    bound = decide([CHEAP, PRICEY], ["p95 ttft <= 1s"])
    assert bound.decision.pick == "pricey"
    assert bound.decision.excluded == (
        ("cheap", "p95 TTFT 1.60 s fails p95 TTFT ≤ 1.00 s"),)
    assert "meets p95 TTFT ≤ 1.00 s" in bound.decision.words
    assert bound.constraints == ("p95 ttft <= 1s",) and bound.rule == DEFAULT_RULE
    shown = bound.frame().set_index("target")
    assert shown.loc["pricey", "decision"] == "pick"
    assert shown.loc["cheap", "decision"].startswith("out: p95 TTFT 1.60 s")


def test_a_cheaper_target_below_the_best_qualitys_interval_is_left_out():
    worse = row("worse", 0.0001, quality=rating(900, half=40))
    table = decide([worse, PRICEY])
    assert table.decision.pick == "pricey"
    assert table.decision.excluded == (
        ("worse", "quality 900 [860–940] is below the best's interval (pricey 1040 [990–1090])"),)
    # Asked for cheapest alone, quality does not enter.
    assert decide([worse, PRICEY], rule="cheapest").decision.pick == "worse"


def test_the_table_says_when_the_data_cannot_separate_the_candidates():
    a = row("local-a", 0.0, quality=rating(1010))
    b = row("local-b", 0.0, quality=rating(995))
    table = decide([a, b])
    assert table.decision.pick is None and not table.decision.separable
    assert table.decision.tied == ("local-a", "local-b")
    assert table.decision.words.startswith("The data cannot separate local-a and local-b: "
                                           "their quality intervals overlap")
    assert "cost per reply is the same" in table.decision.words
    assert set(table.frame()["decision"]) == {"cannot be separated"}
    # "best quality" alone cannot separate them either; a clear gap can.
    assert decide([a, b], rule="best quality").decision.tied == ("local-a", "local-b")
    clear = decide([row("x", 0.0, quality=rating(1200, 30)), b], rule="best quality")
    assert clear.decision.pick == "x" and "clears the next" in clear.decision.words


def test_nothing_meets_the_constraints():
    table = decide([CHEAP, PRICEY], ["p95 ttft < 100 ms"])
    assert table.decision.pick is None
    assert table.decision.words.startswith("No target meets every constraint (cheap: p95 TTFT")


def test_an_unknown_figure_does_not_meet_a_constraint():
    unknown = row("unknown", 0.0, p95=None, quality=rating(1040))
    table = decide([unknown, PRICEY], ["p95 ttft <= 1 s"])
    assert table.decision.pick == "pricey"
    assert table.decision.excluded == (
        ("unknown", "its p95 TTFT is unknown (needed: p95 TTFT ≤ 1.00 s)"),)


def record(model: str, input_tokens: int | None, output_tokens: int | None, ttft: float,
           status: RunStatus = "ok") -> RunRecord:
    offsets = [] if status != "ok" else [ttft, ttft + 0.5, ttft + 1.0]
    return RunRecord(provider="openai", model=model, settings={}, status=status,
                     created_at=0.0, chunk_offsets_s=offsets, chunk_texts=["a"] * len(offsets),
                     input_tokens=input_tokens, output_tokens=output_tokens,
                     error=None if status == "ok" else "boom")


def test_cost_per_thousand_replies_follows_the_price_table_and_token_counts():
    runs = [record("big", 400, 200, 0.2), record("big", 600, 300, 0.4),
            record("big", None, None, 0.1, status="error")]
    figures = figures_from_records("big", runs, prices=PRICES)
    # Mean tokens per finished reply: 500 in, 250 out, at $2 and $8 per million.
    assert (figures.input_tokens, figures.output_tokens) == (500, 250)
    assert figures.cost_per_reply == pytest.approx((500 * 2.0 + 250 * 8.0) / 1e6)
    assert figures.cost_per_1000 == pytest.approx(3.0)
    # Twice the tokens, twice the cost; the small model's price, its own cost.
    double = figures_from_records("big", [record("big", 1000, 500, 0.2)], prices=PRICES)
    assert double.cost_per_1000 == pytest.approx(6.0)
    small = figures_from_records("small", [record("small", 400, 200, 0.2),
                                           record("small", 600, 300, 0.4)], prices=PRICES)
    assert small.cost_per_1000 == pytest.approx(1000 * (500 * 0.1 + 250 * 0.4) / 1e6)
    # A model the table does not know has no cost, not a free one.
    assert figures_from_records("mystery", [record("mystery", 5, 5, 0.1)],
                                prices=PRICES).cost_per_reply is None
    # The rest of the row from the same runs.
    assert (figures.runs, figures.errors, figures.error_rate) == (3, 1, pytest.approx(1 / 3))
    assert figures.ttft_p50_s == pytest.approx(0.3)
    assert figures.ttft_p95_s == pytest.approx(float(np.percentile([0.2, 0.4], 95)))
    assert figures.output_tps == pytest.approx(np.median([200 / 1.2, 300 / 1.4]))
    # The shipped table by default.
    shipped = figures_from_records("big", runs[:1])
    assert shipped.currency == default_prices().currency


def test_constraints_are_read_from_words():
    cases = {
        "p95 ttft <= 1s": ("p95 TTFT", "≤", 1.0),
        "TTFT p50 < 300 ms": ("TTFT p50", "<", 0.3),
        "error rate <= 2%": ("error rate", "≤", 0.02),
        "tok/s >= 30": ("output tok/s", "≥", 30.0),
        "cost per 1,000 replies <= $2.50": ("cost per 1,000 replies", "≤", 2.5),
        "knee ≥ 16": ("load knee", "≥", 16.0),
        "pass rate > 90%": ("quality", ">", 0.9),
    }
    for text, (label, op, value) in cases.items():
        constraint = parse_constraint(text)
        assert (constraint.metric.label, constraint.op) == (label, op), text
        assert constraint.value == pytest.approx(value), text
    for bad in ("latency <= 1s", "p95 ttft <= 1%", "p95 ttft is fast"):
        with pytest.raises(ValueError):
            parse_constraint(bad)


def test_other_rules_and_weights():
    slow_cheap = row("slow", 0.001, p95=0.9, quality=rating(1030))
    fast_dear = row("fast", 0.004, p95=0.2, quality=rating(1040))
    assert decide([slow_cheap, fast_dear]).decision.pick == "slow"
    fastest = decide([slow_cheap, fast_dear], rule="fastest within the best quality's interval")
    assert fastest.decision.pick == "fast"
    assert fastest.decision.reasons[0].startswith("fastest (TTFT p50): 100 ms")
    assert parse_rule("Cheapest within the best quality’s interval").prefer == "cost"

    by_speed = decide([slow_cheap, fast_dear], rule="weights: p95 ttft 3, cost 1")
    assert by_speed.decision.pick == "fast"
    assert "highest weighted score (p95 TTFT ×3, cost per reply ×1)" in by_speed.decision.words
    by_cost = decide([slow_cheap, fast_dear], rule="weights: p95 ttft 1, cost 3, quality 1")
    assert by_cost.decision.pick == "slow"
    assert "the quality term" not in by_cost.decision.words  # quality counted against it
    # Picked on a quality difference inside the intervals: the table says so.
    by_quality = decide([slow_cheap, fast_dear], rule="weights: quality 3, cost 1")
    assert by_quality.decision.pick == "fast"
    assert by_quality.decision.words.endswith(
        "but its quality interval overlaps slow's (fast 1040 [990–1090], slow 1030 [980–1080]): "
        "the quality term rests on a difference the data do not show.")
    for bad in ("the nicest", "weights: vibes 2"):
        with pytest.raises(ValueError):
            parse_rule(bad)


def test_the_load_knee_can_decide():
    small = row("small", 0.001, quality=rating(1030), knee=8, knee_words="holds up to 8 streams")
    big = row("big", 0.003, quality=rating(1035), knee=32, knee_words="holds up to 32 streams")
    table = decide([small, big], ["knee >= 16"])
    assert table.decision.pick == "big"
    assert table.decision.excluded == (("small", "load knee 8 fails load knee ≥ 16"),)
    assert list(table.frame()["load knee"]) == ["holds up to 8 streams", "holds up to 32 streams"]


def test_quality_from_a_leaderboard_or_a_prompt_sets_checks():
    board = leaderboard(battles("m1", "m2", 30, 10))
    from_board = Quality.from_rating(board.rating("m1"))
    assert (from_board.kind, from_board.value, from_board.n) == ("rating",
                                                                 board.rating("m1").rating, 40)
    passed = Quality.from_checks(18, 20)
    assert passed.value == 0.9 and 0.68 < passed.low < 0.7 and 0.97 < passed.high < 0.98
    assert passed.words == "90% of 20 checks passed [70%–97%]"
    # Pass rates decide like ratings; a rating beside a pass rate is refused.
    table = decide([row("a", 0.001, quality=Quality.from_checks(10, 20)),
                    row("b", 0.002, quality=passed)], ["pass rate >= 80%"])
    assert table.decision.pick == "b"
    with pytest.raises(ValueError, match="different kinds"):
        decide([row("a", 0.001, quality=passed), row("b", 0.002, quality=from_board)])


def test_the_table_round_trips_through_json_and_markdown():
    table = decide([CHEAP, PRICEY], ["p95 ttft <= 1s"])
    data = json.loads(json.dumps(table.to_dict()))
    assert DecisionTable.from_dict(data) == table
    assert data["rows"][1]["cost_per_1000"] == pytest.approx(3.0)
    text = table.markdown()
    assert "| pricey | 1040 [990–1090] |" in text and "≈ $3.00" in text
    assert text.endswith(table.decision.words)
