"""Presentation mode (``/present?compare=<id>``, ``?load=<id>`` or ``?leaderboard=...``): one
comparison, load run or decision, full screen and in large type, for the stakeholder in the
room. No sidebar, no settings, no keys, no other chats: a read-only view of what the link
names (scoped to the signed-in user, as every page).

A comparison: its prompt, then its answers racing again side by side on their recorded
chunk times (each target's last run), then the race chart and the one-line result. A load
run: the knees in words and the latency-against-throughput chart. A leaderboard: the decision
table under the constraints the link carries. The Compare, Load and Leaderboard pages link here
("Present")."""

import time

import streamlit as st

from chatlib.compare.comparison import Comparison, Target
from chatlib.compare.headline import result_line
from chatlib.core.palette import colour_for
from chatlib.load.report import curve_chart, summary_words
from chatlib.quality.decision import DEFAULT_RULE
from ui.compare_view import figures_line
from ui.leaderboard_view import show_decision, standing
from ui.plain_text import markdown_literal
from ui.race_chart import show_race
from ui.resources import comparisons, load_runs

# Streamlit's own elements hidden by their test ids; the type made larger for a room.
st.html("""<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"], [data-testid="stToolbar"] { display: none; }
[data-testid="stMainBlockContainer"] { padding-top: 1.5rem; max-width: 100%; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li,
[data-testid="stMarkdownContainer"] td { font-size: 1.35rem; line-height: 1.5; }
[data-testid="stCaptionContainer"] { font-size: 1.05rem; }
</style>""")

_TICK_S = 0.05


def _bar(label: str) -> None:
    st.html(f'<div style="height:8px;border-radius:4px;background:{colour_for(label)}"></div>')


@st.fragment(parallel=True)
def _race_column(comparison: Comparison, target: Target, finished: set[str]) -> None:
    """One target's last answer, arriving again as it arrived: each chunk at its recorded
    offset from the request (thinking shown as such until the first answer chunk)."""
    try:
        _bar(target.label)
        st.markdown(f"### {markdown_literal(comparison.title(target))}")
        record = target.last_record
        if record is None:
            st.caption("No finished run to show.")
            return
        line, answer = st.empty(), st.empty()
        start = time.monotonic()
        shown = 0
        while shown < len(record.chunk_texts):
            now = time.monotonic() - start
            ready = shown
            while ready < len(record.chunk_texts) and record.chunk_offsets_s[ready] <= now:
                ready += 1
            if ready != shown:
                shown = ready
                answer.markdown("".join(record.chunk_texts[:shown]))
            if shown == 0:
                thinking = record.reasoning_offsets_s and record.reasoning_offsets_s[0] <= now
                line.caption(f"{'💭 Thinking' if thinking else '⏳ Waiting'}… {now:.1f} s")
            else:
                line.caption(f"✍️ Answering… {now:.1f} s")
            time.sleep(_TICK_S)
        line.caption(("✅ " if record.status == "ok" else "") + figures_line(record))
    finally:
        finished.add(target.label)


def _present_comparison(comparison: Comparison) -> None:
    st.markdown(f"## {markdown_literal(comparison.prompt[:300])}")
    if not comparison.done:
        st.info("This comparison is still running: present it once it has finished.",
                icon="⏳")
        return
    finished: set[str] = set()
    for column, target in zip(st.columns(len(comparison.targets)), comparison.targets):
        with column:
            _race_column(comparison, target, finished)
    while len(finished) < len(comparison.targets):
        time.sleep(_TICK_S)
        st.session_state.get("_chatlab_tick")  # a yield point: a rerun or Stop lands here
    show_race(comparison)
    st.info(result_line(comparison), icon="🏁")
    st.button("Race again", icon="🔁", key="present_again")


def _present_load(load_id: str) -> None:
    view = load_runs().get(load_id)
    if view is None:
        st.warning("There is no load run with that id here.", icon="🔍")
        return
    st.markdown("## How each target holds up as traffic grows")
    for words in summary_words(view):
        st.success(words, icon="📈")
    chart = curve_chart(view)
    if chart is not None:
        st.altair_chart(chart, width="stretch")


def _present_leaderboard(scope: str) -> None:
    params = st.query_params
    sources = tuple(s for s in params.get("sources", "votes,judge").split(",") if s)
    lines = [c for c in params.get("constraints", "").splitlines() if c.strip()]
    now = standing(sources, params.get("blind", "1") == "1", scope, lines,
                   params.get("rule", DEFAULT_RULE))
    st.markdown("## Which model to pick")
    if now.board is None or now.table is None:
        st.info(now.problem or "No battles yet.", icon="🗳️")
        return
    if lines:
        st.caption("Constraints: " + "; ".join(lines))
    show_decision(now.table)


compare_id = st.query_params.get("compare")
load_id = st.query_params.get("load")
if compare_id:
    found = comparisons().open(compare_id)
    if found is None:
        st.warning("There is no comparison with that id here.", icon="🔍")
    else:
        _present_comparison(found)
elif load_id:
    _present_load(load_id)
elif st.query_params.get("leaderboard"):
    _present_leaderboard(st.query_params["leaderboard"])
else:
    st.markdown("## Presentation mode")
    st.markdown("Open a comparison or a load run and press **Present**: its link opens here, "
                "full screen, without the settings.")
    st.page_link("app_pages/compare.py", label="Compare", icon="⚖️")
