"""Verdicts a person can act on, from a comparison's repeated runs.

For each pair of targets and each headline figure (TTFT; TTFAT when a target thinks; output
tokens/s; E2E; cost), the difference of the two medians over **paired** runs, with a 95 %
interval from a paired bootstrap, said in plain words: "B's first token comes 180 ms sooner
(95 % CI 120–240 ms, 20 paired runs)". Run k of A is paired with run k of B: the lanes start
every round together (``chatlib.compare.comparison``), so both met the same moment of the
network and the machine. The bootstrap resamples rounds (both runs of a round together, 2,000 times,
seeded: the same runs always give the same interval) and takes the 2.5th and 97.5th
percentiles of the resampled difference of medians.

An interval that straddles zero is inconclusive; how many more paired runs would likely
settle it is estimated from the interval's width shrinking as 1/√n: n·(half width /
difference)² in all, minus the runs already made.

Runs can be flagged (``run_flags``): the cold first run (no warm-up), a retried request, a
prompt-cache hit, an answer cut by the token limit, an estimated token count, hidden
reasoning. A pair with a flagged run is left out of a verdict unless the user keeps that
flag in; failed and stopped runs are always left out.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from chatlib.core.text import count_of
from chatlib.compare.comparison import Comparison, Target
from chatlib.core.tables import format_cost
from chatlib.runs.distributions import MIN_FOR_INTERVAL, too_few_for_interval
from chatlib.runs.figures import RunFigures, run_figures
from chatlib.runs.record import RunRecord

__all__ = ["FLAGS", "Figure", "FIGURES", "Verdict", "run_flags", "flag_table", "paired_verdict",
           "paired_rounds", "verdicts", "MIN_PAIRS"]

# flag -> what the page says of it
FLAGS = {
    "cold": "cold first run (no warm-up)",
    "retried": "retried request",
    "cached": "prompt-cache hit",
    "length": "cut by the token limit",
    "estimated": "estimated token count",
    "hidden reasoning": "hidden reasoning",
}
MIN_PAIRS = MIN_FOR_INTERVAL  # the same minimum as the Stats page's (its docstring)
_RESAMPLES = 2000
_MAX_MORE = 1000  # beyond this, "many more runs" is all that can honestly be said


@dataclass(frozen=True)
class Figure:
    key: str
    noun: str  # "first token": in "no clear difference in first token"
    lower_is_better: bool
    field: str  # the ``RunFigures`` field compared (seconds, tok/s, cost)
    unit: str  # of the field, and so of a verdict's advantage and interval
    describe: Callable[[str, float], str]  # (winner, advantage) -> "A's first token comes..."
    amount: Callable[[float], str]  # a magnitude with its unit, for a person

    def value(self, figures: RunFigures) -> float | None:
        """This figure of one run."""
        value: float | None = getattr(figures, self.field)
        return value


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _tps(value: float) -> str:
    return f"{value:.1f} tok/s"


def _cost(value: float) -> str:
    sign = "-" if value < 0 else ""
    return sign + (format_cost(abs(value)) or "?").removeprefix("≈ ")


FIGURES: tuple[Figure, ...] = (
    Figure("ttft", "first token", True, "ttft_s", "s",
           lambda w, a: f"{w}'s first token comes {_ms(a)} sooner", _ms),
    Figure("ttfat", "first answer token", True, "ttfat_s", "s",
           lambda w, a: f"{w}'s first answer token comes {_ms(a)} sooner", _ms),
    Figure("tps", "output speed", False, "output_tps", "tok/s",
           lambda w, a: f"{w} streams {_tps(a)} faster", _tps),
    Figure("e2e", "time to the whole answer", True, "e2e_s", "s",
           lambda w, a: f"{w}'s whole answer arrives {_ms(a)} sooner", _ms),
    Figure("cost", "cost per answer", True, "cost", "currency",
           lambda w, a: f"{w}'s answer costs {_cost(a)} less", _cost),
)


@dataclass(frozen=True)
class Verdict:
    figure: Figure
    first: str  # the pair, as the page titles them
    second: str
    pairs: int  # paired runs behind it
    winner: str | None  # None: too few pairs, or exactly equal
    advantage: float | None  # the winner's edge, in the figure's unit (seconds, tok/s, $)
    low: float | None  # its 95 % interval (low > 0: conclusive)
    high: float | None
    more_runs: int | None  # inconclusive: about how many more paired runs would settle it

    @property
    def conclusive(self) -> bool:
        return self.low is not None and self.low > 0

    @property
    def words(self) -> str:
        f = self.figure
        if self.advantage is None or self.low is None or self.high is None:
            return (f"{f.noun.capitalize()}, {self.first} vs {self.second}: "
                    f"{count_of(self.pairs, 'paired run')}, "
                    f"{too_few_for_interval('paired runs')}.")
        interval = f"95 % CI {f.amount(self.low)} to {f.amount(self.high)}".replace(
            "-", "−")
        if self.conclusive and self.winner is not None:
            return (f"{f.describe(self.winner, self.advantage)} ({interval}, "
                    f"{count_of(self.pairs, 'paired run')}).")
        if self.winner is None:
            lead = f"No difference in {f.noun} between {self.first} and {self.second}"
        else:
            lead = (f"No clear difference in {f.noun} yet: "
                    f"{f.describe(self.winner, self.advantage)}, but the 95 % interval also "
                    "includes no difference at all, so this is not settled")
        more = ("" if self.more_runs is None else
                f"; about {self.more_runs} more paired runs would likely settle it"
                if self.more_runs < _MAX_MORE else "; it would take many more runs to tell")
        return f"{lead} ({interval}, {count_of(self.pairs, 'paired run')}){more}."


def run_flags(record: RunRecord, *, cold: bool) -> frozenset[str]:
    """The validity flags of one run (``cold``: it was its target's first, unwarmed run)."""
    flags = set()
    if cold:
        flags.add("cold")
    if record.attempts > 1:
        flags.add("retried")
    if record.cached_input_tokens:
        flags.add("cached")
    if record.finish_reason in ("length", "max_tokens"):
        flags.add("length")
    if "estimate" in (record.output_source, record.reasoning_source):
        flags.add("estimated")
    if record.reasoning_hidden:
        flags.add("hidden reasoning")
    return frozenset(flags)


def _target_flags(comparison: Comparison, target: Target) -> list[frozenset[str] | None]:
    """Each counted run's flags, in round order (``None``: still running)."""
    out: list[frozenset[str] | None] = []
    for i, run in enumerate(target.runs):
        record = run.record
        out.append(None if record is None else
                   run_flags(record, cold=i == 0 and not comparison.use_warmup))
    return out


def flag_table(comparison: Comparison) -> pd.DataFrame:
    """One row per counted run: target, run, status and one column per flag."""
    rows = []
    for target in comparison.targets:
        for i, (run, flags) in enumerate(zip(target.runs, _target_flags(comparison, target)), 1):
            if run.record is None or flags is None:
                continue
            row = {"target": comparison.title(target), "run": i, "status": run.record.status}
            row.update({name: name in flags for name in FLAGS})
            rows.append(row)
    return pd.DataFrame(rows, columns=["target", "run", "status", *FLAGS])


def paired_verdict(figure: Figure, first: str, second: str, a: Sequence[float],
                   b: Sequence[float], *, seed: int = 0) -> Verdict:
    """The verdict on ``a`` (first's values) against ``b`` (second's), paired by index."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = int(x.size)
    if n != y.size:
        raise ValueError("paired values come in pairs")
    if n < MIN_PAIRS:
        return Verdict(figure, first, second, n, None, None, None, None, MIN_PAIRS - n)
    diff = float(np.median(y) - np.median(x))  # second − first
    rounds = np.random.default_rng(seed).integers(0, n, size=(_RESAMPLES, n))
    resampled = np.median(y[rounds], axis=1) - np.median(x[rounds], axis=1)
    lo, hi = (float(v) for v in np.percentile(resampled, [2.5, 97.5]))
    # The first's edge: positive when the first is better on this figure.
    edge, edge_lo, edge_hi = (diff, lo, hi) if figure.lower_is_better else (-diff, -hi, -lo)
    if edge > 0:
        winner, advantage, low, high = first, edge, edge_lo, edge_hi
    elif edge < 0:
        winner, advantage, low, high = second, -edge, -edge_hi, -edge_lo
    else:
        winner, advantage, low, high = None, 0.0, edge_lo, edge_hi
    more = None
    if not low > 0 and advantage > 0:
        half = (high - low) / 2
        more = max(1, math.ceil(n * (half / advantage) ** 2) - n)
    return Verdict(figure, first, second, n, winner, advantage, low, high, more)


def paired_rounds(comparison: Comparison, a: Target, b: Target,
                  keep: Collection[str] = ()) -> list[tuple[RunFigures, RunFigures]]:
    """The rounds a verdict between ``a`` and ``b`` rests on: run k of each, both finished,
    neither with a flag outside ``keep``; each run's figures."""
    rounds = []
    for run_a, run_b, flags_a, flags_b in zip(a.runs, b.runs, _target_flags(comparison, a),
                                              _target_flags(comparison, b)):
        ra, rb = run_a.record, run_b.record
        if ra is None or rb is None or flags_a is None or flags_b is None:
            continue
        if ra.status != "ok" or rb.status != "ok" or (flags_a | flags_b) - set(keep):
            continue
        rounds.append((run_figures(ra), run_figures(rb)))
    return rounds


def verdicts(comparison: Comparison, keep: Collection[str] = (), *,
             seed: int = 0) -> list[Verdict]:
    """Every pair of targets × every headline figure that applies (TTFAT only when some run
    thought; cost only when both have prices and one is not free), over the rounds where
    both runs finished and neither has a flag outside ``keep``."""
    thought = any(r.reasoning_offsets_s or r.reasoning_hidden
                  for t in comparison.targets for r in t.records)
    figures = [f for f in FIGURES if f.key != "ttfat" or thought]
    out = []
    for a, b in itertools.combinations(comparison.targets, 2):
        rounds = paired_rounds(comparison, a, b, keep)
        for figure in figures:
            values = [(figure.value(ra), figure.value(rb)) for ra, rb in rounds]
            pairs = [(x, y) for x, y in values if x is not None and y is not None]
            if figure.key == "cost" and not any(x or y for x, y in pairs):
                # No price for one of them, or both free: no cost verdict (rather than "too
                # few", or "costs $0 less").
                continue
            out.append(paired_verdict(figure, comparison.title(a), comparison.title(b),
                                      [x for x, _ in pairs], [y for _, y in pairs], seed=seed))
    return out
