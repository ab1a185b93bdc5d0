"""How the compare page draws a ``chatlib.compare.comparison.Comparison``: the columns while the
answers stream (one parallel fragment per target, each rendering its pump with ``stream_answer``),
repeat-N progress, and the finished view (figures, summary table, charts, vote, export).

A comparison outlives the script run that started it, as a chat's answer does: a rerun (a
widget change, a page switch and back) draws it again from its plain object and re-attaches
to the runs in flight; only the Stop button ends it early. Its callback stops every target
before the next run draws the columns, so each shows stopped at once (no polling).

The URL names the comparison (``?compare=<id>``), as ``?chat=<id>`` names a chat: a reload,
another tab or a shared link opens it (``current_comparison``): the live one while this
process has it (still streaming: its columns re-attach), else the stored one, drawn by the
same functions as a just-finished one. The session remembers it too, since a switch to
another page and back drops the query string.
"""

from __future__ import annotations

import time

import streamlit as st

from chatlib.chat.answers import run_summary
from chatlib.compare.comparison import TIE, Comparison, Target
from chatlib.compare.analysis import FLAGS, MIN_PAIRS, flag_table, verdicts
from chatlib.compare.charts import strip_chart
from chatlib.compare.report import export_json, export_markdown, run_table, summary
from chatlib.compare.comparisons import Comparisons
from chatlib.compare.headline import result_line
from chatlib.core.palette import colour_for
from chatlib.core.tables import format_cost
from chatlib.core.text import count_of
from chatlib.streaming.live import live_line, live_stats
from chatlib.runs.distributions import too_few_for_interval
from chatlib.runs.figures import run_cost
from chatlib.runs.pricing import default_prices
from chatlib.runs.record import RunRecord
from ui.judge_view import comparison_decision, show_judge
from ui.race_chart import live_race, show_race
from ui.compare_turns import overrides_caption
from ui.plain_text import markdown_literal
from ui.resources import comparisons
from ui.streaming import show_thinking, stream_answer

_POLL_S = 0.05
_URL_KEY = "compare"  # ?compare=<id>
_SESSION_KEY = "comparison"
UNKNOWN_COMPARISON = ("There is no comparison with that id here (deleted, or stored by "
                      "another server?). Type a prompt to start a new one.")


def current_comparison(registry: Comparisons) -> Comparison | None:
    """The comparison the page shows: the URL's (live in this process, else stored), else
    the session's, else none. An unknown id in the URL gets a warning and is dropped."""
    wanted = st.query_params.get(_URL_KEY)
    shown: Comparison | None = st.session_state.get(_SESSION_KEY)
    if wanted and (shown is None or shown.id != wanted):
        found = registry.open(wanted)
        if found is None:
            st.warning(UNKNOWN_COMPARISON, icon="⚠️")
            st.session_state.pop(_SESSION_KEY, None)
            del st.query_params[_URL_KEY]
            return None
        st.session_state[_SESSION_KEY] = found
        return found
    if shown is not None and wanted != shown.id:
        st.query_params[_URL_KEY] = shown.id  # back from another page: the URL names it again
    return shown


def show_comparison(comparison: Comparison) -> None:
    """From now on this session (and its URL) shows ``comparison``."""
    st.session_state[_SESSION_KEY] = comparison
    st.query_params[_URL_KEY] = comparison.id


def _yield_point() -> None:
    # Reading session state is a Streamlit yield point: a Stop or rerun is raised here.
    st.session_state.get("_chatlab_tick")


def cost_note(record: RunRecord) -> str | None:
    """The run's estimated cost for the figures line (the dated table's list prices)."""
    text = format_cost(run_cost(record), default_prices().currency)
    return None if text is None else f"cost {text}"


def figures_line(record: RunRecord) -> str:
    """The finished run's figures: TTFT, E2E, output tokens (source), tok/s, TPOT, cost."""
    line = run_summary(record)
    m = record.metrics()
    if m.tpot_s is not None:
        line += f" · TPOT {m.tpot_s * 1000:.1f} ms"
    cost = cost_note(record)
    if cost:
        line += f" · {cost}"
    return line


def show_figures(comparison: Comparison, target: Target) -> None:
    """Under a target's header: how its (last) run ended and its figures."""
    pump = target.runs[-1] if target.runs else None
    record = pump.record if pump is not None else None
    if pump is None:
        st.caption("⏹ Stopped before this target started." if comparison.stopped else "Not run.")
        return
    if record is None:  # the reader is still closing its stream after a stop
        st.caption("⏹ Stopped: partial answer kept.")
        return
    if record.status == "stopped":
        st.caption("⏹ Stopped: partial answer kept.")
    if record.error:
        st.error(record.error, icon="⚠️")
    if record.chunk_offsets_s:
        st.caption("✅ " + figures_line(record) if record.status == "ok" else figures_line(record))


def _header(comparison: Comparison, target: Target) -> None:
    # A bar of the target's colour over its column, as its line and dots are coloured in
    # the race and the dot plots (chatlib.core.palette). No text of the user's in it.
    st.html(f'<div style="height:5px;border-radius:3px;'
            f'background:{colour_for(target.label)}"></div>')
    st.markdown(f"#### {markdown_literal(comparison.title(target))}")  # a typed model id
    own = overrides_caption(target)
    if own and comparison.revealed:
        st.caption(own)


@st.fragment(parallel=True)
def stream_column(comparison: Comparison, target: Target, finished: set[str]) -> None:
    """One target's column while it streams: header, live figures (the phase: waiting,
    thinking, answering), the thinking block and the growing answer; then its final
    figures. Runs in its own thread (a parallel fragment), so a slow or
    failing target never holds up the others' rendering."""
    try:
        _header(comparison, target)
        figures = st.empty()
        names = ", ".join(t.label for t in comparison.queued_behind(target))
        while target.current is None and not comparison.stopped and not comparison.done:
            figures.caption(f"⏳ Queued with {names}: embedded models answer one request at a "
                            "time, so each is timed on its own." if names else "⏳ Starting…")
            time.sleep(_POLL_S)
            _yield_point()
        pump = target.current
        if pump is None:
            figures.caption("⏹ Stopped before this target started.")
            return

        # The live line names the phase the moment it changes (ui.streaming.LiveLine).
        stream_answer(pump, stop_on_close=False, live=True, live_slot=figures,
                      counter=target.counter)
        pump.wait(2.0)
        with figures.container():
            show_figures(comparison, target)
    finally:
        finished.add(target.label)


def stream_all(comparison: Comparison) -> None:
    """Draw every target's column while they stream; return when all are done."""
    finished: set[str] = set()
    for column, target in zip(st.columns(len(comparison.targets)), comparison.targets):
        with column:
            stream_column(comparison, target, finished)
    race = live_race(comparison)
    while not (comparison.done and len(finished) == len(comparison.targets)):
        race()
        time.sleep(_POLL_S)
        _yield_point()  # a rerun leaves the comparison running: the next run re-attaches


def repeat_all(comparison: Comparison) -> None:
    """Repeat-N: per target a progress bar, the running answer's live figures and its text
    as it arrives (each run replaces the last one's)."""
    slots = []
    for column, target in zip(st.columns(len(comparison.targets)), comparison.targets):
        with column:
            _header(comparison, target)
            slots.append((target, st.progress(0.0), st.empty(), st.empty()))
    total = comparison.repeat
    shown: dict[str, tuple[int, int]] = {}  # label -> (run, characters) drawn
    while True:
        done = comparison.done
        for target, bar, line, answer in slots:
            n = target.completed
            bar.progress(n / total, text=f"{n} of {total} runs"
                         + (" (warm-up running)" if target.warmup and not target.runs else ""))
            pump = target.current
            if pump is not None and not done:
                line.caption(live_line(live_stats(pump, target.counter)))
                text = pump.text
                seen = (id(pump), len(text))
                if shown.get(target.label) != seen:  # redrawn only when it grew
                    shown[target.label] = seen
                    answer.markdown(text)
        if done:
            break
        time.sleep(0.2)
        _yield_point()
    for target, _, line, answer in slots:
        answer.empty()
        with line.container():
            show_figures(comparison, target)


def stop_comparison(comparison: Comparison) -> None:
    """The Stop button's callback: every target stops, and its run is recorded (waited for
    briefly) before the next run draws the columns."""
    comparison.stop()
    comparison.wait(2.0)


def show_result_line(comparison: Comparison) -> None:
    """A finished comparison's result in one line (``chatlib.compare.headline``), above the
    columns, with the link that presents it full screen. Blind: after the vote."""
    if not comparison.done or comparison.stopped or not comparison.revealed:
        return
    row = st.container(horizontal=True, vertical_alignment="center")
    row.info(result_line(comparison), icon="🏁", width="stretch")
    row.page_link("app_pages/present.py", label="Present", icon="🖥️",
                  query_params={"compare": comparison.id},
                  help="Full screen, in large type: the answers race again, then the "
                       "result. A read-only link: no settings, keys or other chats.")


def show_columns(comparison: Comparison) -> None:
    """The finished (or stopped) comparison, side by side."""
    for column, target in zip(st.columns(len(comparison.targets)), comparison.targets):
        with column:
            _header(comparison, target)
            if comparison.repeat > 1:
                st.progress(target.completed / comparison.repeat,
                            text=f"{target.completed} of {comparison.repeat} runs")
            show_figures(comparison, target)
            last = target.last_record
            if last is not None and comparison.repeat == 1:
                show_thinking(last.reasoning, last.metrics().reasoning_s)
            text = target.runs[-1].text if target.runs else ""
            if comparison.repeat > 1 and text:
                st.caption(f"The last of its {comparison.repeat} answers:")
            if text:
                st.markdown(text)


def show_statistics(comparison: Comparison) -> None:
    """Repeat-N: p50/p90/p95 per target and every run as a point."""
    st.subheader("Statistics")
    st.caption("Latency over finished runs only (stopped and failed runs are counted apart); "
               "TTFT and TPOT in ms, E2E in s; token counts: see *tokens from*; the cost "
               "covers every run, finished or not.")
    table = summary(comparison)
    formats = {c: st.column_config.NumberColumn(c, format="%.1f")
               for c in table.columns if " p" in c}
    formats["target"] = st.column_config.TextColumn("target", width="medium")
    formats["est. cost, all runs"] = st.column_config.NumberColumn(
        "est. cost, all runs", format="%.6f", help=default_prices().label())
    st.dataframe(table, hide_index=True, width="stretch", column_config=formats)
    runs = run_table(comparison)
    if runs.empty:
        return
    ok = runs[runs.status == "ok"]
    titles = [comparison.title(t) for t in comparison.targets]
    for box, metric in zip(st.columns(2), ("TTFT ms", "tok/s")):
        chart = strip_chart(ok, metric, metric, by="target", targets=titles)
        if chart is not None:
            box.altair_chart(chart, width="stretch")
    st.caption("Each dot is one finished run; the bar across is the median (p50).")
    if comparison.done:
        show_verdicts(comparison)


def runs_advice(comparison: Comparison) -> str:
    """How many runs per target would give each pair an interval."""
    needed = MIN_PAIRS + (0 if comparison.use_warmup else 1)
    cold = "" if comparison.use_warmup else " (the first, cold run of each is left out)"
    return f"Set Runs per target to {needed} or more{cold}."


def show_verdicts(comparison: Comparison) -> None:
    """Pairwise verdicts over paired runs, and the runs' validity flags to keep in or out."""
    st.subheader("Verdicts")
    flags = flag_table(comparison)
    present = [name for name in FLAGS if name in flags and flags[name].any()]
    keep = st.multiselect(
        "Keep flagged runs in the verdicts", present, format_func=FLAGS.__getitem__,
        key=f"keep_flags_{comparison.id}",
        help="Flagged runs are left out unless kept in; failed and stopped runs always are.")
    found = verdicts(comparison, keep)
    too_few = [v for v in found if v.low is None]
    for verdict in found:
        if verdict.low is not None:
            st.markdown(("✅ " if verdict.conclusive else "❔ ") + verdict.words)
    if too_few:  # one line for them all, not one per pair and figure
        pairs = min(v.pairs for v in too_few)
        st.markdown(f"❔ {count_of(pairs, 'paired run')} per pair of targets: "
                    f"{too_few_for_interval('paired runs')}. {runs_advice(comparison)}")
    st.caption("Run k of each target ran in the same round (the targets start every round "
               "together, in a random order on a shared CPU). Difference of medians over the "
               "paired runs, 95 % interval by paired bootstrap (2,000 resamples of rounds).")
    if present:
        with st.expander(f"Runs and their flags ({int(flags[present].any(axis=1).sum())} "
                         "flagged)"):
            st.dataframe(flags[["target", "run", "status", *present]], hide_index=True,
                         width="stretch")


def _cast_vote(comparison: Comparison, choice: str) -> None:
    comparisons().vote(comparison, choice)


def show_vote(comparison: Comparison) -> None:
    """Buttons to judge the answers; in blind mode the names appear after the vote."""
    if comparison.vote is not None:
        choice = comparison.vote.choice
        verdict = "a tie" if choice == TIE else f"**{choice}** better"
        reveal = " · ".join(f"**{t.label}** = {t.name}" for t in comparison.targets)
        st.success(f"Vote saved: {verdict}. {reveal}", icon="🗳️")
        return
    st.subheader("Which answer is better?")
    if comparison.blind:
        st.caption("Blind: the names are revealed after your vote.")
    labels = [t.label for t in comparison.targets]
    # The same words for two targets or four: "A is better", "Tie".
    if len(labels) == 2:
        options = [(labels[0], f"{labels[0]} is better"), (TIE, "Tie"),
                   (labels[1], f"{labels[1]} is better")]
    else:
        options = [(label, f"{label} is better") for label in labels] + [(TIE, "Tie")]
    for column, (choice, text) in zip(st.columns(len(options)), options):
        column.button(text, key=f"vote_{comparison.id}_{choice}", on_click=_cast_vote,
                      args=(comparison, choice), width="stretch")


def show_export(comparison: Comparison) -> None:
    if not comparison.revealed:
        st.caption("Export is available after your vote (it names the targets).")
        return
    stamp = comparison.id[:8]
    row = st.container(horizontal=True)
    row.download_button("Export JSON", export_json(comparison), f"compare-{stamp}.json",
                        "application/json", on_click="ignore", icon="📥")
    row.download_button("Export Markdown", export_markdown(comparison), f"compare-{stamp}.md",
                        "text/markdown", on_click="ignore", icon="📥")
    from chatlib.reports.html import comparison_report

    # Built on the click only: drawing its charts takes a second or more.
    decision = comparison_decision(comparison)  # with a judge's verdicts: the decision
    row.download_button("Export report (HTML)",
                        lambda: comparison_report(comparison, decision),
                        f"compare-{stamp}.html", "text/html", on_click="ignore", icon="📥")


def show_results(comparison: Comparison) -> None:
    """Below the columns: the race, statistics (repeat-N), the vote, the export."""
    show_race(comparison)
    if comparison.repeat > 1:
        # The result is the line above the columns; the evidence behind it is folded here.
        with st.expander("Details: statistics, every run and the verdicts"):
            show_statistics(comparison)
    if comparison.done and not comparison.stopped:
        show_vote(comparison)
        if comparison.revealed:  # a judge names the targets: after a blind vote
            show_judge(comparison.id, [r for t in comparison.targets for r in t.records])
    elif comparison.interrupted:
        st.caption("This comparison never ended: the server stopped while it ran. The runs "
                   "that had ended are shown.")
    elif comparison.stopped and comparison.vote is None:
        st.caption("Stopped: no vote on a stopped comparison.")
    if comparison.wall_s is not None:
        st.caption(f"Wall time of the comparison: {comparison.wall_s:.2f} s. "
                   f"Costs: {default_prices().label()}.")
    show_export(comparison)
