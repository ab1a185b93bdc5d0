"""Leaderboard page: answer quality beside speed and cost. Bradley–Terry ratings with 95 %
bootstrap intervals from the user's blind votes and from judges' verdicts (apart or
together, labelled), over every stored comparison or one prompt set's; whether the data
separates two models, and roughly how many more battles would; then one decision table:
per model its rating, TTFT p50/p95, tok/s, error rate and cost per reply and per 1,000
replies at its measured token counts, the user's constraints and rule, and the pick in
words with its reasons (or that the data cannot separate the candidates)."""

import altair as alt
import pandas as pd
import streamlit as st

from chatlib.quality.decision import DEFAULT_RULE
from chatlib.quality.ratings import separation
from chatlib.store import PromptSetStore
from ui.leaderboard_view import EVERY_COMPARISON, show_decision, standing
from ui.resources import run_store

_SOURCES = {"votes": "Blind votes", "judge": "Judge verdicts"}

st.title("🏆 Leaderboard")
st.caption("Answer quality from your blind votes and your judges' verdicts, beside speed and "
           "cost, with the uncertainty of each.")

sb = st.sidebar
sources = sb.multiselect("Quality from", list(_SOURCES), default=list(_SOURCES),
                         format_func=_SOURCES.__getitem__, key="lb_sources")
blind_only = sb.checkbox("Blind votes only", True, key="lb_blind",
                         help="Votes cast while the names were hidden.")
sets = {s.id: s for s in PromptSetStore(run_store()).recent()}
scope = sb.selectbox("Over", [EVERY_COMPARISON, *sets], key="lb_scope",
                     format_func=lambda i: i if i == EVERY_COMPARISON
                     else f"prompt set {sets[i].source} ({i[:8]})")
constraints = st.sidebar.text_area(
    "Constraints, one per line", "p95 ttft <= 1s", key="lb_constraints",
    help="e.g. p95 ttft <= 1s, error rate <= 2%, tok/s >= 30, cost per 1,000 replies <= $2, "
         "knee >= 16")
rule = st.sidebar.text_input("Rule", DEFAULT_RULE, key="lb_rule",
                             help="cheapest within the best quality's interval (default), "
                                  "fastest …, best quality, or weights: quality 2, cost 1")
lines = [c for c in constraints.splitlines() if c.strip()]
now = standing(tuple(sources), blind_only, scope, lines, rule)
board = now.board
if board is None:
    st.info("No battles yet: vote on a comparison (blind), or have a judge read one (under "
            "a finished comparison: Judge the answers).", icon="🗳️")
    st.stop()

st.subheader(f"Ratings from {board.label} ({board.battles} battles)")
table = pd.DataFrame([{"model": r.model, "rating": round(r.rating), "95 % low": round(r.low),
                       "95 % high": round(r.high), "battles": r.battles, "wins": r.wins,
                       "losses": r.losses, "ties": r.ties} for r in board.ratings])
st.dataframe(table, hide_index=True, width="stretch")
bars = alt.Chart(table).encode(y=alt.Y("model:N", sort=None, title=None))
st.altair_chart(
    bars.mark_rule(strokeWidth=3).encode(x=alt.X("95 % low:Q", title="rating (95 % interval)",
                                                 scale=alt.Scale(zero=False)),
                                         x2="95 % high:Q")
    + bars.mark_point(filled=True, size=80, color="black").encode(x="rating:Q"),
    width="stretch")
for better, worse in zip(board.ratings, board.ratings[1:]):
    st.markdown(f"- {separation(board, better.model, worse.model).words}")

st.subheader("Decision")
st.caption("Per model: its rating, its speed and cost over its latest runs on the Compare "
           "page (cost per reply at its measured token counts and the price table), and its "
           "load knee where a load run found one.")
if now.problem is not None:
    st.error(now.problem, icon="⚠️")
elif now.table is not None:
    show_decision(now.table)
    row = st.container(horizontal=True)
    row.download_button("Decision table (Markdown)", now.table.markdown(),
                        "chatlab-decision.md", "text/markdown", icon="⬇️", key="lb_download")
    row.page_link("app_pages/present.py", label="Present", icon="🖥️",
                  query_params={"leaderboard": scope, "blind": int(blind_only),
                                "sources": ",".join(sources), "constraints": "\n".join(lines),
                                "rule": rule},
                  help="Full screen, in large type: the ratings and the decision.")
