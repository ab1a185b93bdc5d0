"""The Load page's view of one load run (``?load=<id>``): the knees in words first, then the
latency-against-throughput chart with the targets side by side, goodput, the per-level table
and the downloads. While it runs, a fragment redraws it every ``LIVE_S`` (progress, the
levels so far) and the Stop button stops it; every level measured stays.

The run itself is ``chatlib.load.run.LoadRun`` in a thread of its own, registered per user
(``ui.resources.load_runs``), so a rerun, a page switch or a reload finds it still going; a
stored one (this replica or another) opens from the URL."""

from __future__ import annotations

import streamlit as st

from chatlib.core.text import count_of
from chatlib.load.report import (
    CURVE_METRICS, curve_chart, export_json, export_markdown, goodput_chart, level_table,
    summary_words,
)
from chatlib.load.run import LoadRun, LoadView
from chatlib.reports.load_html import load_report
from ui.resources import load_runs

__all__ = ["current_load", "show_load", "URL_KEY", "recent_loads"]

URL_KEY = "load"
LIVE_S = 0.5


def current_load() -> LoadView | None:
    """The load the URL names (a live one, or stored), or None."""
    wanted = st.query_params.get(URL_KEY)
    if not wanted:
        return None
    view = load_runs().get(wanted)
    if view is None:
        st.warning(f"There is no load run {wanted!r} here (or it is not yours).", icon="🔍")
        del st.query_params[URL_KEY]
    return view


def _progress(run: LoadRun) -> None:
    progress = run.progress()
    if progress.level is None:
        st.progress(0.0, text=(f"{count_of(progress.levels_done, 'level')} measured; "
                               "preparing the next…") if progress.levels_done else
                    "Starting the reading processes and warming up…")
        return
    share = min(1.0, progress.elapsed_s / progress.level_s) if progress.level_s else 0.0
    level = run.spec.schedule.level_text(progress.level)
    st.progress(share, text=f"{progress.label} at {level}: {count_of(progress.done, 'request')} "
                            f"done, {progress.elapsed_s:.0f} of {progress.level_s:.0f} s · "
                            f"{count_of(progress.levels_done, 'level')} measured")


def _results(view: LoadView, *, key: str) -> None:
    if view.results:
        for words in summary_words(view):
            st.markdown(f"- {words}")
    shown = st.segmented_control("Latency", list(CURVE_METRICS), default="TTFT p99",
                                 key=f"{key}_metric") or "TTFT p99"
    chart = curve_chart(view, shown)
    if chart is not None:
        st.altair_chart(chart, width="stretch")
        st.caption("Each point is one level (its label); a cross marks a level where the "
                   "load generator, not the target, set the pace. Dashed: the SLO.")
    goodput = goodput_chart(view)
    if goodput is not None:
        st.altair_chart(goodput, width="stretch")
    table = level_table(view)
    if not table.empty:
        st.dataframe(table, hide_index=True, width="stretch")


@st.fragment(run_every=LIVE_S)
def _live(run: LoadRun) -> None:
    if run.done:
        st.rerun()  # the whole page: the finished view, without the Stop button
    _progress(run)
    _results(run, key="live")


def _downloads(view: LoadView) -> None:
    name = f"chatlab-load-{view.id[:8]}"
    store = load_runs().store
    left, middle, right = st.columns(3)
    # Built on the click only: a sweep holds thousands of requests, and the report's charts
    # take a second to draw.
    left.download_button("Report (HTML)", lambda: load_report(view), f"{name}.html",
                         "text/html", icon="📄", key="load_html", on_click="ignore")
    middle.download_button(
        "Every request (JSON)",
        lambda: export_json(view, store.runs(view.id, [r.seq for r in view.results])),
        f"{name}.json", "application/json", icon="⬇️", key="load_json", on_click="ignore",
        help="Each level's figures and every request with its chunk timestamps, so any "
             "figure can be recomputed.")
    right.download_button("Table (Markdown)", export_markdown(view), f"{name}.md",
                          "text/markdown", icon="⬇️", key="load_md")


def show_load(view: LoadView) -> None:
    """The run: live while it runs here, else as it ended (or as far as it got)."""
    st.caption(f"Load run {view.id[:8]} · {view.spec.workload.text} · "
               f"each level {view.spec.seconds:g} s"
               + (f" · SLOs: {', '.join(s.text for s in view.spec.slos)}"
                  if view.spec.slos else ""))
    if isinstance(view, LoadRun) and not view.done:
        st.button("Stop", icon="⏹️", key="stop_load", on_click=view.stop,
                  help="Stops the level in flight; every level measured so far is kept.")
        _live(view)
        return
    if isinstance(view, LoadRun) and view.failure:
        st.error(view.failure, icon="⚠️")
    if view.ended_at is None:
        st.info("This run has not ended: it is running in another process, or that process "
                "stopped. Below, the levels it had measured.", icon="⏳")
    elif view.stopped:
        st.info("Stopped: the levels below are those measured before the Stop.", icon="⏹️")
    _results(view, key="done")
    if view.results:
        _downloads(view)
        st.page_link("app_pages/present.py", label="Present", icon="🖥️",
                     query_params={"load": view.id},
                     help="Full screen, in large type: the knees and the chart.")
        st.caption("Its requests are in Stats too (page “load”).")


def recent_loads() -> None:
    views = load_runs().recent(10)
    if not views:
        return
    with st.expander(f"Earlier load runs ({len(views)})"):
        for view in views:
            names = ", ".join(f"{label} {name}" for label, name in view.spec.targets)
            knees = sum(k.level is not None for k in view.knees())
            st.markdown(f"[{view.id[:8]}](?{URL_KEY}={view.id}) · {names} · "
                        f"{count_of(len(view.results), 'level')}, "
                        f"{count_of(knees, 'knee')} found")
