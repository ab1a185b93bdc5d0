"""Bradley–Terry ratings (chatlib.quality.ratings): the known order of a hand-made tournament,
the exact maximum-likelihood gap where it is known, ties as half wins, intervals that narrow
as battles grow, separation and its estimate of how many more battles, and the two sources
(blind votes from the run store, judge verdicts) apart or together."""

from __future__ import annotations

import json
import math

import pytest

from chatlib.core.types import Settings
from chatlib.quality.judge import AnswerPair, Judge, JudgeProblem, JudgeReading, PairVerdict
from chatlib.quality.ratings import (Battle, Leaderboard, Source, Winner, battles_from_store,
                                     battles_from_verdicts, battles_from_votes, fit_ratings,
                                     leaderboard, separation)
from tests.test_quality_judge import PAIRS, PromptReadingJudge, prefers_bananas


def battles(a: str, b: str, a_wins: int, b_wins: int, ties: int = 0,
            source: Source = "votes") -> list[Battle]:
    return ([Battle(a, b, "a", source)] * a_wins + [Battle(a, b, "b", source)] * b_wins
            + [Battle(a, b, "tie", source)] * ties)


def tournament(k: int = 1) -> list[Battle]:
    """m1 > m2 > m3 > m4: each beats the next 3 times in 4 and the others every time;
    ``k`` times over."""
    return (battles("m1", "m2", 3 * k, k) + battles("m3", "m2", k, 3 * k)
            + battles("m3", "m4", 3 * k, k) + battles("m1", "m3", 4 * k, 0)
            + battles("m4", "m2", 0, 4 * k) + battles("m1", "m4", 4 * k, 0))


def width(board: Leaderboard, model: str) -> float:
    rating = board.rating(model)
    return rating.high - rating.low


def test_a_hand_made_tournament_recovers_the_known_order():
    board = leaderboard(tournament())
    assert [r.model for r in board.ratings] == ["m1", "m2", "m3", "m4"]
    assert [(r.battles, r.wins, r.losses, r.ties) for r in board.ratings] == [
        (12, 11, 1, 0), (12, 8, 4, 0), (12, 4, 8, 0), (12, 1, 11, 0)]
    assert sum(r.rating for r in board.ratings) / 4 == pytest.approx(1000)
    # Written in any order (a as winner or as loser), the fit is the same.
    flipped: dict[Winner, Winner] = {"a": "b", "b": "a", "tie": "tie"}
    swapped = [Battle(b.b, b.a, flipped[b.winner], b.source) for b in tournament()]
    assert fit_ratings(swapped) == pytest.approx(fit_ratings(tournament()))


def test_the_fit_is_the_maximum_likelihood_on_an_elo_scale():
    # Without the prior, 3 wins in 4 is odds of 3:1, which the Elo scale puts 400·log10(3)
    # points apart: the known answer of the logistic regression FastChat runs.
    ratings = fit_ratings(battles("A", "B", 3, 1), prior=0.0)
    assert ratings["A"] - ratings["B"] == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert ratings["A"] + ratings["B"] == pytest.approx(2000)
    # The weak prior pulls toward the mean, a little, and keeps a model that never won finite.
    shrunk = fit_ratings(battles("A", "B", 3, 1))
    assert 0 < shrunk["A"] - shrunk["B"] < ratings["A"] - ratings["B"]
    unbeaten = fit_ratings(battles("A", "B", 10, 0))
    assert math.isfinite(unbeaten["B"]) and unbeaten["A"] - unbeaten["B"] > 400


def test_ties_count_as_half_a_win_each():
    # 2 wins, 1 loss and 2 ties is 3 of 5: odds 3:2.
    ratings = fit_ratings(battles("A", "B", 2, 1, ties=2), prior=0.0)
    assert ratings["A"] - ratings["B"] == pytest.approx(400 * math.log10(1.5), abs=1e-6)
    assert fit_ratings(battles("A", "B", 3, 3), prior=0.0) == pytest.approx(
        fit_ratings(battles("A", "B", 0, 0, ties=6), prior=0.0))
    board = leaderboard(battles("A", "B", 0, 0, ties=20))
    a, b = board.rating("A"), board.rating("B")
    assert a.rating == pytest.approx(1000) and b.rating == pytest.approx(1000)
    assert (a.ties, a.wins, a.losses) == (20, 0, 0)
    assert not separation(board, "A", "B").separated
    assert separation(board, "A", "B").more_battles is None  # equal: no number would do


def test_intervals_narrow_as_battles_grow():
    boards = [leaderboard(tournament(k)) for k in (1, 4, 16)]
    for model in ("m1", "m2", "m3", "m4"):
        widths = [width(board, model) for board in boards]
        assert widths[0] > widths[1] > widths[2], (model, widths)
    # Four times the battles, about half the width (1/√n); the prior's pull fades meanwhile.
    ratio = width(boards[2], "m2") / width(boards[1], "m2")
    assert 0.35 < ratio < 0.7
    # Each interval holds its rating, and the ratings are the same fit.
    for board in boards:
        assert all(r.low <= r.rating <= r.high for r in board.ratings)


def test_the_bootstrap_is_seeded_and_has_a_thousand_rounds():
    first, again = leaderboard(tournament()), leaderboard(tournament())
    assert first == again and first.rounds == 1000
    other = leaderboard(tournament(), seed=7)
    assert other.ratings[0].rating == first.ratings[0].rating
    assert other.ratings[0].low != first.ratings[0].low


def test_separation_says_when_and_roughly_how_many_more_battles():
    small = leaderboard(tournament())
    verdict = separation(small, "m3", "m2")
    assert (verdict.better, verdict.worse, verdict.separated) == ("m2", "m3", False)
    assert verdict.more_battles is not None and verdict.more_battles > 0
    assert verdict.words.startswith("Not enough battles to separate m2")
    assert f"About {verdict.more_battles} more battles" in verdict.words
    # Grown by that many battles twice over (the same results, more of them), they separate:
    # the estimate is rough (intervals narrow as 1/√n only once the prior has faded), not wild.
    k = math.ceil((12 + 2 * verdict.more_battles) / 12)
    grown = separation(leaderboard(tournament(k)), "m2", "m3")
    assert grown.separated and grown.more_battles == 0
    assert "do not overlap" in grown.words
    # Far apart at once; closer together, more battles needed.
    assert separation(small, "m1", "m4").separated
    close = leaderboard(battles("x", "y", 3, 2) + battles("y", "z", 3, 2)
                        + battles("x", "z", 4, 1))
    near, far = separation(close, "x", "y"), separation(close, "x", "z")
    assert not near.separated and not far.separated
    assert near.more_battles is not None and far.more_battles is not None
    assert near.more_battles > far.more_battles > 0


def test_blind_votes_come_from_the_run_store(store):
    def targets(*models: str) -> list[dict]:
        return [{"label": label, "provider": "p", "model": model, "run_ids": []}
                for label, model in zip("ABC", models)]

    store.add_vote("c1", "B", blind=True, prompt="q", targets=targets("x", "y"), created_at=1)
    store.add_vote("c2", "tie", blind=True, prompt="q", targets=targets("x", "y", "z"),
                   created_at=2)
    store.add_vote("c3", "A", blind=True, prompt="q", targets=targets("x", "y", "z"),
                   created_at=3)
    store.add_vote("c4", "A", blind=False, prompt="q", targets=targets("x", "y"), created_at=4)

    found = [(b.a, b.b, b.winner, b.ref) for b in battles_from_store(store)]
    assert found == [
        ("p · x", "p · y", "b", "c1"),
        ("p · x", "p · y", "tie", "c2"), ("p · x", "p · z", "tie", "c2"),
        ("p · y", "p · z", "tie", "c2"),
        # A vote for A of three: A beat B and C; nothing is said of B against C.
        ("p · x", "p · y", "a", "c3"), ("p · x", "p · z", "a", "c3"),
    ]
    assert all(b.source == "votes" for b in battles_from_store(store))
    assert len(battles_from_votes(store.votes(), blind_only=False)) == 7


def test_sources_are_labelled_and_used_apart_or_together():
    report = Judge(PromptReadingJudge(prefers_bananas), Settings("reader-1")).compare_all(PAIRS)
    judged = battles_from_verdicts(report.verdicts)
    votes = battles("p · a-model", "p · b-model", 4, 0)
    every = votes + judged

    by_votes = leaderboard(every, sources=("votes",))
    by_judge = leaderboard(every, sources=("judge",))
    together = leaderboard(every)
    assert (by_votes.label, by_votes.battles) == ("blind votes", 4)
    assert (by_judge.label, by_judge.battles) == ("judge verdicts", 3)
    assert (together.label, together.battles) == ("blind votes + judge verdicts", 7)
    assert by_votes.ratings[0].model == "p · a-model"  # the voters liked A
    assert by_judge.ratings[0].model == "p · b-model"  # the judge liked B's bananas
    assert leaderboard(votes, sources=("judge",)).ratings == ()

    data = json.loads(json.dumps(together.to_dict()))
    assert Leaderboard.from_dict(data) == together and data["label"] == together.label


def test_a_judges_uncounted_pairs_make_no_battle():
    pair = AnswerPair("q", "x", "y", "a", "b")
    ok = JudgeReading("AB", "VERDICT: first", "first", None, "r1")
    bad = JudgeReading("BA", "hm", None, JudgeProblem("off_format", "no line"), "r2")
    assert battles_from_verdicts([PairVerdict(pair, "j", "r", (ok, bad))]) == []
