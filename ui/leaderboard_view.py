"""The leaderboard and its decision table as the Leaderboard page and presentation mode both
show them: the battles of the chosen sources (this user's blind votes and stored judge
verdicts, over every comparison or one prompt set's), the ratings, and per rated model its
speed and cost over its latest runs and its load knee where a load run measured one."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from chatlib.quality.decision import DecisionTable, Quality, decide, figures_from_records
from chatlib.quality.judge import JudgeReport
from chatlib.quality.ratings import (
    Leaderboard, battles_from_store, battles_from_verdicts, leaderboard,
)
from chatlib.stats.summary import group_label
from chatlib.store import PromptSetStore, RunFilter
from ui.resources import judge_jobs, load_runs, run_store

__all__ = ["Standing", "standing", "show_decision", "EVERY_COMPARISON"]

EVERY_COMPARISON = "every comparison"
_RECENT_RUNS = 300  # per model, for its speed and cost figures


@dataclass
class Standing:
    board: Leaderboard | None  # None: no battle yet
    table: DecisionTable | None = None
    problem: str | None = None  # a constraint or rule that could not be read


def _knees() -> dict[str, tuple[float, str]]:
    """The latest load run's knee per model ("provider · model"), where one was found."""
    found: dict[str, tuple[float, str]] = {}
    for view in reversed(load_runs().recent(20)):  # newest last: it wins
        for knee in view.knees():
            name = view.name_of(knee.label)
            if knee.level is not None and ":" in name:
                provider, model = name.split(":", 1)
                found[group_label(provider, model)] = (knee.level, knee.words)
    return found


def standing(sources: tuple[str, ...], blind_only: bool, scope: str,
             constraints: list[str], rule: str) -> Standing:
    store = run_store()
    battles = battles_from_store(store, blind_only=blind_only)
    for stored in judge_jobs().store.all():
        if stored.mode == "pairwise":
            battles += battles_from_verdicts(JudgeReport.from_dict(stored.result).verdicts)
    if scope != EVERY_COMPARISON:
        chosen = next((s for s in PromptSetStore(store).recent() if s.id == scope), None)
        in_set = {case.comparison_id for case in chosen.cases} if chosen else set()
        battles = [b for b in battles if b.ref in in_set]
    battles = [b for b in battles if b.source in sources]
    if not battles:
        return Standing(None)
    board = leaderboard(battles, sources=sources)
    pairs = {group_label(p, m): (p, m) for p, m in store.provider_models()}
    knees = _knees()
    rows = []
    for rating in board.ratings:
        provider, model = pairs.get(rating.model, ("", ""))
        ids = store.recent(RunFilter(providers=(provider,), models=(model,), pages=("compare",)),
                           limit=_RECENT_RUNS).id if provider else []
        knee, knee_words = knees.get(rating.model, (None, ""))
        rows.append(figures_from_records(
            rating.model, [r for r in map(store.get, ids) if r is not None],
            quality=Quality.from_rating(rating), knee=knee, knee_words=knee_words))
    try:
        return Standing(board, decide(rows, constraints, rule))
    except ValueError as exc:
        return Standing(board, problem=str(exc))


def show_decision(table: DecisionTable) -> None:
    decision = table.decision
    if decision.pick is not None:
        st.success(decision.words, icon="✅")
    else:
        st.info(decision.words, icon="❔")
    for reason in decision.reasons:
        st.markdown(f"- {reason}")
    st.dataframe(table.frame(), hide_index=True, width="stretch")
