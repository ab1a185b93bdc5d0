"""The judge on the Compare page: pick any target as the judge (its own provider, model and
key), pairwise or grading 1-10, with a rubric to edit; it reads the finished comparison's
answers in a thread of its own (``chatlib.quality.jobs``) while the page polls; then its
verdicts show with the disagreement of its two readings, the problems it had, what it cost
and how long it took (apart from the targets' figures), and its reasoning one click away.
Every judgement is stored with the comparison and feeds the Leaderboard page."""

from __future__ import annotations

import streamlit as st

from collections.abc import Sequence

from chatlib.compare.comparison import Comparison
from chatlib.core.errors import ProviderError
from chatlib.core.tables import format_cost
from chatlib.core.text import count_of
from chatlib.core.types import Settings
from chatlib.quality.decision import DecisionTable, Quality, decide, figures_from_records
from chatlib.quality.judge import DEFAULT_RUBRIC, Judge, JudgeReport
from chatlib.quality.ratings import battles_from_verdicts, leaderboard
from chatlib.stats.summary import group_label
from chatlib.runs.pricing import default_prices
from chatlib.runs.record import RunRecord
from ui.providers import pick_provider
from ui.resources import judge_jobs, run_store

__all__ = ["show_judge", "comparison_decision"]

_MODES = {"pairwise": "Pairwise (both orders)", "grade": "Grade each answer 1-10"}


@st.fragment(run_every=1.0)
def _progress(subject_id: str) -> None:
    job = judge_jobs().running(subject_id)
    if job is None:
        st.rerun()  # done: the whole page shows the stored verdicts
    st.progress(job.progress, text=f"The judge has read {job.done} of {job.total}…")


def _report_lines(report: JudgeReport, mode: str) -> None:
    spend = report.spend()
    if mode == "pairwise":
        wins: dict[str, int] = {}
        ties = 0
        for verdict in report.verdicts:
            if verdict.outcome == "tie":
                ties += 1
            elif verdict.outcome is not None:
                name = verdict.pair.a if verdict.outcome == "A" else verdict.pair.b
                wins[name] = wins.get(name, 0) + 1
        said = "; ".join([*(f"{name} better: {n}" for name, n in sorted(wins.items())),
                          *([f"tie: {ties}"] if ties else [])]) or "nothing counted"
        rate = report.disagreement_rate
        st.markdown(f"**{count_of(report.counted, 'pair')} counted** ({said})"
                    + (f"; its two readings disagreed on {rate:.0%} (counted as ties)"
                       if rate is not None else ""))
    else:
        means = report.mean_scores()
        st.markdown("; ".join(f"**{target}** {mean:.1f}/10 ({count_of(n, 'answer')})"
                              for target, (mean, n) in means.items()) or "No grade counted.")
    if report.problems:
        st.warning(f"{count_of(len(report.problems), 'problem')}, not counted: "
                   + "; ".join(f"{about}: {p.kind} ({p.message[:120]})"
                               for about, p in report.problems[:5]), icon="⚠️")
    cost = ("not priced" if spend.cost is None
            else format_cost(spend.cost, default_prices().currency))
    st.caption(f"The judge's own requests: {count_of(spend.readings, 'reading')}, cost "
               f"{cost}, TTFT p50 "
               + ("–" if spend.ttft_p50_s is None else f"{spend.ttft_p50_s * 1000:.0f} ms")
               + ". Kept apart from the targets' figures.")


def _reasoning(report: JudgeReport) -> None:
    with st.expander("The judge's reasoning"):
        for verdict in report.verdicts:
            outcome = {"A": f"{verdict.pair.a} better", "B": f"{verdict.pair.b} better",
                       "tie": "a tie"}.get(verdict.outcome or "", "not counted")
            st.markdown(f"**{verdict.pair.a} vs {verdict.pair.b}**: {outcome}")
            for reading in verdict.readings:
                st.caption(f"Reading {reading.order}")
                st.text(reading.text or "(no reply)")
        for grade in report.grades:
            st.markdown(f"**{grade.answer.target}**: "
                        + ("not counted" if grade.score is None else f"{grade.score}/10"))
            st.text(grade.reading.text or "(no reply)")


def comparison_decision(comparison: Comparison) -> DecisionTable | None:
    """The decision table of a comparison a judge has read pairwise: quality from the
    judge's verdicts on it (ratings with intervals), speed and cost from its runs."""
    battles = [b for stored in judge_jobs().store.of(comparison.id) if stored.mode == "pairwise"
               for b in battles_from_verdicts(JudgeReport.from_dict(stored.result).verdicts)]
    if not battles:
        return None
    board = leaderboard(battles, sources=("judge",))
    rows = []
    for target in comparison.targets:
        name = group_label(target.provider_id, target.settings.model)
        rating = next((r for r in board.ratings if r.model == name), None)
        rows.append(figures_from_records(
            name, target.records, quality=None if rating is None else Quality.from_rating(rating)))
    try:
        return decide(rows)
    except ValueError:  # e.g. a target the judge never saw beside rated ones
        return None


def show_judge(subject_id: str, records: Sequence[RunRecord], *,
               subject_kind: str = "comparison", key: str = "judge_") -> None:
    """The judge panel under a finished comparison (or prompt-set run: ``records`` are all
    its cases' runs); ``key`` prefixes its widgets' keys."""
    with st.expander("Judge the answers with a model", expanded=False):
        for stored in judge_jobs().store.of(subject_id):
            report = JudgeReport.from_dict(stored.result)
            st.markdown(f"##### {stored.judge} · {_MODES.get(stored.mode, stored.mode)}")
            _report_lines(report, stored.mode)
            _reasoning(report)
        if judge_jobs().running(subject_id) is not None:
            _progress(subject_id)
            return
        if f"{key}provider" not in st.session_state:  # offline: the scripted demo judge
            st.session_state[f"{key}provider"] = "scripted"
            st.session_state[f"{key}model"] = "demo-judge"
        pick = pick_provider(st.container(), key=key)
        mode = st.radio("How", list(_MODES), format_func=_MODES.__getitem__,
                        key=f"{key}mode", horizontal=True)
        rubric = st.text_area("Rubric", DEFAULT_RUBRIC, key=f"{key}rubric", height=120)
        if isinstance(pick, ProviderError):
            st.error(pick.user_message, icon="⚠️")
            return
        if st.button("Judge these answers", icon="⚖️", key=f"{key}start"):
            judge = Judge(pick.provider,
                          Settings(model=pick.model, temperature=0.0, max_tokens=512),
                          rubric=rubric.strip() or DEFAULT_RUBRIC, counter=pick.counter,
                          on_done=run_store().add)
            try:
                judge_jobs().start(subject_id, records, judge, mode, subject_kind)
            except ValueError as exc:
                st.error(str(exc), icon="⚠️")
                return
            st.rerun()
