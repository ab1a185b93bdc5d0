"""AppTest of the stats page over a seeded run store: table values, headline, filters, run
detail, the definitions, and the empty state."""

import json
import time
from datetime import date, timedelta

import numpy as np
import pytest

from chatlib.runs.record import RunRecord

NOW = time.time()
FAST_TTFT = [0.10 + 0.002 * i for i in range(12)]
SLOW_TTFT = [0.30 + 0.002 * i for i in range(8)]


def rec(provider, model, ttft, status="ok", n=5, gap=0.01, **kw) -> RunRecord:
    offsets = [ttft + gap * i for i in range(n)]
    fields = dict(provider=provider, model=model, settings={"model": model, "max_tokens": 64},
                  status=status, created_at=kw.pop("created_at", NOW - 5),
                  chunk_offsets_s=offsets, chunk_texts=["tok "] * n, output_tokens=n,
                  output_source="usage", input_tokens=12, input_source="usage", prompt="seeded")
    fields.update(kw)
    return RunRecord(**fields)


@pytest.fixture
def seeded(store):
    store.add_many([rec("vllm", "fast", t) for t in FAST_TTFT])
    store.add_many([rec("local", "slow", t, page="compare") for t in SLOW_TTFT])
    store.add(rec("vllm", "fast", 9.0, status="stopped"))
    store.add(rec("vllm", "fast", 9.0, status="error", error="Seeded failure: overloaded.",
                  settings={"model": "fast", "extra": {"api_key": "sk-never-shown"}},
                  created_at=NOW - 3))
    store.add(rec("local", "slow", 0.5, created_at=NOW - 10 * 86400))  # old
    return store


def open_stats(app_test):
    at = app_test().run()
    at.switch_page("app_pages/stats.py").run()
    assert not at.exception, at.exception
    return at


def latency(at):
    return next(d.value for d in at.dataframe if "metric" in d.value.columns)


def counts(at):
    return next(d.value for d in at.dataframe if "stopped" in d.value.columns).set_index("model")


def cell(frame, model, metric, column):
    hit = frame[(frame.model == model) & (frame.metric == metric)]
    assert len(hit) == 1
    return hit.iloc[0][column]


def test_empty_store_explains_and_sends_the_user_to_chat(app_test, store):
    at = open_stats(app_test)
    assert "No runs recorded yet" in at.info[0].value
    assert not at.dataframe and not at.get("vega_lite_chart")
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "💬 Chat Lab" and at.chat_input  # the chat page


def test_tables_and_headline_show_the_seeded_figures(app_test, seeded):
    at = open_stats(app_test)
    lat = latency(at)
    all_fast = FAST_TTFT  # stopped and failed runs stay out
    assert cell(lat, "fast", "TTFT (ms)", "p50") == pytest.approx(
        np.percentile(all_fast, 50) * 1000)
    assert cell(lat, "fast", "TTFT (ms)", "p90") == pytest.approx(
        np.percentile(all_fast, 90) * 1000)
    assert cell(lat, "fast", "TTFT (ms)", "runs") == 12
    assert cell(lat, "slow", "TTFT (ms)", "runs") == 9  # 8 recent + 1 old, all time
    assert cell(lat, "fast", "ITL (ms)", "n") == 12 * 4
    assert cell(lat, "fast", "ITL (ms)", "p50") == pytest.approx(10.0)
    assert "–" in cell(lat, "fast", "TTFT (ms)", "p50 95% CI")
    c = counts(at)
    assert tuple(c.loc["fast", ["runs", "ok", "stopped", "error"]]) == (14, 12, 1, 1)
    assert c.loc["fast", "from usage %"] == 100.0
    assert c.loc["slow", "est. cost"] == 0.0  # the embedded model costs nothing
    assert np.isnan(c.loc["fast", "est. cost"]) or c.loc["fast", "est. cost"] is None  # no price
    first = at.metric[0]
    assert first.label == "Fastest first token (p50 TTFT)"
    assert first.value == f"{np.percentile(all_fast, 50) * 1000:.1f} ms"
    verdict = next(m.value for m in at.markdown if m.value.startswith("**vllm · fast**"))
    assert "Clearly ahead of local · slow" in verdict and "n = 12" in verdict
    assert len(at.get("vega_lite_chart")) == 6  # 5 charts in 4 tabs + the run timeline


def test_definitions_are_on_the_page(app_test, seeded):
    at = open_stats(app_test)
    text = at.expander[0].markdown[0].value
    assert "vLLM" in at.expander[0].label
    for phrase in ("TTFT", "first chunk with non-empty text − t0",
                   "(E2E − TTFT) / (streamed tokens − 1)", "TTFAT", "never enter a latency figure"):
        assert phrase in text


def test_filters_narrow_every_figure(app_test, seeded):
    at = open_stats(app_test)
    at.sidebar.multiselect(key="stats_providers").set_value(["local"]).run()
    assert set(latency(at).model) == {"slow"} and list(counts(at).index) == ["slow"]
    assert at.metric[0].value == f"{np.percentile(SLOW_TTFT + [0.5], 50) * 1000:.1f} ms"

    at.sidebar.selectbox(key="stats_range").set_value("Last hour").run()
    assert cell(latency(at), "slow", "TTFT (ms)", "runs") == 8  # the 10-day-old run is out

    at.sidebar.selectbox(key="stats_range").set_value("Custom dates").run()
    today = date.today()
    at.sidebar.date_input(key="stats_dates").set_value((today - timedelta(days=20),
                                                         today - timedelta(days=5))).run()
    assert cell(latency(at), "slow", "TTFT (ms)", "runs") == 1  # only the old run
    at.sidebar.date_input(key="stats_dates").set_value((today,)).run()  # mid-pick: today
    assert cell(latency(at), "slow", "TTFT (ms)", "runs") == 8

    at.sidebar.selectbox(key="stats_range").set_value("All time").run()
    at.sidebar.multiselect(key="stats_providers").set_value([]).run()
    at.sidebar.multiselect(key="stats_statuses").set_value(["error", "stopped"]).run()
    assert not at.exception
    assert "No finished run" in at.info[0].value
    assert tuple(counts(at).loc["fast", ["runs", "ok", "stopped", "error"]]) == (2, 0, 1, 1)

    at.sidebar.multiselect(key="stats_statuses").set_value([]).run()
    at.sidebar.multiselect(key="stats_pages").set_value(["compare"]).run()
    assert set(latency(at).model) == {"slow"}

    at.sidebar.multiselect(key="stats_models").set_value(["fast"]).run()  # compare has no fast
    assert "No run matches these filters" in at.warning[0].value


def test_run_detail_shows_the_error_and_settings_without_a_key(app_test, seeded):
    at = open_stats(app_test)
    picker = at.selectbox(key="stats_run")
    assert len(picker.options) == 23  # every run, newest first
    failed = next(i for i in seeded.runs().id if " · error · " in picker.format_func(i))
    picker.set_value(failed).run()
    assert not at.exception
    assert at.error[0].value == "Seeded failure: overloaded."
    shown = json.dumps(at.json[0].value)
    assert "sk-never-shown" not in shown and "[redacted]" in shown
    assert at.metric[2].label == "Status" and at.metric[2].value == "error"
    assert any("est. cost: none" in c.value for c in at.caption)  # vllm · fast: no price


def test_run_detail_estimates_the_cost_of_a_priced_run(app_test, store):
    store.add(rec("openai", "gpt-4o", 0.2, input_tokens=1000, n=500, output_tokens=500))
    at = open_stats(app_test)
    line = next(c.value for c in at.caption if "est. cost" in c.value)
    # $2.50 / $10.00 per 1M tokens: 1000 in, 500 out.
    assert "$0.007500" in line and "estimate from list prices as of" in line


def shown_cells(frame) -> "object":
    """What a table shows in each cell (its display values), as a person reads it."""
    from streamlit import dataframe_util

    return dataframe_util.convert_arrow_bytes_to_pandas_df(
        frame.proto.arrow_data.styler.display_values)


def test_a_figure_no_run_has_is_shown_as_a_dash_never_as_none(app_test, store):
    """Issue 25: raw "None" in Stats (a table's missing cell, shown as "None")."""
    store.add(rec("scripted", "counted", 0.1))
    store.add(rec("scripted", "uncounted", 0.1, output_tokens=None, output_source=None,
                  input_tokens=None, input_source=None))
    at = open_stats(app_test)
    tables = [shown_cells(d) for d in at.dataframe]
    assert len(tables) == 2
    for table in tables:
        text = table.astype(str).to_numpy().ravel().tolist()
        assert not {"None", "nan", "NaN", "<NA>"} & set(text)
    lat, cnt = tables
    row = lat[(lat.model == "uncounted") & (lat.metric == "Output tok/s per request")].iloc[0]
    assert row["p50"] == row["mean"] == "—"
    row = lat[(lat.model == "counted") & (lat.metric == "TTFT (ms)")].iloc[0]
    assert row["p50"] == "100.0"  # numbers keep their format
    uncounted = cnt[cnt.model == "uncounted"].iloc[0]
    assert uncounted["output tokens"] == uncounted["of which reasoning"] == "—"
    assert uncounted["est. cost"] == "—"
    # The table's values stay numbers (they sort as numbers), only their display changes.
    assert np.isnan(latency(at).set_index("model").loc["uncounted"].query(
        "metric == 'Output tok/s per request'")["p50"].iloc[0])


def test_stats_says_how_many_runs_a_95_interval_takes_as_compare_does(app_test, store):
    """Issue 25: Stats wanted "≥ 6 runs", Compare "at least 5 pairs"."""
    store.add_many([rec("vllm", "fast", 0.1 + 0.01 * i) for i in range(3)])
    store.add_many([rec("local", "slow", 0.3 + 0.01 * i) for i in range(3)])
    at = open_stats(app_test)
    verdict = next(m.value for m in at.markdown if m.value.startswith("**vllm · fast**"))
    assert verdict.endswith("too few for a 95 % interval: it takes at least 6 finished runs "
                            "per model.")
