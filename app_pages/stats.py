"""Stats page: how fast each provider and model really is, from every recorded run."""

from datetime import date, datetime, timedelta
from datetime import time as dtime
import time

import pandas as pd
import streamlit as st

from chatlib.core.palette import series_scale
from chatlib.core.text import count_of
from chatlib.stats.export import export_csv, export_json, redact_settings
from chatlib.runs.distributions import too_few_for_interval
from chatlib.runs.pricing import default_prices
from chatlib.stats.summary import (DEFINITIONS, TIME_RANGES, RunFilter, StatsView, Leader,
                                   build_view, chunk_timeline, group_label, time_range)
from ui import stats_charts as charts
from ui.resources import stats_store

store = stats_store()
prices = default_prices()
st.title("📊 Stats")

if store.count() == 0:
    st.info("No runs recorded yet. Every answer you get on the Chat or Compare page is timed "
            "where its bytes arrive and kept here: time to first token, tokens per second, every "
            "gap between chunks. Ask something, then come back.", icon="ℹ️")
    if st.button("Go to chat", icon="💬", type="primary"):
        st.switch_page("app_pages/chat.py")
    st.stop()


@st.cache_data(max_entries=16, show_spinner="Computing the figures…")
def cached_view(location: str, owner: str | None, version: int, flt: RunFilter) -> StatsView:
    # The store, whose runs, and version (their count: runs are only ever added) key the cache.
    return build_view(stats_store().for_owner(owner), flt, prices)


# -- filters ---------------------------------------------------------------------------------
sb = st.sidebar
sb.header("Filters")
range_name = sb.selectbox("Time range", [*TIME_RANGES, "Custom dates"], key="stats_range")
if range_name == "Custom dates":
    picked = sb.date_input("Dates", (date.today() - timedelta(days=7), date.today()),
                           key="stats_dates")
    # A range while it is being picked is a 1-tuple (or empty): treat it as one day.
    days = (picked or (date.today(),)) if isinstance(picked, tuple) else (picked,)
    first, last = days[0], days[-1]
    since = datetime.combine(first, dtime.min).astimezone().timestamp()
    until = datetime.combine(last + timedelta(days=1), dtime.min).astimezone().timestamp()
else:
    since, until = time_range(range_name)
pairs = store.provider_models()
providers = sb.multiselect("Provider", sorted({p for p, _ in pairs}), key="stats_providers",
                           placeholder="All providers")
models = sb.multiselect("Model", sorted({m for p, m in pairs if not providers or p in providers}),
                        key="stats_models", placeholder="All models")
statuses = sb.multiselect("Status", ["ok", "stopped", "error"], key="stats_statuses",
                          placeholder="All statuses")
pages = sb.multiselect("Source page", ["chat", "compare", "api", "load"], key="stats_pages",
                       placeholder="Every page",
                       help="api: answers to POST /chat; load: the requests of load runs "
                            "(thousands at once: leave them out to see single answers).")
flt = RunFilter(since, until, tuple(providers), tuple(models), tuple(statuses), tuple(pages))

with st.expander("How these figures are defined (same as vLLM's benchmark)"):
    st.markdown(DEFINITIONS)

view = cached_view(store.location, store.owner, store.count(), flt)
if view.runs == 0:
    st.warning("No run matches these filters. Widen the time range or clear a filter.", icon="🔍")
    st.stop()


# -- the headline: fastest first token, best tokens/s, and how sure ------------------------------
def leader_text(v: Leader, unit: str) -> str:
    def ci(c: tuple[float, float] | None) -> str:
        return f"95 % CI {c[0]:.1f}–{c[1]:.1f} {unit}" if c else "too few runs for a CI"

    text = f"**{group_label(*v.best)}** · {ci(v.best_ci)} · n = {v.best_n}"
    if v.runner_up is None:
        return text + "  \nOnly one model in this selection."
    other = (f"{group_label(*v.runner_up)} ({v.runner_up_p50:.1f} {unit}, {ci(v.runner_up_ci)}, "
             f"n = {v.runner_up_n})")
    if v.clear is True:
        return text + f"  \n✅ Clearly ahead of {other}: the intervals do not overlap."
    if v.clear is False:
        return text + (f"  \n⚖️ Not clearly ahead of {other}: the intervals overlap; "
                       "more runs would tell.")
    return text + (f"  \nNext: {other}. How sure is not known yet: "
                   f"{too_few_for_interval('finished runs per model')}.")


titles = {"ttft": ("Fastest first token (p50 TTFT)", "ms"),
          "output_tps": ("Best output tokens/s (p50 per request)", "tok/s")}
head = st.columns(max(1, len(view.leaders)))
for col, leader in zip(head, view.leaders):
    title, unit = titles[leader.metric.key]
    col.metric(title, f"{leader.best_p50:.1f} {unit}")
    col.markdown(leader_text(leader, unit))
if not view.leaders:
    st.info("No finished run in this selection: latency figures need runs with status ok.")
st.caption(f"{count_of(view.runs, 'run')} match{'es' if view.runs == 1 else ''} the filters. "
           "Latency figures use finished runs only; "
           "stopped and failed runs are counted in the second table.")

# -- tables ----------------------------------------------------------------------------------
MISSING = "—"  # a figure not known (no run had it): said so, never "None" or "nan"


def shown(frame: pd.DataFrame, formats: dict[str, str]) -> "pd.io.formats.style.Styler":
    """``frame`` as the page shows it: numbers in ``formats``, a missing value as MISSING
    (a dataframe shows a bare missing cell as "None"). The values stay numbers to sort."""
    others = [c for c in frame.columns if c not in formats]
    return (frame.style.format({c: f for c, f in formats.items() if c in frame},
                               na_rep=MISSING)
            .format(na_rep=MISSING, subset=others))


st.subheader("Latency and throughput (finished runs)")
latency = view.latency.copy()
latency.insert(latency.columns.get_loc("p50") + 1, "p50 95% CI", [
    f"{lo:.1f} – {hi:.1f}" if pd.notna(lo) and pd.notna(hi) else MISSING
    for lo, hi in zip(latency.pop("p50_low"), latency.pop("p50_high"))])
st.dataframe(shown(latency, dict.fromkeys(("mean", "p50", "p90", "p95", "p99"), "{:.1f}")),
             hide_index=True, key="stats_latency")

st.subheader("Runs, tokens and cost")
st.dataframe(shown(view.counts, {
    **dict.fromkeys(("input tokens", "output tokens", "of which reasoning"), "{:,.0f}"),
    **dict.fromkeys(("from usage %", "from tokenizer %", "from estimate %"), "{:.0f}%"),
    "est. cost": "${:.4f}",
    "est. cost per run": "${:.6f}",
}), hide_index=True, key="stats_counts")
st.caption(f"Token counts: `usage` = the provider's own report, `tokenizer` = the model's "
           f"tokenizer run here, `estimate` = a labelled approximation. Cost: "
           f"{prices.label()}, for runs whose input and output counts are known; a model "
           f"missing from `chatlib/data/prices.json` shows no cost, not zero.")

# -- charts ----------------------------------------------------------------------------------
# One colour per provider · model in every chart, kept while the filters change (every
# stored pair has its place).
colours = series_scale([group_label(p, m) for p, m in sorted(pairs)])
tabs = st.tabs(["TTFT distribution", "Tokens/s per model", "ITL histogram", "Over time"])
with tabs[0]:
    st.altair_chart(charts.distribution(view.ttft_hist, "TTFT per run", colours=colours),
                    width="stretch")
with tabs[1]:
    tps_title = "Output tokens/s per request (p5 · p25–p75 · p95, tick = p50)"
    st.altair_chart(charts.spread(view.tps_spread, tps_title, "tok/s", colours),
                    width="stretch")
with tabs[2]:
    st.altair_chart(charts.distribution(view.itl_hist, "Every gap between chunks, pooled",
                                        colours=colours), width="stretch")
with tabs[3]:
    st.altair_chart(charts.over_time(view.ttft_over_time, "TTFT over time", "ms", colours),
                    width="stretch")
    st.altair_chart(charts.over_time(view.e2e_over_time, "E2E latency over time", "ms",
                                     colours), width="stretch")

# -- one run ---------------------------------------------------------------------------------
def ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


st.subheader("Run detail")
recent = store.recent(flt, 200)
labels = {
    row.id: (f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(row.created_at))} · "
             f"{row.provider}/{row.model} · {row.status} · "
             f"{' '.join(str(row.preview or '').split()[:6])}")
    for row in recent.itertuples(index=False)
}
run_id = st.selectbox("Run (newest 200 matching the filters)", list(labels),
                      format_func=labels.__getitem__, key="stats_run")
record = store.get(run_id) if run_id else None
if record is not None:
    m = record.metrics()
    cells = st.columns(6)
    cells[0].metric("Status", record.status)
    cells[1].metric("TTFT", ms(m.ttft_s), help="First token of any kind, thinking included.")
    cells[2].metric("TTFAT", ms(m.ttfat_s), help="First answer token.")
    cells[3].metric("E2E", ms(m.e2e_s))
    cells[4].metric("Output tokens", "—" if record.output_tokens is None else record.output_tokens,
                    help=f"source: {record.output_source or 'unknown'}")
    cells[5].metric("Tokens/s", "—" if m.output_tps is None else f"{m.output_tps:.1f}")
    if record.reasoning_offsets_s or record.reasoning_hidden:
        thought = ("hidden by the provider: TTFT includes the thinking"
                   if record.reasoning_hidden and not record.reasoning_offsets_s
                   else f"{ms(m.reasoning_s)} of thinking")
        counted = ("unknown" if record.reasoning_tokens is None
                   else f"{record.reasoning_tokens} ({record.reasoning_source})")
        st.caption(f"🧠 Reasoning: {thought} · reasoning tokens {counted} · answer tokens "
                   f"{'?' if m.answer_tokens is None else m.answer_tokens} · answer decode "
                   + ("—" if m.answer_decode_tps is None else f"{m.answer_decode_tps:.1f} tok/s"))
    cost = prices.cost(record.provider, record.model, record.input_tokens, record.output_tokens)
    in_count = record.input_tokens if record.input_tokens is not None else "?"
    out_count = record.output_tokens if record.output_tokens is not None else "?"
    st.caption(f"{in_count} input tokens ({record.input_source or 'unknown'}), {out_count} "
               f"output ({record.output_source or 'unknown'}) · est. cost: "
               + (f"${cost:.6f} ({prices.label()})" if cost is not None
                  else "none (no price for this model, or a count is unknown)"))
    if record.error:
        st.error(record.error, icon="⚠️")
    if record.chunk_offsets_s:
        st.altair_chart(charts.timeline(chunk_timeline(record.chunk_offsets_s, record.chunk_texts,
                                                       record.output_tokens)),
                        width="stretch")
    else:
        st.caption("This run received no text.")
    with st.expander("Settings and prompt"):
        st.json(redact_settings(record.settings))
        st.text(record.prompt)

# -- export ----------------------------------------------------------------------------------
st.subheader("Export")
st.caption(f"The {view.runs:,} runs matching the filters, each with every chunk's arrival "
           "(seconds since t0, full precision), so any figure here can be recomputed elsewhere.")
chunks = int(view.counts.chunks.sum()) if "chunks" in view.counts else 0
if chunks > 2_000_000:  # ~20 bytes per offset in the file
    st.caption(f"⚠️ About {chunks * 20 / 1e6:,.0f} MB: narrow the filters for a smaller file.")
left, right, _ = st.columns([1, 1, 3])
stamp = time.strftime("%Y%m%d-%H%M%S")
# Built when clicked (a callable), not on every rerun of the page.
left.download_button("Export CSV", lambda: export_csv(store, flt),
                     f"chatlab-runs-{stamp}.csv", "text/csv", on_click="ignore", icon="📄")
right.download_button("Export JSON", lambda: export_json(store, flt, DEFINITIONS),
                      f"chatlab-runs-{stamp}.json", "application/json", on_click="ignore",
                      icon="🧾")
