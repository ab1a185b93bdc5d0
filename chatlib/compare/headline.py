"""A comparison's result in one or two plain sentences: who won, and why.

``result_line(comparison)`` reads the verdicts of ``chatlib.compare.analysis`` (difference
of medians over paired runs, 95 % bootstrap interval) and names a winner only where a
verdict is conclusive:

- two targets: each winner with its figures, "B · …: first token 96 ms sooner, 2.1× the
  tok/s, at 40 % of the cost; 12 paired runs.", then the figures still open in words;
- three or four: the best target on each figure, where it beats every other conclusively,
  with its edge over the next best;
- nothing conclusive: said so, with about how many more paired runs would likely settle
  the closest figure (the analysis's estimate);
- one run each (or too few pairs for an interval): said plainly that they cannot be told
  apart yet, with each target's figures side by side and the runs a verdict needs.

A ratio ("2.1× the tok/s", "at 40 % of the cost") is of the two medians over the same paired
runs the verdict used. There is no cost clause when both are free or unpriced (the analysis
gives no cost verdict then). The text is plain: no Markdown, no HTML; the report escapes it,
the Compare page and presentation mode show it as they like.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Sequence

from chatlib.compare.analysis import FIGURES, MIN_PAIRS, Figure, Verdict, paired_rounds, verdicts
from chatlib.compare.comparison import Comparison
from chatlib.core.tables import format_cost
from chatlib.core.text import count_of
from chatlib.runs.figures import run_figures
from chatlib.runs.pricing import default_prices

__all__ = ["result_line"]

_MANY = 1000  # as the analysis: past this, "many more runs" is all that can honestly be said


def result_line(comparison: Comparison, keep: Collection[str] = ()) -> str:
    """Who won ``comparison`` and why, in one or two sentences of plain text (see the module
    docstring). ``keep``: the run flags kept in the verdicts, as on the Compare page."""
    targets = comparison.targets
    if len(targets) < 2:
        return ("One target, nothing to compare: "
                + "; ".join(_side_by_side(comparison)) + ".")
    if comparison.repeat < 2:
        return (f"One run each cannot separate them: {_runs_needed(comparison)} give a "
                f"verdict. {'; '.join(_side_by_side(comparison))}.")
    found = verdicts(comparison, keep)
    judged = [v for v in found if v.low is not None]
    if not judged:
        pairs = min((v.pairs for v in found), default=0)
        counted = comparison.repeat - (0 if comparison.use_warmup else 1)
        more = (f"{_runs_needed(comparison)} give one" if counted < MIN_PAIRS else
                # Enough runs were asked for: flagged ones (cut by the token limit, retried,
                # a cache hit...) were left out. Details lists them and can keep them in.
                f"{comparison.repeat - pairs - (0 if comparison.use_warmup else 1)} flagged "
                "runs were left out (see Details, where they can be kept in)")
        return (f"Too few paired runs to name a winner: {pairs}, where a verdict needs "
                f"{MIN_PAIRS}; {more}. "
                f"Medians so far: {'; '.join(_side_by_side(comparison))}.")
    if len(targets) == 2:
        return _two(comparison, judged, keep)
    return _best(comparison, judged, keep)


# -- two targets -------------------------------------------------------------------------------
def _two(comparison: Comparison, judged: Sequence[Verdict], keep: Collection[str]) -> str:
    pairs = count_of(max(v.pairs for v in judged), "paired run")
    won: dict[str, list[str]] = {}
    for v in judged:
        if v.conclusive and v.winner is not None:
            won.setdefault(v.winner, []).append(_clause(comparison, v, keep))
    open_ = [v for v in judged if not v.conclusive]
    if not won:
        return f"No clear winner after {pairs}: {_nothing_settled(open_)}"
    line = "; ".join(f"{winner}: {', '.join(clauses)}" for winner, clauses in won.items())
    line += f"; {pairs}."
    if open_:
        line += f" No clear difference in {_and(_nouns(open_))}."
    return line


def _clause(comparison: Comparison, v: Verdict, keep: Collection[str]) -> str:
    """What the winner of a conclusive verdict gains, in a few words: "first token 96 ms
    sooner", "2.1× the tok/s", "at 40 % of the cost"."""
    assert v.winner is not None and v.advantage is not None
    key = v.figure.key
    if key in _NAMES:
        return f"{_NAMES[key]} {_time(v.advantage)} sooner"
    loser = v.second if v.winner == v.first else v.first
    won, lost = _paired_medians(comparison, v.figure, v.winner, loser, keep)
    if key == "tps":
        if won is None or not lost:
            return f"{v.advantage:.1f} tok/s faster"
        ratio = won / lost
        return f"{ratio:.1f}× the tok/s" if ratio >= 1.2 else f"{_pct(ratio - 1)} more tok/s"
    # cost
    if won == 0:
        return "at no cost"
    if won is None or not lost:
        return f"{_money(v.advantage)} less per answer"
    return f"at {_pct(won / lost)} of the cost"


_NAMES = {"ttft": "first token", "ttfat": "first answer token", "e2e": "whole answer"}


# -- three or four targets ---------------------------------------------------------------------
def _best(comparison: Comparison, judged: Sequence[Verdict], keep: Collection[str]) -> str:
    """The target that beats every other conclusively, per figure, where there is one."""
    titles = [comparison.title(t) for t in comparison.targets]
    low, high = min(v.pairs for v in judged), max(v.pairs for v in judged)
    pairs = count_of(high, "paired run") if low == high else f"{low}–{high} paired runs"
    best: dict[str, list[str]] = {}
    for figure in FIGURES:
        mine = [v for v in judged if v.figure.key == figure.key]
        for title in titles:
            beaten = [v for v in mine if v.conclusive and v.winner == title]
            if mine and len(beaten) == len(titles) - 1:
                closest = min(beaten, key=lambda v: v.advantage or 0.0)  # the runner-up
                best.setdefault(title, []).append(_clause(comparison, closest, keep))
    if not best:
        return (f"No target is clearly best on any figure after {pairs} per pair: "
                f"{_nothing_settled([v for v in judged if not v.conclusive])}")
    line = "; ".join(f"{title}: {', '.join(clauses)}" for title, clauses in best.items())
    return (f"Best of {len(titles)} where it is clear — {line} (each against the next "
            f"best); {pairs} per pair.")


# -- nothing settled, too few, one run ---------------------------------------------------------
def _nothing_settled(open_: Sequence[Verdict]) -> str:
    """The open figures, and about how many more paired runs would settle the closest."""
    head = f"no figure differs beyond the run-to-run noise ({_and(_nouns(open_))})"
    estimates = [v for v in open_ if v.more_runs is not None and v.more_runs < _MANY]
    if not estimates:
        return head + "; it would take many more runs to tell them apart."
    near = min(estimates, key=lambda v: v.more_runs or 0)
    where = "" if len({(v.first, v.second) for v in open_}) < 2 else (
        f" between {near.first} and {near.second}")
    return (f"{head}; about {near.more_runs} more paired runs would likely settle "
            f"{near.figure.noun}{where}.")


def _runs_needed(comparison: Comparison) -> str:
    # One run each has no warm-up; with several the Compare page warms up by default.
    if comparison.use_warmup or comparison.repeat == 1:
        return f"{MIN_PAIRS} runs per target"
    return f"{MIN_PAIRS + 1} runs per target (the first, cold run of each is left out)"


def _side_by_side(comparison: Comparison) -> list[str]:
    """Each target's medians over its finished runs: first token, tok/s, cost when priced."""
    out = []
    for target in comparison.targets:
        title = comparison.title(target)
        finished = [run_figures(r) for r in target.records if r.status == "ok"]
        if not finished:
            statuses = {r.status for r in target.records}
            word = ("failed" if statuses == {"error"} else "stopped" if "stopped" in statuses
                    else "no finished run")
            out.append(f"{title}: {word}")
            continue
        bits = []
        ttft = _median([f.ttft_s for f in finished])
        tps = _median([f.output_tps for f in finished])
        cost = _median([f.cost for f in finished])
        if ttft is not None:
            bits.append(f"first token {_time(ttft)}")
        if tps is not None:
            bits.append(f"{tps:.0f} tok/s" if tps >= 10 else f"{tps:.2g} tok/s")
        if cost:  # free (0) or unpriced (None): no cost clause
            bits.append(f"{_money(cost)} per answer")
        out.append(f"{title}: {', '.join(bits) or 'no figures'}")
    return out


# -- figures -----------------------------------------------------------------------------------
def _paired_medians(comparison: Comparison, figure: Figure, first: str, second: str,
                    keep: Collection[str]) -> tuple[float | None, float | None]:
    """The medians of ``figure`` for ``first`` and ``second`` over the rounds their verdict
    used: both runs finished, neither flagged outside ``keep``, both values known (as
    ``analysis.verdicts`` selects them)."""
    by_title = {comparison.title(t): t for t in comparison.targets}
    a, b = by_title[first], by_title[second]
    values = [(figure.value(x), figure.value(y))
              for x, y in paired_rounds(comparison, a, b, keep)]
    pairs = [(x, y) for x, y in values if x is not None and y is not None]
    if not pairs:
        return None, None
    return (statistics.median(x for x, _ in pairs), statistics.median(y for _, y in pairs))


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _nouns(found: Sequence[Verdict]) -> list[str]:
    return list(dict.fromkeys(v.figure.noun for v in found))  # in order, once each


def _and(words: Sequence[str]) -> str:
    if not words:
        return "no figure"
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _time(seconds: float) -> str:
    ms = seconds * 1000
    if ms >= 1000:
        return f"{seconds:.1f} s"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.2g} ms"


def _pct(share: float) -> str:
    pct = share * 100
    return f"{pct:.0f} %" if pct >= 10 else f"{pct:.2g} %"


def _money(value: float) -> str:
    return (format_cost(value, default_prices().currency) or "?").removeprefix("≈ ")
