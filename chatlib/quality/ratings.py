"""A leaderboard: Bradley–Terry ratings from pairwise battles, with bootstrap intervals.

As FastChat's ``elo_analysis.py``: the chance that model *i* beats model *j* is
``1 / (1 + 10 ** ((R_j - R_i) / 400))``, fitted by maximum likelihood over every battle (a
tie counts half a win to each side), on an Elo-like scale with the models' mean at 1000.
The 95 % interval of each rating is the 2.5th to 97.5th percentile of the ratings refitted on
``ROUNDS`` bootstrap resamples of the battles (seeded, so a board reads the same twice).

The fit is Newton's method on the log-strengths (numpy, no sklearn), with a weak prior: each
model is treated as having tied ``PRIOR_BATTLES`` battle(s) against an average model. Without
it a model that never won (common in a small bootstrap resample) would rate −∞; with dozens
of battles it moves a rating by a few points.

Battles come from two sources, labelled and used apart or together: blind votes on
comparisons (``battles_from_votes``: the run store's ``votes`` table; a vote for one label of
three or four is a win over each other label, a tie a tie between every two) and a judge's
counted verdicts (``battles_from_verdicts``: a disagreement between the two orders is a tie).

``separation(board, a, b)`` says whether two ratings are told apart (their intervals do not
overlap) and, when not, about how many more battles would: an interval narrows as 1/√n, so
n must grow until the two half-widths facing each other sum below the gap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from chatlib.quality.judge import PairVerdict
from chatlib.stats.summary import group_label

if TYPE_CHECKING:
    import pandas as pd

    from chatlib.store.runs import RunStore

__all__ = [
    "Source", "Winner", "Battle", "Rating", "Leaderboard", "Separation", "SOURCE_WORDS",
    "ROUNDS", "PRIOR_BATTLES", "INITIAL_RATING", "SCALE", "battles_from_votes",
    "battles_from_store", "battles_from_verdicts", "fit_ratings", "leaderboard", "separation",
]

Source = Literal["votes", "judge"]
Winner = Literal["a", "b", "tie"]
SOURCE_WORDS: dict[str, str] = {"votes": "blind votes", "judge": "judge verdicts"}

ROUNDS = 1000  # bootstrap resamples, as FastChat's leaderboard
PRIOR_BATTLES = 1.0  # each model's virtual tie with an average model (see the docstring)
INITIAL_RATING = 1000.0  # the models' mean rating
SCALE = 400.0  # 400 points = 10:1 odds, as Elo


@dataclass(frozen=True)
class Battle:
    """One pairwise outcome: ``a`` against ``b``, won by ``winner`` (a, b or tie), from
    ``source``; ``ref`` says where it came from (the comparison id, or the judged pair's)."""

    a: str
    b: str
    winner: Winner
    source: Source
    ref: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Battle:
        return cls(**data)


def battles_from_votes(votes: pd.DataFrame, *, blind_only: bool = True) -> list[Battle]:
    """Battles from the run store's votes (``RunStore.votes()``: ``comparison_id``,
    ``choice``, ``blind``, ``targets_json``). A vote for one label wins over each other label;
    a tie is a tie between every two labels. ``blind_only``: only votes cast before the names
    were shown. Two targets with the same provider and model have no battle between them."""
    battles: list[Battle] = []
    for row in votes.to_dict("records"):
        if blind_only and not bool(row["blind"]):
            continue
        targets = json.loads(row["targets_json"]) if row["targets_json"] else []
        names = {str(t["label"]): group_label(str(t["provider"]), str(t["model"]))
                 for t in targets}
        choice = str(row["choice"])
        labels = sorted(names)
        for i, first in enumerate(labels):
            for second in labels[i + 1:]:
                a, b = names[first], names[second]
                if a == b:
                    continue
                if choice == first:
                    winner: Winner = "a"
                elif choice == second:
                    winner = "b"
                elif choice in names:  # the vote went to a third target: no news on this pair
                    continue
                else:
                    winner = "tie"
                battles.append(Battle(a, b, winner, "votes", str(row["comparison_id"])))
    return battles


def battles_from_store(store: RunStore, *, blind_only: bool = True) -> list[Battle]:
    """``battles_from_votes`` over every vote in ``store`` (its owner's, when it has one)."""
    return battles_from_votes(store.votes(), blind_only=blind_only)


def battles_from_verdicts(verdicts: Iterable[PairVerdict]) -> list[Battle]:
    """A judge's counted verdicts as battles (a pair with a problem is left out)."""
    side: dict[str, Winner] = {"A": "a", "B": "b", "tie": "tie"}
    return [Battle(v.pair.a, v.pair.b, side[v.outcome], "judge",
                   v.pair.group_id or v.pair.a_run_id or "")
            for v in verdicts if v.outcome is not None and v.pair.a != v.pair.b]


def _fit(wins: np.ndarray, prior: float) -> np.ndarray:
    """Log-strengths (natural log) from ``wins[i, j]`` (i's wins over j, ties as halves),
    by Newton's method with the prior; centred on 0."""
    k = wins.shape[0]
    games = wins + wins.T
    theta = np.zeros(k)
    for _ in range(100):
        diff = theta[:, None] - theta[None, :]
        p = 1.0 / (1.0 + np.exp(-diff))
        p0 = 1.0 / (1.0 + np.exp(-theta))  # against the virtual average model
        grad = (wins - games * p).sum(axis=1) + prior * (0.5 - p0)
        w = games * p * (1.0 - p)
        hess = w.copy()
        np.fill_diagonal(hess, -(w.sum(axis=1) - np.diag(w)) - prior * p0 * (1.0 - p0))
        # Least squares: without a prior the ratings are free up to a shift (a singular
        # Hessian); the minimum-norm step leaves that shift alone.
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        largest = float(np.max(np.abs(step)))
        if largest > 2.0:  # far from the optimum a full step can overshoot
            step *= 2.0 / largest
        theta = theta - step
        if largest < 1e-9:
            break
    return theta - theta.mean()


def _to_scale(theta: np.ndarray) -> np.ndarray:
    return INITIAL_RATING + SCALE * theta / math.log(10.0)


def fit_ratings(battles: Sequence[Battle], *, prior: float = PRIOR_BATTLES) -> dict[str, float]:
    """Each model's Bradley–Terry rating (Elo-like scale, mean 1000) over ``battles``."""
    table = _WinTable(battles)
    return dict(zip(table.models, _to_scale(_fit(table.wins(), prior)).tolist()))


class _WinTable:
    """``battles`` as entries of a wins matrix (``wins[i, j]``: i's wins over j, a tie half
    a win each way), so a resample's matrix is one weighted sum over the battles."""

    def __init__(self, battles: Sequence[Battle]) -> None:
        self.models = sorted({m for b in battles for m in (b.a, b.b)})
        index = {m: i for i, m in enumerate(self.models)}
        rows: list[int] = []
        cols: list[int] = []
        shares: list[float] = []
        owners: list[int] = []
        for n, battle in enumerate(battles):
            i, j = index[battle.a], index[battle.b]
            entries = {"a": [(i, j, 1.0)], "b": [(j, i, 1.0)],
                       "tie": [(i, j, 0.5), (j, i, 0.5)]}[battle.winner]
            for row, col, share in entries:
                rows.append(row)
                cols.append(col)
                shares.append(share)
                owners.append(n)
        self._rows, self._cols = np.array(rows, dtype=int), np.array(cols, dtype=int)
        self._shares, self._owners = np.array(shares), np.array(owners, dtype=int)
        self._count = len(battles)

    def wins(self, weights: np.ndarray | None = None) -> np.ndarray:
        """The wins matrix, each battle counted ``weights[n]`` times (default once)."""
        k = len(self.models)
        weight = np.ones(self._count) if weights is None else weights
        wins = np.zeros((k, k))
        np.add.at(wins, (self._rows, self._cols), self._shares * weight[self._owners])
        return wins


@dataclass(frozen=True)
class Rating:
    """One model's rating with its 95 % bootstrap interval and record."""

    model: str
    rating: float
    low: float
    high: float
    battles: int
    wins: int
    losses: int
    ties: int

    @property
    def words(self) -> str:
        return f"{self.rating:.0f} [{self.low:.0f}–{self.high:.0f}]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rating:
        return cls(**data)


@dataclass(frozen=True)
class Leaderboard:
    """Ratings, best first, from ``battles`` battles of ``sources``, with intervals from
    ``rounds`` bootstrap resamples seeded with ``seed``."""

    ratings: tuple[Rating, ...]
    sources: tuple[str, ...]
    battles: int
    rounds: int
    seed: int

    @property
    def label(self) -> str:
        """What the board is built from, in words: "blind votes + judge verdicts"."""
        return " + ".join(SOURCE_WORDS.get(s, s) for s in self.sources) or "no battles"

    def rating(self, model: str) -> Rating:
        for rating in self.ratings:
            if rating.model == model:
                return rating
        raise KeyError(f"{model!r} has no battle on this leaderboard")

    def to_dict(self) -> dict[str, Any]:
        return {"ratings": [r.to_dict() for r in self.ratings], "sources": list(self.sources),
                "battles": self.battles, "rounds": self.rounds, "seed": self.seed,
                "label": self.label}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Leaderboard:
        return cls(tuple(Rating.from_dict(r) for r in data["ratings"]),
                   tuple(data["sources"]), int(data["battles"]), int(data["rounds"]),
                   int(data["seed"]))


def leaderboard(battles: Sequence[Battle], *, sources: Sequence[Source] = ("votes", "judge"),
                rounds: int = ROUNDS, seed: int = 0,
                prior: float = PRIOR_BATTLES) -> Leaderboard:
    """Ratings from the ``battles`` of ``sources`` (each source apart, or both together),
    with 95 % intervals from ``rounds`` bootstrap resamples of those battles."""
    kept = [b for b in battles if b.source in sources]
    used = tuple(s for s in sources if any(b.source == s for b in kept))
    if not kept:
        return Leaderboard((), used, 0, rounds, seed)
    # Battles of one kind (same pair, same winner) are one row with a count: a bootstrap
    # resample is then one multinomial draw over the kinds.
    kinds: dict[tuple[str, str, Winner], int] = {}
    for b in kept:
        kinds[(b.a, b.b, b.winner)] = kinds.get((b.a, b.b, b.winner), 0) + 1
    table = _WinTable([Battle(a, b, w, "votes") for a, b, w in kinds])
    counts = np.array(list(kinds.values()), dtype=float)
    models = table.models
    point = _to_scale(_fit(table.wins(counts), prior))
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(kept), counts / counts.sum(), size=rounds)
    samples = np.array([_to_scale(_fit(table.wins(draw.astype(float)), prior))
                        for draw in draws])
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    ratings = []
    for i, model in enumerate(models):
        mine = [b for b in kept if model in (b.a, b.b)]
        won = sum(1 for b in mine if (b.winner == "a") == (b.a == model) and b.winner != "tie")
        tied = sum(1 for b in mine if b.winner == "tie")
        ratings.append(Rating(model, float(point[i]), float(min(low[i], point[i])),
                              float(max(high[i], point[i])), len(mine), won,
                              len(mine) - won - tied, tied))
    ratings.sort(key=lambda r: -r.rating)
    return Leaderboard(tuple(ratings), used, len(kept), rounds, seed)


@dataclass(frozen=True)
class Separation:
    """Whether ``better`` and ``worse`` (by rating) are told apart, and if not, about how
    many more battles involving them would tell them apart (None: the ratings are equal, so
    no number of battles is expected to)."""

    better: str
    worse: str
    separated: bool
    gap: float
    more_battles: int | None
    words: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Separation:
        return cls(**data)


def separation(board: Leaderboard, a: str, b: str) -> Separation:
    """See ``Separation``. Each interval's half-width facing the other shrinks as 1/√n with
    that model's battles n; the estimate is the fewest more battles between the two after
    which those half-widths sum below the gap (rough: the intervals are themselves
    estimates)."""
    first, second = sorted((board.rating(a), board.rating(b)), key=lambda r: -r.rating)
    gap = first.rating - second.rating
    if first.low > second.high:
        words = (f"{first.model} ({first.words}) rates above {second.model} "
                 f"({second.words}): their 95 % intervals do not overlap.")
        return Separation(first.model, second.model, True, gap, 0, words)
    more = _more_battles(first.rating - first.low, max(first.battles, 1),
                         second.high - second.rating, max(second.battles, 1), gap)
    words = (f"Not enough battles to separate {first.model} ({first.words}) and "
             f"{second.model} ({second.words}): their 95 % intervals overlap. ")
    words += (f"About {more} more battles between them would." if more is not None else
              "Their ratings are equal, so more battles may never separate them.")
    return Separation(first.model, second.model, False, gap, more, words)


def _more_battles(half_a: float, n_a: int, half_b: float, n_b: int, gap: float) -> int | None:
    """The fewest m with half_a·√(n_a/(n_a+m)) + half_b·√(n_b/(n_b+m)) < gap."""
    if gap <= 0:
        return None

    def facing(m: int) -> float:
        return half_a * math.sqrt(n_a / (n_a + m)) + half_b * math.sqrt(n_b / (n_b + m))

    high = 1
    while facing(high) >= gap:
        high *= 2
        if high > 10**12:
            return None
    low = 0  # facing(low) >= gap (the intervals overlap now), facing(high) < gap
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if facing(middle) >= gap else (low, middle)
    return high
