"""AppTest of the compare page, driven with the real scripted providers (and, marked, the
embedded model). The page builds its providers, which sleep in real time, and the machine is
shared and often loaded: a sleep may wake late by any amount, never early. So these tests
check only what load cannot break: a recorded first-token time or gap is at least the
scripted sleep before it. tests/test_compare.py checks exact figures on virtual clocks and
the timestamps against the moments the provider yielded."""

import threading
import time

import pytest

from chatlib.streaming.live_table import LiveTable
from chatlib.compare.report import export_json, export_markdown, summary
from chatlib.providers.scripted import DEMO_MARKDOWN, DEMO_SCRIPTS
from tests.clocks import HANG_GUARD_S
from ui.limits import SETTING_KEY

DEMO = DEMO_MARKDOWN.strip()


def column_text(column) -> str:
    # The header is a markdown element too; frozen answer blocks follow it.
    return "\n\n".join(m.value.strip() for m in column.markdown[1:])


def pick(at, **models: str):
    for key, model in models.items():
        at.sidebar.selectbox(key=f"{key}_model").set_value(model)
    at.run()


def by_label(store):
    runs = store.runs()
    return {row.label: store.get(row.id) for row in runs.itertuples()}


def test_two_targets_stream_into_their_columns_with_figures_that_match_their_schedules(
        compare, store):
    pick(compare, t0="demo-fast", t1="demo-markdown")
    compare.chat_input[0].set_value("Show me markdown").run()
    assert not compare.exception
    a, b = compare.columns[0], compare.columns[1]
    assert a.markdown[0].value == "#### A · Scripted demo · demo-fast"
    assert b.markdown[0].value == "#### B · Scripted demo · demo-markdown"
    assert column_text(a) == DEMO and column_text(b) == DEMO
    assert "tokens (usage)" in a.caption[0].value and "TPOT" in a.caption[0].value
    records = by_label(store)
    for column, label, model in ((a, "A", "demo-fast"), (b, "B", "demo-markdown")):
        run, script = records[label], DEMO_SCRIPTS[model]
        gaps = [y - x for x, y in zip(run.chunk_offsets_s, run.chunk_offsets_s[1:])]
        assert run.status == "ok" and run.page == "compare" and run.prompt == "Show me markdown"
        # Each column ran its own model's script (the record names it), and no recorded time
        # is shorter than the scripted sleep before it.
        assert run.model == model and len(run.chunk_texts) == len(script.chunks)
        assert run.ttft_s >= script.first_delay_s and min(gaps) >= script.gap_s
        # The column shows the recorded figures.
        assert f"TTFT {run.ttft_s * 1000:.0f} ms" in column.caption[0].value
        assert f"total {run.e2e_s:.2f} s" in column.caption[0].value
    assert records["A"].group_id == records["B"].group_id
    # They ran at the same time: B started before A had finished. Both start within
    # milliseconds of each other and A's answer lasts at least its scripted sleeps (0.65 s,
    # by the checks above), so only targets run one after another cross this line.
    assert records["B"].created_at < records["A"].created_at + records["A"].e2e_s
    labels = [b.label for b in compare.button if "better" in b.label or b.label == "Tie"]
    assert labels == ["A is better", "Tie", "B is better"]


def test_a_target_raising_a_fault_leaves_the_other_complete(compare, store):
    pick(compare, t0="demo-fault", t1="demo-fast")
    compare.chat_input[0].set_value("go").run()
    assert not compare.exception
    failed, ok = compare.columns[0], compare.columns[1]
    assert failed.error[0].value == "The scripted provider failed on purpose."
    assert DEMO.startswith(column_text(failed)[:40]) and column_text(failed)
    assert column_text(ok) == DEMO and ok.caption[0].value.startswith("✅")
    assert {r.label: r.status for r in by_label(store).values()} == {"A": "error", "B": "ok"}


def test_blind_vote_is_stored_and_reveals_the_names(compare, store):
    pick(compare, t0="demo-fast", t1="demo-fast")
    compare.sidebar.checkbox(key="cmp_blind").check().run()
    compare.chat_input[0].set_value("Which is better?").run()
    assert not compare.exception
    assert [c.markdown[0].value for c in compare.columns[:2]] == ["#### A", "#### B"]
    assert not compare.get("download_button")  # the export names targets: vote first
    next(b for b in compare.button if b.label == "B is better").click().run()
    assert not compare.exception
    assert "Vote saved: **B** better" in compare.success[0].value
    assert compare.columns[1].markdown[0].value == "#### B · Scripted demo · demo-fast"
    assert column_text(compare.columns[1]) == DEMO  # the answers are still shown
    votes = store.votes()
    assert list(votes.choice) == ["B"] and list(votes.blind) == [1]
    assert votes.comparison_id[0] == store.runs().group_id[0]
    assert len(store.voted_runs()) == 2
    exports = compare.get("download_button")
    assert len(exports) == 3  # JSON, Markdown, the HTML report


def test_repeat_n_records_every_counted_run_and_shows_percentiles(compare, store):
    pick(compare, t0="demo-fast", t1="demo-fast")
    compare.sidebar.number_input(key="cmp_repeat").set_value(3)
    compare.sidebar.checkbox(key="cmp_warmup").check().run()
    compare.chat_input[0].set_value("again").run()
    assert not compare.exception
    runs = store.runs()
    assert sorted(runs.label) == ["A", "A", "A", "B", "B", "B"]  # warm-ups not recorded
    assert set(runs.page) == {"compare"} and runs.group_id.nunique() == 1
    table = compare.dataframe[0].value
    assert list(table.ok) == [3, 3]
    # demo-fast sleeps 50 ms before its first chunk: a first-token time can only be longer.
    assert table["TTFT ms p50"][0] >= 50 and "TPOT ms p95" in table.columns
    assert "3 of 3 runs" in compare.columns[0].get("progress")[0].proto.text


def test_a_target_that_cannot_be_built_is_shown_and_nothing_runs(app_test, store):
    at = app_test()
    at.switch_page("app_pages/compare.py").run()
    at.sidebar.text_input(key="t0_gguf_path").set_value("/nonexistent/model.gguf").run()
    assert "Model file not found" in at.sidebar.error[0].value
    at.chat_input[0].set_value("hello").run()
    assert not at.exception
    assert "Fix the targets" in at.error[0].value and store.count() == 0


def test_export_is_offered_once_a_comparison_ran(compare):
    assert not compare.get("download_button")
    pick(compare, t0="demo-fast", t1="demo-fast")
    compare.chat_input[0].set_value("export me").run()
    labels = [b.proto.label for b in compare.get("download_button")]
    assert labels == ["Export JSON", "Export Markdown", "Export report (HTML)"]


@pytest.mark.model
def test_embedded_model_and_scripted_demo_side_by_side(app_test, store):
    at = app_test()
    at.switch_page("app_pages/compare.py").run()
    at.sidebar.number_input(key="cmp_max_tokens").set_value(16).run()
    at.sidebar.selectbox(key="t1_model").set_value("demo-fast").run()
    at.chat_input[0].set_value("Say hello.").run()
    assert not at.exception
    assert at.columns[0].markdown[0].value.startswith("#### A · Embedded model")
    assert column_text(at.columns[0]) and column_text(at.columns[1]) == DEMO
    records = by_label(store)
    assert records["A"].provider == "local" and records["A"].output_source == "tokenizer"
    assert records["B"].provider == "scripted" and records["B"].status == "ok"


def test_an_openai_target_streams_beside_a_scripted_one_and_local_runs_are_not_limited(
        compare, store, monkeypatch):
    from tests.wire import openai_wire as ow
    from tests.wire.server import Reply, WireServer

    key = "sk-compare-0123456789abcdef"
    with WireServer() as server:
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        compare.sidebar.selectbox(key="t0_provider").set_value("openai").run()
        compare.sidebar.text_input(key="t0_model_id_openai").set_value("gpt-4o-mini").run()
        pick(compare, t1="demo-fast")
        server.script(Reply(events=ow.stream(["Hello ", "from ", "OpenAI."], usage=(20, 3)),
                            gap_s=0.02))
        compare.chat_input[0].set_value("Say hello").run()
        assert not compare.exception
        assert compare.columns[0].markdown[0].value == "#### A · OpenAI · gpt-4o-mini"
        assert column_text(compare.columns[0]) == "Hello from OpenAI."
        assert "3 tokens (usage)" in compare.columns[0].caption[0].value
        assert "cost ≈ $0.0000048" in compare.columns[0].caption[0].value  # 20 in, 3 out
        assert "cost $0" in compare.columns[1].caption[0].value
        assert column_text(compare.columns[1]) == DEMO
        [post] = server.posts
        assert post.json["messages"][-1] == {"role": "user", "content": "Say hello"}
        # Not OpenAI's own API: the field every compatible server honours.
        assert post.json["max_tokens"] == 256 and post.json["temperature"] == 0.7
        runs = by_label(store)
        a = runs["A"]
        assert (a.provider, a.output_tokens, a.input_tokens) == ("openai", 3, 20)
        comparison = compare.session_state["comparison"]
        assert key not in export_json(comparison) and key not in export_markdown(comparison)
        # 3 runs at a paid limit of 2 a minute: a server on this machine is never paid, so
        # all three are sent (the limit itself: tests/test_ratelimit.py).
        assert not [n for n in compare.sidebar.number_input if n.key == "paid_rpm"]
        compare.session_state[SETTING_KEY] = 2  # set for paid targets: not offered here
        compare.sidebar.number_input(key="cmp_repeat").set_value(3).run()
        compare.sidebar.checkbox(key="cmp_warmup").uncheck().run()
        server.script(*[Reply(events=ow.stream(["again"], usage=(20, 1)))] * 3)
        compare.chat_input[0].set_value("Again").run()
        assert not compare.exception and compare.error.len == 0
        assert len(server.posts) == 4 and store.count() == 2 + 6


def test_a_recorded_run_can_be_replayed_as_a_target(compare, store):
    pick(compare, t0="demo-fast", t1="demo-fast")
    compare.chat_input[0].set_value("record me").run()
    compare.sidebar.selectbox(key="t1_provider").set_value("replay").run()
    assert not compare.exception
    compare.chat_input[0].set_value("replay beside a live one").run()
    assert not compare.exception
    assert compare.columns[1].markdown[0].value.startswith("#### B · ")
    assert column_text(compare.columns[1]) == DEMO
    runs = store.runs()
    latest = runs[runs.group_id == runs.group_id.iloc[-1]]
    assert sorted(latest.provider) == ["replay", "scripted"]


# -- a comparison's URL: ?compare=<id> --------------------------------------------------------

def restarted_server(monkeypatch) -> None:
    """What a new server process has: no comparison in its table of live ones (so a URL is
    served from the store)."""
    import chatlib.compare.comparisons

    monkeypatch.setattr(chatlib.compare.comparisons, "_LIVE", LiveTable())


def open_url(app_test, comparison_id: str):
    """A new session (a fresh tab) opened at the compare page's URL for ``comparison_id``."""
    at = app_test()
    at.switch_page("app_pages/compare.py")
    at.query_params["compare"] = comparison_id
    at.run()
    assert not at.exception
    return at


def shown(at) -> dict:
    """What a user sees of a comparison: each column's header, answer and figures, the
    captions, vote and statistics under them."""
    columns = [c for c in at.main.columns if c.markdown]
    table = at.main.dataframe[0].value if at.main.dataframe else None
    return {
        "headers": [c.markdown[0].value for c in columns],
        "answers": [column_text(c) for c in columns],
        "figures": [[x.value for x in c.caption] for c in columns],
        "counters": [[p.proto.text for p in c.get("progress")] for c in columns],
        # (not the notes on the targets the sidebar has picked now: "ℹ️ ...")
        "captions": [x.value for x in at.main.caption if not x.value.startswith("ℹ️")],
        "success": [x.value for x in at.main.success],
        "buttons": [b.label for b in at.main.button],
        "table": None if table is None else table.to_dict(orient="list"),
    }


def test_a_finished_comparison_reopens_from_its_url_with_its_answers_figures_and_vote(
        compare, app_test, store, monkeypatch):
    pick(compare, t0="demo-fast", t1="demo-markdown")
    compare.sidebar.checkbox(key="cmp_blind").check().run()
    compare.chat_input[0].set_value("Reopen me").run()
    assert not compare.exception
    comparison_id = compare.query_params["compare"]  # the URL names the comparison
    assert comparison_id == compare.session_state["comparison"].id == store.runs().group_id[0]
    next(b for b in compare.button if b.label == "B is better").click().run()
    assert compare.query_params["compare"] == comparison_id
    finished = shown(compare)
    assert finished["answers"] == [DEMO, DEMO] and "Vote saved: **B** better" in \
        finished["success"][0]
    assert all(f[0].startswith("✅ TTFT") for f in finished["figures"])
    # A fresh tab on this server: the comparison this process still holds...
    assert shown(open_url(app_test, comparison_id)) == finished
    # ...and on a restarted server, read back from the store: the same page.
    restarted_server(monkeypatch)
    reopened = open_url(app_test, comparison_id)
    assert shown(reopened) == finished
    assert not [b for b in reopened.button if b.label.endswith("is better")]
    assert [b.proto.label for b in reopened.get("download_button")] == [
        "Export JSON", "Export Markdown", "Export report (HTML)"]


def test_a_reopened_comparison_not_yet_voted_on_takes_the_vote_and_stores_it(
        compare, app_test, store, monkeypatch):
    pick(compare, t0="demo-fast", t1="demo-fast")
    compare.sidebar.checkbox(key="cmp_blind").check().run()
    compare.chat_input[0].set_value("Vote later").run()
    comparison_id = compare.query_params["compare"]
    restarted_server(monkeypatch)
    at = open_url(app_test, comparison_id)
    assert [c.markdown[0].value for c in at.columns[:2]] == ["#### A", "#### B"]  # still blind
    assert [column_text(c) for c in at.columns[:2]] == [DEMO, DEMO]
    next(b for b in at.button if b.label == "A is better").click().run()
    assert not at.exception
    assert "Vote saved: **A** better" in at.success[0].value
    assert at.columns[0].markdown[0].value == "#### A · Scripted demo · demo-fast"
    votes = store.votes()
    assert list(votes.comparison_id) == [comparison_id] and list(votes.choice) == ["A"]
    assert "Vote saved: **A** better" in open_url(app_test, comparison_id).success[0].value


def test_an_unknown_comparison_id_shows_a_warning(app_test, store):
    at = open_url(app_test, "0123456789abcdef0123456789abcdef")
    assert "no comparison with that id" in at.warning[0].value
    assert "Pick the targets" in at.markdown[-1].value
    assert "compare" not in at.query_params


def test_each_prompt_is_a_comparison_with_its_own_url(compare, store):
    pick(compare, t0="demo-fast", t1="demo-fast")
    compare.chat_input[0].set_value("first").run()
    first = compare.query_params["compare"]
    compare.chat_input[0].set_value("second").run()  # the same targets: the next turn
    second = compare.query_params["compare"]
    assert first != second and set(store.runs().group_id) == {first, second}
    assert [m.text[0].value for m in compare.chat_message] == ["first", "second"]


def test_repeat_n_stopped_mid_way_shows_the_stores_count_of_runs_per_target(
        compare, app_test, store, monkeypatch):
    # demo-markdown runs last at least 3 s each (its scripted sleeps); 5 per target: a stop
    # once each target has stored one lands long before the end.
    pick(compare, t0="demo-markdown", t1="demo-markdown")
    compare.sidebar.number_input(key="cmp_repeat").set_value(5).run()
    stopper = stop_once(store, lambda runs: set(runs.label) == {"A", "B"})
    compare.chat_input[0].set_value("Count me").run()  # returns once every lane has ended
    stopper.join(HANG_GUARD_S)
    assert not compare.exception and stopper.stopped
    counts = store.runs().label.value_counts().to_dict()
    finished = shown(compare)
    assert finished["counters"] == [[f"{counts['A']} of 5 runs"], [f"{counts['B']} of 5 runs"]]
    assert all(1 <= n < 5 for n in counts.values())
    table = compare.dataframe[0].value
    assert [table.ok[i] + table.stopped[i] + table.failed[i] for i in (0, 1)] == [
        counts["A"], counts["B"]]
    assert "Stopped: no vote on a stopped comparison." in finished["captions"]
    restarted_server(monkeypatch)
    assert shown(open_url(app_test, compare.query_params["compare"])) == finished


def stop_once(store, ready, group=lambda runs: runs.group_id[0]):
    """A thread that stops the comparison being run (as its Stop button does) once
    ``ready(runs)`` holds for its stored runs (``group(runs)``: which comparison)."""
    from chatlib.compare.comparisons import Comparisons
    from chatlib.store import ComparisonStore

    def run() -> None:
        deadline = time.monotonic() + 60  # a hang guard
        while time.monotonic() < deadline:
            runs = store.runs()
            if not runs.empty and ready(runs):
                comparison = Comparisons(ComparisonStore(store)).open(group(runs))
                comparison.stop()
                thread.stopped = True
                return
            time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.stopped = False
    thread.start()
    return thread


def test_a_thinking_target_shows_its_thinking_and_ttfat_beside_ttft(compare, store):
    # demo-thinking thinks for ~1.5 s before it answers; demo-fast answers at once.
    pick(compare, t0="demo-thinking", t1="demo-fast")
    compare.chat_input[0].set_value("Think, then answer").run()
    assert not compare.exception
    a, b = compare.columns[0], compare.columns[1]
    (block,) = a.status
    assert block.label.startswith("Thought for ") and block.state == "complete"
    assert not b.status  # a model that does not think gets no block
    runs = by_label(store)
    thinker = runs["A"]
    assert block.markdown[0].value == thinker.reasoning.strip()
    assert thinker.reasoning not in column_text(b)
    assert "first answer token" in a.caption[0].value
    m = thinker.metrics()
    assert m.ttfat_s > m.ttft_s and thinker.reasoning_tokens > 0
    table = summary(compare.session_state["comparison"]).set_index("target")
    row = table.loc["A · Scripted demo · demo-thinking"]
    assert row["TTFAT ms p50"] == pytest.approx(m.ttfat_s * 1000)
    assert row["TTFT ms p50"] == pytest.approx(m.ttft_s * 1000)
    assert row["reasoning tokens p50"] == thinker.reasoning_tokens
    fast = table.loc["B · Scripted demo · demo-fast"]
    assert fast["TTFAT ms p50"] == pytest.approx(fast["TTFT ms p50"])
    report = export_markdown(compare.session_state["comparison"])
    assert "Thinking (" in report and thinker.reasoning.split()[0] in report


def test_repeats_give_paired_verdicts_and_flagged_runs_can_be_kept_in(compare, store):
    pick(compare, t0="demo-fast", t1="demo-fast")
    compare.sidebar.number_input(key="cmp_repeat").set_value(7).run()
    compare.sidebar.checkbox(key="cmp_warmup").uncheck().run()  # so round 1 runs cold
    compare.chat_input[0].set_value("Race").run()
    assert not compare.exception
    lines = [m.value for m in compare.markdown if "paired runs" in m.value]
    assert len(lines) == 3  # TTFT, tok/s, E2E for the one pair (both free: no cost verdict)
    assert all("6 paired runs" in line for line in lines)  # round 1 is cold: left out
    keep = compare.multiselect(key=next(k for k in compare.session_state
                                        if str(k).startswith("keep_flags_")))
    assert "cold" in keep.options or "cold first run (no warm-up)" in keep.options
    keep.set_value(["cold"]).run()
    lines = [m.value for m in compare.markdown if "paired runs" in m.value]
    assert lines and all("7 paired runs" in line for line in lines)
    assert store.count() == 14


# -- the race chart under the columns -----------------------------------------------------------

def race_caption(at) -> list[str]:
    """The race caption's lines after its explanation: one per target."""
    (caption,) = [c.value for c in at.main.caption if c.value.startswith("Answer characters")]
    return caption.split("  \n")[1:]


def chart_data(chart, mark: str):
    """The rows of ``chart``'s layer drawn with ``mark`` (each layer's data travels as an
    Arrow dataset named in the spec)."""
    import json

    import pyarrow as pa

    spec = json.loads(chart.proto.spec)
    datasets = {d.name: d.data.data for d in chart.proto.datasets}
    (layer,) = [la for la in spec["layer"] if la["mark"]["type"] == mark]
    return pa.ipc.open_stream(datasets[layer["data"]["name"]]).read_all().to_pandas()


def expected_race_line(title: str, run) -> str:
    """The caption's line for ``run``, recomputed from its stored chunks."""
    total, to_n = 0, None
    for offset, text in zip(run.chunk_offsets_s, run.chunk_texts):
        total += len(text)
        if to_n is None and total >= 100:
            to_n = offset
    arrivals = sorted(run.chunk_offsets_s + run.reasoning_offsets_s)
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    at = gaps.index(max(gaps))  # the first of the longest
    stall = f"{gaps[at] * 1000:.0f} ms" if gaps[at] < 1 else f"{gaps[at]:.2f} s"
    return (f"**{title}**: first 100 answer characters at {to_n:.2f} s · longest stall "
            f"{stall} at {arrivals[at]:.2f} s")


def test_the_race_chart_plots_each_targets_recorded_chunks_with_time_to_100_and_stall(
        compare, store):
    import json

    pick(compare, t0="demo-thinking", t1="demo-fast")
    compare.chat_input[0].set_value("Race").run()
    assert not compare.exception
    (chart,) = compare.get("vega_lite_chart")
    runs = by_label(store)
    titles = {"A": "A · Scripted demo · demo-thinking", "B": "B · Scripted demo · demo-fast"}
    # The caption names both targets, with the figures the stored chunks give.
    assert race_caption(compare) == [expected_race_line(titles[k], runs[k]) for k in "AB"]
    # Each line is its run's chunks: from t0 with nothing, then the answer characters so far
    # at every chunk (thinking chunks add none).
    lines = chart_data(chart, "line")
    for label, run in runs.items():
        got = lines[lines.target == titles[label]]
        merged = sorted([(t, 0, 0) for t in run.reasoning_offsets_s]
                        + [(t, 1, len(x)) for t, x in zip(run.chunk_offsets_s, run.chunk_texts)])
        want, total = [(0.0, 0)], 0
        for t, _, n in merged:
            total += n
            want.append((t, total))
        assert list(zip(got.t_s, got.answer_chars)) == want
        assert want[-1][1] == len(run.text)
    # The thinker's thinking is shaded, from its first thinking chunk to its first answer.
    thinking = chart_data(chart, "rect")
    thinker = runs["A"]
    assert list(zip(thinking.target, thinking.from_s, thinking.to_s)) == [
        (titles["A"], thinker.reasoning_offsets_s[0], thinker.chunk_offsets_s[0])]
    line_layer = [la for la in json.loads(chart.proto.spec)["layer"]
                  if la["mark"]["type"] == "line"]
    assert line_layer[0]["encoding"]["y"]["title"] == "answer characters (cumulative)"


def test_a_blind_race_names_only_the_labels_until_the_vote(compare, store):
    pick(compare, t0="demo-fast", t1="demo-fast")
    compare.sidebar.checkbox(key="cmp_blind").check().run()
    compare.chat_input[0].set_value("Blind race").run()
    assert not compare.exception
    lines = race_caption(compare)
    assert [line.split("**")[1] for line in lines] == ["A", "B"]
    assert "demo-fast" not in " ".join(lines)
    assert set(chart_data(compare.get("vega_lite_chart")[0], "line").target) == {"A", "B"}
    next(b for b in compare.button if b.label == "A is better").click().run()
    assert [line.split("**")[1] for line in race_caption(compare)] == [
        "A · Scripted demo · demo-fast", "B · Scripted demo · demo-fast"]


# -- multi-turn compare ----------------------------------------------------------------------

def test_the_next_prompt_goes_to_every_target_with_its_own_history(
        compare, app_test, store, monkeypatch):
    # It reads what the provider object in this process was sent: its answers are read here.
    monkeypatch.setenv("CHATLAB_ENGINE", "inline")
    pick(compare, t0="demo-fast", t1="demo-fault")  # B fails after 40 chunks: a partial
    compare.sidebar.toggle(key="t0_own").set_value(True).run()
    compare.sidebar.slider(key="t0_own_temperature").set_value(0.2).run()
    compare.chat_input[0].set_value("First question").run()
    first = compare.session_state["comparison"]
    assert compare.columns[0].caption[0].value.startswith("own settings: temperature 0.2")
    assert "Next prompt" in compare.chat_input[0].proto.placeholder
    compare.chat_input[0].set_value("Second question").run()
    assert not compare.exception
    second = compare.session_state["comparison"]
    assert second.id != first.id and second.parent_id == first.id
    assert compare.query_params["compare"] == second.id
    answers = {t.label: t.runs[-1].text for t in first.targets}
    for target in second.targets:
        messages, settings = target.provider.calls[-1]
        assert [(m.role, m.content) for m in messages if m.role != "system"] == [
            ("user", "First question"), ("assistant", answers[target.label]),
            ("user", "Second question")]
    assert second.targets[0].settings.temperature == 0.2  # its own settings
    assert second.targets[1].settings.temperature == 0.7
    # Both turns are on the page: the earlier prompt, then the current one.
    users = [m.text[0].value for m in compare.chat_message]
    assert users == ["First question", "Second question"]
    # Reopened from the store in a new server process: both turns are back.
    restarted_server(monkeypatch)
    again = open_url(app_test, second.id)
    assert [m.text[0].value for m in again.chat_message] == users
    # ...and it can go on, with the targets the sidebar picks that match.
    again.sidebar.selectbox(key="t0_provider").set_value("scripted").run()
    pick(again, t0="demo-fast", t1="demo-fault")
    again.chat_input[0].set_value("Third question").run()
    assert not again.exception
    assert not [e for e in again.error if "To continue" in e.value]
    third = again.session_state["comparison"]
    assert third.parent_id == second.id
    messages, _ = third.targets[0].provider.calls[-1]
    assert [m.content for m in messages if m.role == "user"] == [
        "First question", "Second question", "Third question"]


def test_other_targets_start_a_new_comparison_and_new_comparison_starts_afresh(
        compare, app_test, store, monkeypatch):
    pick(compare, t0="demo-fast", t1="demo-markdown")
    compare.chat_input[0].set_value("Only once").run()
    first = compare.session_state["comparison"]
    restarted_server(monkeypatch)
    again = open_url(app_test, first.id)
    again.sidebar.selectbox(key="t0_provider").set_value("scripted").run()
    pick(again, t0="demo-fast", t1="demo-fault")  # not the same targets any more
    assert again.chat_input[0].proto.placeholder == "One prompt for every target"
    again.chat_input[0].set_value("And then?").run()
    fresh = again.session_state["comparison"]
    assert fresh.id != first.id and fresh.parent_id is None
    assert [m.text[0].value for m in again.chat_message] == ["And then?"]
    # The same targets, but "New comparison": the next prompt starts afresh too.
    again.button(key="new_comparison").click().run()
    assert "compare" not in again.query_params
    again.chat_input[0].set_value("Afresh").run()
    assert again.session_state["comparison"].parent_id is None


def test_continue_in_chat_moves_a_targets_conversation_into_a_stored_chat(compare, store):
    from chatlib.store import ChatStore

    pick(compare, t0="demo-fast", t1="demo-markdown")
    compare.chat_input[0].set_value("Start here").run()
    compare.chat_input[0].set_value("Then this").run()
    second = compare.session_state["comparison"]
    compare.button(key=f"to_chat_{second.id}_A").click().run()
    assert not compare.exception
    chat = ChatStore(store).get(compare.query_params["chat"])
    assert [(t.role, t.content) for t in chat.turns] == [
        ("user", "Start here"), ("assistant", DEMO_MARKDOWN), ("user", "Then this"),
        ("assistant", DEMO_MARKDOWN)]
    assert chat.settings["model"] == "demo-fast" and chat.settings["provider"] == "scripted"
    assert [m.text[0].value for m in compare.chat_message if m.text][:1] == ["Start here"]


def test_a_stopped_partial_continued_in_chat_keeps_its_marker_and_its_figures(compare, store):
    """Issue 25: "Continue with A in Chat" dropped a partial's Stopped marker and its
    figures. Each answer comes over as the chat shows its own: marked, with its run's line."""
    from chatlib.chat.answers import run_summary
    from chatlib.store import ChatStore

    # demo-markdown takes over 3 s, demo-fast under one: B's run is stored while A streams.
    pick(compare, t0="demo-markdown", t1="demo-fast")
    compare.chat_input[0].set_value("Start here").run()
    first_id = compare.query_params["compare"]
    stopper = stop_once(store, lambda runs: list(runs.label).count("B") == 2,
                        group=lambda runs: next(g for g in runs.group_id if g != first_id))
    compare.chat_input[0].set_value("Then this").run()
    stopper.join(HANG_GUARD_S)
    assert not compare.exception and stopper.stopped
    second = compare.session_state["comparison"]
    partial = second.targets[0].last_record
    assert partial.status == "stopped" and DEMO_MARKDOWN.startswith(partial.text)
    compare.button(key=f"to_chat_{second.id}_A").click().run()
    assert not compare.exception
    chat = ChatStore(store).get(compare.query_params["chat"])
    turns = [(t.role, t.status, t.content, t.summary) for t in chat.turns]
    done = next(r for r in map(store.get, store.runs().id) if r.label == "A"
                and r.status == "ok")
    assert turns == [("user", "ok", "Start here", None),
                     ("assistant", "ok", DEMO_MARKDOWN, run_summary(done)),
                     ("user", "ok", "Then this", None),
                     ("assistant", "stopped", partial.text, run_summary(partial))]
    assert chat.turns[3].run_id == partial.id
    # The chat page shows the partial as it shows its own stopped answer.
    answer = compare.chat_message[3]
    captions = [c.value for c in answer.caption]
    assert "⏹ Stopped: partial answer kept." in captions
    assert f"scripted · demo-markdown · {run_summary(partial)}" in captions
    assert f"scripted · demo-markdown · {run_summary(done)}" in [
        c.value for c in compare.chat_message[1].caption]


# -- prompt sets -----------------------------------------------------------------------------

def test_a_stored_prompt_set_reopens_from_its_url_with_its_grid(app_test, store):
    from chatlib.compare.comparison import SharedSettings
    from chatlib.evals.runner import grid, resolve_targets, run_prompt_set
    from chatlib.evals.prompt_sets import parse_csv

    cases = parse_csv("id,prompt,contains\nmd,Show me,Chat Lab\nno,Say it,NOT THERE\n")
    run = run_prompt_set(cases, resolve_targets(["scripted:demo-fast"]), store=store, repeat=2,
                         shared=SharedSettings(max_tokens=64), source="set.csv")
    at = app_test()
    at.switch_page("app_pages/compare.py")
    at.query_params["prompt_set"] = run.id
    at.run()
    assert not at.exception
    (table,) = [d.value for d in at.main.dataframe if "checks passed" in d.value.columns]
    assert table.to_dict(orient="list") == grid(run).to_dict(orient="list")
    checks = [c for r in run.results() for c in r.checks]
    passed = sum(c.passed for c in checks)
    assert any(f"❌ {passed} of {len(checks)} checks passed" in m.value for m in at.markdown)
    assert "Report (HTML)" in [b.proto.label for b in at.get("download_button")]
    # A stopped prompt set runs no more prompts after the stop.
    stop = threading.Event()
    stop.set()
    stopped = run_prompt_set(cases, resolve_targets(["scripted:demo-fast"]), store=store,
                             stop=stop)
    assert stopped.stopped and not stopped.cases and not stopped.passed


# -- one colour per target ----------------------------------------------------------------------
def test_each_target_has_one_colour_in_its_column_the_race_and_the_dot_plots(compare):
    import json

    from chatlib.core.palette import colour_for

    pick(compare, t0="demo-fast", t1="demo-fast")
    compare.sidebar.number_input(key="cmp_repeat").set_value(2).run()
    compare.chat_input[0].set_value("Colours").run()
    assert not compare.exception
    a, b = colour_for("A"), colour_for("B")
    assert a != b
    # A bar of the target's colour over each column's heading.
    for column, colour in zip(compare.columns[:2], (a, b)):
        (bar,) = [e for e in column if e.type == "html"]
        assert f"background:{colour}" in bar.proto.body
    # The race, then the TTFT and tok/s dot plots: A and B in those colours in each.
    titles = ["A · Scripted demo · demo-fast", "B · Scripted demo · demo-fast"]
    charts = compare.get("vega_lite_chart")
    assert len(charts) == 3
    for chart in charts:
        spec = json.loads(chart.proto.spec)
        scales = [la["encoding"]["color"]["scale"] for la in spec["layer"]
                  if "scale" in la["encoding"].get("color", {})]
        assert scales and all(dict(zip(s["domain"], s["range"])) == dict(zip(titles, (a, b)))
                              for s in scales)


def test_three_targets_at_three_runs_read_as_a_stakeholder_reads_them(compare, store):
    """Issue 25: the runs field says what a verdict needs, the answers are shown (not folded),
    the too-few-pairs verdicts are one line (not one per pair and figure), the vote buttons
    say the same thing for three targets as for two, and the details are folded."""
    compare.sidebar.number_input(key="cmp_count").set_value(3).run()
    pick(compare, t0="demo-fast", t1="demo-fast", t2="demo-fast")
    compare.sidebar.number_input(key="cmp_repeat").set_value(3).run()
    # The warm-up is on by default: every run counts.
    assert any("3 runs give 3 pairs of runs: a verdict needs 6. Set 6 for a verdict."
               == c.value for c in compare.sidebar.caption)
    compare.chat_input[0].set_value("Show me markdown").run()
    assert not compare.exception
    for column in compare.columns[:3]:
        assert any(m.value.strip() == DEMO for m in column.markdown)  # the last answer, shown
        assert not column.expander
    too_few = [m.value for m in compare.markdown if "too few for a 95 % interval" in m.value]
    assert too_few == ["❔ 3 paired runs per pair of targets: too few for a 95 % interval: it "
                       "takes at least 6 paired runs. Set Runs per target to 6 or more."]
    assert [b.label for b in compare.button if b.label.endswith("is better")] == [
        "A is better", "B is better", "C is better"]
    details = next(e for e in compare.expander
                   if e.label == "Details: statistics, every run and the verdicts")
    assert details.dataframe  # the statistics table is inside the fold


def test_a_finished_comparison_says_its_result_first_and_presents_full_screen(
        compare, app_test, store):
    """Issue 25: the one-line result above the columns, and presentation mode: the answers
    race again on their recorded times, then the race chart and the same result line; no
    sidebar widget, no input, no vote."""
    pick(compare, t0="demo-fast", t1="demo-markdown")
    compare.chat_input[0].set_value("Show me markdown").run()
    assert not compare.exception
    result = compare.info[0].value
    assert result.startswith("One run each cannot separate them: 6 runs per target give")
    link = next(p for p in compare.get("page_link") if p.proto.label == "Present")
    comparison_id = store.runs().group_id.iloc[0]
    assert link.proto.query_string == f"compare={comparison_id}"

    room = app_test()
    room.query_params["compare"] = comparison_id
    room.switch_page("app_pages/present.py").run()
    assert not room.exception
    assert room.markdown[0].value == "## Show me markdown"
    titles = [m.value for m in room.markdown if m.value.startswith("### ")]
    assert titles == ["### A · Scripted demo · demo-fast", "### B · Scripted demo · demo-markdown"]
    for column in room.columns[:2]:  # each answer arrived again, whole
        assert any(m.value.strip() == DEMO for m in column.markdown)
    assert room.info[0].value == result
    assert room.get("vega_lite_chart"), "the race chart"
    assert not room.sidebar.selectbox and not room.chat_input and not [
        b for b in room.button if b.label.endswith("is better")]
