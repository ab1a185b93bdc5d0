"""The knee of a target's load curve, and the sweep that finds it.

**The knee** is the highest level that meets every SLO, in words: "B holds p99 TTFT ≤ 200 ms
up to 24 concurrent streams". A level where the generator was the bottleneck
(``LevelResult.client_bound``) proves nothing either way: it is named, not counted. Without
SLOs the knee is where throughput stops growing: the last level before one that adds less
than ``SATURATION_GAIN`` requests/s.

**The sweep** (``next_sweep_level``) finds it with few levels, as GuideLLM does: concurrency
1, 2, 4, … doubled while every level holds, then bisected between the highest level that
held and the lowest that did not, until they are ``1/BISECT_WIDTH`` apart (or adjacent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chatlib.load.levels import LevelResult
from chatlib.load.spec import Schedule, Slo

__all__ = ["Knee", "knee_of", "next_sweep_level", "SATURATION_GAIN", "BISECT_WIDTH"]

SATURATION_GAIN = 0.10  # doubling the streams must add 10 % requests/s to count as growth
BISECT_WIDTH = 8  # bisect until the bracket is within an eighth of the level that held


@dataclass(frozen=True)
class Knee:
    """A target's knee: ``level`` (None: no level held) and the sentence that says it."""

    label: str
    level: float | None
    words: str
    above_range: bool = False  # every level tried held: the knee is higher


def _held(result: LevelResult, previous: LevelResult | None, slos: Sequence[Slo]) -> bool:
    if result.client_bound:
        return False
    if slos:
        return bool(result.meets_slos)
    if previous is None:
        return result.ok > 0
    return result.requests_per_s >= previous.requests_per_s * (1 + SATURATION_GAIN)


def _trusted(results: Sequence[LevelResult]) -> list[LevelResult]:
    return sorted((r for r in results if not r.client_bound), key=lambda r: r.level)


def knee_of(label: str, name: str, results: Sequence[LevelResult], slos: Sequence[Slo],
            schedule: Schedule) -> Knee:
    """``label``'s knee over its levels ``results`` (any order)."""
    who = f"{label} ({name})"
    trusted = _trusted(results)
    bound = sorted({r.level for r in results if r.client_bound})
    caveat = ""
    if bound:
        shown = ", ".join(schedule.level_text(level) for level in bound)
        caveat = (f" At {shown} the load generator, not the target, was the bottleneck: "
                  f"those levels are not counted.")
    if not trusted:
        return Knee(label, None, f"{who}: no level was measured cleanly.{caveat}")
    if slos:
        goals = " and ".join(slo.text for slo in slos)
        held = [r for r in trusted if r.meets_slos]
        failed = [r for r in trusted if not r.meets_slos]
        if not held:
            return Knee(label, None, f"{who} misses {goals} even at "
                                     f"{schedule.level_text(trusted[0].level)}.{caveat}")
        # The highest level that held, below the first that did not (a curve that holds
        # again past a miss is noise at the edge, not capacity).
        first_miss = failed[0].level if failed else None
        best = max((r for r in held if first_miss is None or r.level < first_miss),
                   key=lambda r: r.level, default=None)
        if best is None:
            return Knee(label, None, f"{who} misses {goals} even at "
                                     f"{schedule.level_text(trusted[0].level)}.{caveat}")
        top = not failed
        pushed_past = [level for level in bound if level > best.level]
        tail = ("" if not top else
                ", as far as the load generator could push it" if pushed_past else
                " (every level tried held: the knee is higher)")
        return Knee(label, best.level,
                    f"{who} holds {goals} up to {schedule.level_text(best.level)}{tail}.{caveat}",
                    above_range=top)
    previous: LevelResult | None = None
    best_level: LevelResult | None = None
    for result in trusted:
        if not _held(result, previous, slos):
            break
        best_level, previous = result, result
    if best_level is None:
        return Knee(label, None, f"{who}: no request finished.{caveat}")
    top = best_level is trusted[-1]
    if top:
        words = (f"{who}'s throughput grew at every level tried, up to "
                 f"{schedule.level_text(best_level.level)} "
                 f"({best_level.requests_per_s:.1f} req/s): the knee is higher.")
    else:
        words = (f"{who}'s throughput stops growing past {schedule.level_text(best_level.level)}"
                 f" ({best_level.requests_per_s:.1f} req/s).")
    return Knee(label, best_level.level, words + caveat, above_range=top)


def next_sweep_level(results: Sequence[LevelResult], slos: Sequence[Slo],
                     max_level: int) -> int | None:
    """The next concurrency a sweep should try after ``results`` (one target's so far), or
    None when the knee is found (or ``max_level`` reached)."""
    done = sorted(results, key=lambda r: r.level)
    if not done:
        return 1
    tried = {int(r.level) for r in done}
    held: list[int] = []
    missed: list[int] = []
    previous: LevelResult | None = None
    for result in done:
        (held if _held(result, previous, slos) else missed).append(int(result.level))
        previous = result
    if not missed:
        top = max(tried)
        return None if top >= max_level else min(top * 2, max_level)
    if not slos:
        return None  # throughput stopped growing: the knee is the level before
    low = max((level for level in held if level < min(missed)), default=0)
    high = min(missed)
    if low == 0 or high - low <= max(1, low // BISECT_WIDTH):
        return None
    middle = (low + high) // 2
    return None if middle in tried else middle
