"""chatlib.compare.comparison: targets stream together, each timed in its own reader; faults
and slow targets stay in their own lane; repeat-N, blind votes, export.

Timing (2-core machine shared with other jobs): schedules are slept on a ``ThreadClock``
(each pump thread its own virtual time line), so recorded figures are exact; who ran at the
same time as whom is shown by streams that wait for each other (``Rendezvous``) or for the
test (a gate), never by comparing wall-clock times. The one real-time check compares the
pump's timestamps with the moments the provider yielded (``EmitClock``)."""

import json
import random
import sqlite3
import statistics
import threading
import time

import pytest

from chatlib.streaming.live_table import LiveTable
from chatlib.compare.comparison import TIE, Comparison, SharedSettings, TargetSpec
from chatlib.compare.report import export_json, export_markdown, run_table, summary, to_dict
from chatlib.compare.comparisons import Comparisons
from chatlib.core.errors import AuthError
from chatlib.providers.local import LocalProvider
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.runs.record import RunRecord
from chatlib.store import ComparisonStore, RunStore
from chatlib.store.migrations_sqlite import MIGRATIONS
from chatlib.core.tokens import FunctionCounter
from chatlib.core.types import Message, Settings, TextDelta
from tests.clocks import (
    HANG_GUARD_S,
    MODEL_HANG_GUARD_S,
    Recorded,
    Rendezvous,
    ThreadClock,
    wait_for,
)

CHARS = FunctionCounter("chars", len)
SHARED = SharedSettings(system_prompt="Be brief.", max_tokens=64, temperature=0.3)


def scripted(n: int, first: float, gap: float, *, sleep=time.sleep, **kwargs) -> TargetSpec:
    script = Script(chunks=tuple(f"w{i} " for i in range(n)), first_delay_s=first, gap_s=gap,
                    **kwargs)
    return TargetSpec(ScriptedProvider(script, sleep=sleep), "scripted", CHARS)


def recorded(spec: TargetSpec, **kwargs) -> TargetSpec:
    """``spec`` with its provider wrapped in ``Recorded`` (see tests/clocks.py)."""
    return TargetSpec(Recorded(spec.provider, **kwargs), spec.model, spec.counter, spec.extra)


def gaps(record: RunRecord) -> list[float]:
    offsets = record.chunk_offsets_s
    return [b - a for a, b in zip(offsets, offsets[1:])]


def test_targets_stream_at_once_and_each_keeps_its_own_schedule():
    # Each target sleeps its schedule on its own pump thread's virtual time line, so each
    # record must show exactly its own schedule: a timestamp taken anywhere but in that
    # target's reader, or a target timed with the other's schedule, gives other figures.
    # Both streams wait for each other before their first chunk (Rendezvous): targets run
    # one after another never meet, the barrier breaks and both runs fail.
    saved: list[RunRecord] = []
    clock, meet = ThreadClock(), Rendezvous(2)
    fast = recorded(scripted(30, 0.05, 0.005, sleep=clock.sleep), before=meet.meet)
    slow = recorded(scripted(20, 0.15, 0.02, sleep=clock.sleep), before=meet.meet)
    comparison = Comparison("hi", [fast, slow], SHARED, on_done=saved.append,
                            clock=clock).start()
    assert comparison.wait(HANG_GUARD_S)
    a, b = comparison.targets
    ra, rb = a.last_record, b.last_record
    assert (ra.status, rb.status) == ("ok", "ok"), (ra.error, rb.error)
    assert ra.ttft_s == pytest.approx(0.05, abs=1e-9) and rb.ttft_s == pytest.approx(0.15, abs=1e-9)
    assert gaps(ra) == pytest.approx([0.005] * 29, abs=1e-9)
    assert gaps(rb) == pytest.approx([0.02] * 19, abs=1e-9)
    assert {r.id for r in saved} == {ra.id, rb.id}
    assert all(r.page == "compare" and r.group_id == comparison.id for r in saved)
    assert sorted(r.label for r in saved) == ["A", "B"]


class EmitClock(ScriptedProvider):
    """A scripted provider that notes when it yields each chunk, relative to the moment its
    stream began: the truth the pump's reader timestamps are checked against."""

    def stream(self, messages, settings):
        start = time.monotonic()
        self.emitted = []
        for event in super().stream(messages, settings):
            if isinstance(event, TextDelta):
                self.emitted.append(time.monotonic() - start)
            yield event


def test_four_concurrent_streams_are_timestamped_as_exactly_as_one():
    def errors(n_targets: int) -> list[float]:
        providers = [EmitClock(Script(chunks=tuple(f"c{i} " for i in range(40)),
                                      first_delay_s=0.02, gap_s=0.005)) for _ in range(n_targets)]
        comparison = Comparison("hi", [TargetSpec(p, "scripted", CHARS) for p in providers],
                                SHARED).start()
        assert comparison.wait(10)
        return [abs(o - e) for t, p in zip(comparison.targets, providers)
                for o, e in zip(t.last_record.chunk_offsets_s, p.emitted)]

    alone, four = errors(1), errors(4)
    assert len(alone) == 40 and len(four) == 160
    assert statistics.median(alone) < 0.002 and statistics.median(four) < 0.002


def test_shared_settings_reach_every_target_identically(monkeypatch):
    # It reads what the provider object in this process was sent: its answers are read here.
    monkeypatch.setenv("CHATLAB_ENGINE", "inline")
    first, second = scripted(3, 0, 0), scripted(3, 0, 0)
    comparison = Comparison("Tell me", [first, second], SHARED).start()
    comparison.wait(5)
    sent = [spec.provider.calls[0] for spec in (first, second)]
    for messages, settings in sent:
        assert [(m.role, m.content) for m in messages] == [
            ("system", "Be brief."), ("user", "Tell me")]
        assert (settings.max_tokens, settings.temperature, settings.system_prompt) == (
            64, 0.3, "Be brief.")
    record = comparison.targets[0].last_record
    assert record.prompt == "Tell me" and record.input_tokens > 0
    assert record.input_source == "tokenizer"


def test_a_failing_target_leaves_the_other_complete():
    broken = scripted(20, 0.01, 0.005, fault_at=5, fault=AuthError("Bad key for target."))
    fine = scripted(40, 0.02, 0.005)
    comparison = Comparison("hi", [broken, fine], SHARED).start()
    assert comparison.wait(10)
    failed, ok = (t.last_record for t in comparison.targets)
    assert failed.status == "error" and failed.error == "Bad key for target."
    assert failed.text == "w0 w1 w2 w3 w4 "  # the partial answer is kept
    assert ok.status == "ok" and ok.text == "".join(f"w{i} " for i in range(40))


def test_a_slow_target_does_not_delay_a_fast_one():
    # The slow target cannot send its first token until the test opens its gate, which it
    # does only once the fast target's run is recorded: a fast target that waited for the
    # slow one would never be recorded (the hang guard fails the test).
    gate = threading.Event()
    slow = recorded(scripted(3, 0, 0), before=lambda: assert_opened(gate))
    fast = scripted(10, 0.02, 0.005)
    comparison = Comparison("hi", [slow, fast], SHARED).start()
    fast_target = comparison.targets[1]
    try:
        record = wait_for(lambda: fast_target.last_record, "the fast target's record")
        assert record.status == "ok"
        assert not comparison.done  # the slow one is still waiting for its first token
    finally:
        gate.set()
    assert comparison.wait(HANG_GUARD_S)
    assert comparison.targets[0].last_record.status == "ok"


def assert_opened(gate: threading.Event) -> None:
    if not gate.wait(HANG_GUARD_S):
        raise AssertionError("hang guard: the gate was never opened")


def test_stop_stops_every_target_and_keeps_each_partial():
    saved: list[RunRecord] = []
    # 500 chunks 10 ms apart (5 s each, real time); the stop comes once both have text and
    # takes effect at each one's next chunk: only a stop that does not reach every target
    # lets one finish.
    comparison = Comparison("hi", [scripted(500, 0.01, 0.01), scripted(500, 0.2, 0.01)], SHARED,
                            on_done=saved.append).start()
    wait_for(lambda: all(t.current is not None and t.current.text
                         for t in comparison.targets),
             "text from both targets")
    comparison.stop()
    assert comparison.wait(HANG_GUARD_S)
    records = [t.last_record for t in comparison.targets]
    assert [r.status for r in records] == ["stopped", "stopped"]
    assert all(0 < len(r.chunk_texts) < 500 for r in records)
    assert [t.runs[-1].text for t in comparison.targets] == [r.text for r in records]
    assert len(saved) == 2 and comparison.stopped
    comparison.stop()  # twice is fine


def test_repeat_runs_in_sequence_per_target_and_in_parallel_across_targets():
    # Every stream waits for one of the other target's before its first chunk (Rendezvous):
    # targets run one after another never meet and every run fails. A target's own runs
    # must never overlap: Recorded counts its open streams (max_open), and each stream is
    # held open 50 ms (real time), long enough for a lane that did not wait for a run to
    # start its next one meanwhile; a lane that waits never overlaps, whatever the load.
    # Times are virtual (ThreadClock), so the summary's figures are exactly the schedules'.
    saved: list[RunRecord] = []
    clock, meet = ThreadClock(), Rendezvous(2)

    def meet_and_hold() -> None:
        meet.meet()
        time.sleep(0.05)

    a = recorded(scripted(10, 0.03, 0.005, sleep=clock.sleep), before=meet_and_hold)
    b = recorded(scripted(10, 0.06, 0.005, sleep=clock.sleep), before=meet_and_hold)
    comparison = Comparison("hi", [a, b], SHARED, repeat=4, warmup=True,
                            on_done=saved.append, clock=clock).start()
    assert comparison.wait(4 * HANG_GUARD_S)
    for target in comparison.targets:
        assert target.warmup is not None and target.warmup.record.status == "ok"
        assert len(target.runs) == 4 and target.completed == 4
        assert [r.status for r in target.records] == ["ok"] * 4
    assert a.provider.max_open == b.provider.max_open == 1  # in sequence per target
    assert len(a.provider.streams) == len(b.provider.streams) == 5
    assert len(saved) == 8  # warm-up runs are not recorded
    assert len(a.provider.inner.calls) == len(b.provider.inner.calls) == 5
    table = summary(comparison).set_index("target")
    assert list(table["ok"]) == [4, 4]
    assert table.loc["A · Scripted demo · scripted", "TTFT ms p50"] == pytest.approx(30)
    assert table.loc["B · Scripted demo · scripted", "TTFT ms p50"] == pytest.approx(60)
    assert {"TTFT ms p90", "TTFT ms p95", "TPOT ms p50", "tok/s p95"} <= set(table.columns)
    assert len(run_table(comparison)) == 8


def test_summary_keeps_failed_runs_out_of_the_latency_figures():
    broken = scripted(5, 0.001, 0.001, fault_at=2)
    comparison = Comparison("hi", [broken, scripted(5, 0.01, 0.001)], SHARED, repeat=3).start()
    comparison.wait(10)
    row = summary(comparison).iloc[0]
    assert (row["ok"], row["failed"], row["stopped"]) == (0, 3, 0)
    assert row["TTFT ms p50"] is None or row["TTFT ms p50"] != row["TTFT ms p50"]  # None/NaN


def test_embedded_targets_share_one_lane_and_others_run_alone():
    local = LocalProvider(object(), "/models/tiny.gguf")  # never run here: lanes only
    specs = [TargetSpec(local, "tiny", CHARS), scripted(1, 0, 0),
             TargetSpec(local, "tiny", CHARS), scripted(1, 0, 0)]
    comparison = Comparison("hi", specs, SHARED)
    a, b, c, d = comparison.targets
    assert comparison.lanes() == [[a, c], [b], [d]]
    assert comparison.queued_behind(c) == [a] and comparison.queued_behind(b) == []


class OrderedLocal(LocalProvider):
    """The embedded provider, noting in ``log`` when each of its streams begins (before it
    takes the model's lock) and ends."""

    def __init__(self, llm, path: str) -> None:
        super().__init__(llm, path)
        self.log: list[str] = []

    def stream(self, messages, settings):
        self.log.append("begin")
        try:
            yield from super().stream(messages, settings)
        finally:
            self.log.append("end")


@pytest.mark.model
def test_two_embedded_targets_run_one_after_the_other(llm):
    local = OrderedLocal(llm, "smollm2.gguf")
    spec = TargetSpec(local, local.models()[0], local.counter)
    shared = SharedSettings(max_tokens=8, temperature=0.0)
    comparison = Comparison("Say hello.", [spec, spec], shared).start()
    assert comparison.wait(MODEL_HANG_GUARD_S)
    first, second = (t.last_record for t in comparison.targets)
    assert first.status == second.status == "ok"
    # The second began after the first ended, so its TTFT is its own, not a wait for the
    # model's lock: run side by side, the second would begin before the first ended.
    assert local.log == ["begin", "end", "begin", "end"]
    assert first.output_source == second.output_source == "tokenizer"


class ContextWatch:
    """The real model, noting how many evaluated tokens it still held from the previous
    prompt when each answer began (what llama.cpp's prefix reuse would skip)."""

    def __init__(self, llm) -> None:
        self._llm, self.held = llm, []

    def create_chat_completion(self, **kwargs):
        self.held.append(self._llm.n_tokens)
        return self._llm.create_chat_completion(**kwargs)

    def __getattr__(self, name):
        return getattr(self._llm, name)


@pytest.mark.model
def test_repeated_runs_of_the_embedded_model_are_timed_cold_not_from_its_cache(llm):
    watch = ContextWatch(llm)
    local = LocalProvider(watch, "smollm2.gguf")
    spec = TargetSpec(local, local.models()[0], local.counter)
    comparison = Comparison("Say hello.", [spec], SharedSettings(max_tokens=4, temperature=0.0),
                            repeat=3, warmup=True).start()
    assert comparison.wait(MODEL_HANG_GUARD_S)
    assert [r.record.status for r in comparison.targets[0].runs] == ["ok"] * 3
    # The warm-up and every repeat began from an empty context: none was a cache hit.
    assert watch.held == [0, 0, 0, 0]
    # A chat, by contrast, keeps the context: its next prompt reuses the evaluated prefix.
    list(local.stream([Message("user", "Say hello.")],
                      Settings(model=local.model_name, max_tokens=4, temperature=0.0)))
    assert watch.held[-1] > 0


def test_blind_labels_are_shuffled_and_names_revealed_after_the_vote(store):
    specs = [scripted(2, 0, 0) for _ in range(3)]
    for i, spec in enumerate(specs):
        spec.provider.label = f"Provider {i}"
    comparison = Comparison("which?", specs, SHARED, blind=True, rng=random.Random(3),
                            on_done=store.add).start()
    comparison.wait(5)
    names = [t.provider.label for t in comparison.targets]
    assert sorted(names) == ["Provider 0", "Provider 1", "Provider 2"]
    assert names != ["Provider 0", "Provider 1", "Provider 2"]  # seed 3 shuffles
    assert [comparison.title(t) for t in comparison.targets] == ["A", "B", "C"]
    assert not comparison.revealed
    assert comparison.choices() == ["A", "B", "C", TIE]
    with pytest.raises(ValueError):
        comparison.cast_vote("D")
    vote = comparison.cast_vote("B")
    store.add_vote(vote.comparison_id, vote.choice, blind=vote.blind, prompt=vote.prompt,
                   targets=vote.targets, created_at=vote.created_at)
    assert comparison.revealed
    assert comparison.title(comparison.targets[1]).startswith("B · Provider")
    votes = store.votes()
    assert list(votes.choice) == ["B"] and list(votes.blind) == [1]
    mapping = json.loads(votes.targets_json[0])
    assert [m["label"] for m in mapping] == ["A", "B", "C"]
    assert mapping[1]["run_ids"] == [comparison.targets[1].runs[0].run_id]
    joined = store.voted_runs()
    assert len(joined) == 3 and list(joined.won) == [0, 1, 0]
    assert joined.ttft_s.notna().all()  # the vote sits beside the latency figures


def test_export_holds_prompt_settings_answers_metrics_and_raw_timestamps():
    comparison = Comparison("Explain TTFT", [scripted(4, 0.01, 0.002), scripted(3, 0.02, 0.002)],
                            SHARED).start()
    comparison.wait(5)
    comparison.cast_vote(TIE)
    data = json.loads(export_json(comparison))
    assert data["prompt"] == "Explain TTFT" and data["shared_settings"]["max_tokens"] == 64
    assert data["vote"]["choice"] == TIE and len(data["targets"]) == 2
    run = data["targets"][0]["runs"][0]
    assert run["text"] == "w0 w1 w2 w3 " and len(run["chunk_offsets_s"]) == 4
    assert run["metrics"]["ttft_s"] == run["chunk_offsets_s"][0]
    assert data["targets"][0]["settings"]["system_prompt"] == "Be brief."
    assert [row["ok"] for row in data["summary"]] == [1, 1]
    md = export_markdown(comparison)
    assert "Explain TTFT" in md and "w0 w1 w2 w3" in md and "| target | ok |" in md
    assert "a tie" in md and "> Be brief." in md


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        Comparison("hi", [], SHARED)
    with pytest.raises(ValueError):
        Comparison("hi", [scripted(1, 0, 0)] * 5, SHARED)
    with pytest.raises(ValueError):
        Comparison("hi", [scripted(1, 0, 0)], SHARED, repeat=0)


def test_votes_migration_upgrades_a_store_made_before_it(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY)")
    MIGRATIONS[0](db)  # a store as the first release left it
    db.execute("INSERT INTO migrations VALUES (?)", (MIGRATIONS[0].__name__,))
    db.close()
    store = RunStore(path)
    assert store.votes().empty
    names = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM migrations")}
    assert {"m001_runs", "m002_votes"} <= names


def test_stop_during_repeat_runs_starts_no_further_run():
    saved: list[RunRecord] = []
    # Runs of ~0.1 s each (real time): 50 of them take 5 s. The stop comes once each target
    # has finished two runs and cuts the run under way: only a comparison that goes on
    # starting runs after the stop reaches 50.
    comparison = Comparison("hi", [scripted(20, 0.01, 0.005), scripted(20, 0.01, 0.005)], SHARED,
                            repeat=50, on_done=saved.append).start()
    wait_for(lambda: all(len(t.records) >= 2 for t in comparison.targets),
             "two finished runs per target")
    comparison.stop()
    assert comparison.wait(HANG_GUARD_S)
    for target in comparison.targets:
        statuses = [r.status for r in target.records]
        assert 2 <= len(statuses) < 50
        assert set(statuses[:-1]) == {"ok"} and statuses[-1] in ("ok", "stopped")
    assert len(saved) == sum(len(t.runs) for t in comparison.targets)
    assert summary(comparison)["ok"].min() >= 1


def test_cost_estimates_come_from_the_dated_price_table():
    from chatlib.core.tables import format_cost
    from chatlib.runs.figures import run_cost

    def record(provider: str, model: str, tokens_in, tokens_out) -> RunRecord:
        return RunRecord(provider=provider, model=model, settings={}, status="ok", created_at=0,
                         input_tokens=tokens_in, output_tokens=tokens_out)

    # gpt-4o-mini: $0.15 / $0.60 per 1M tokens in chatlib/data/prices.json
    assert run_cost(record("openai", "gpt-4o-mini", 20, 3)) == pytest.approx(4.8e-6)
    assert run_cost(record("scripted", "demo-fast", 20, 3)) == 0
    assert run_cost(record("openai-compatible", "llama3", 20, 3)) is None  # unknown: no figure
    assert run_cost(record("openai", "gpt-4o-mini", None, 3)) is None
    assert [format_cost(c) for c in (None, 0, 4.8e-6, 0.0123)] == [
        None, "$0", "≈ $0.0000048", "≈ $0.0123"]
    comparison = Comparison("hi", [scripted(2, 0, 0), scripted(2, 0, 0)], SHARED).start()
    comparison.wait(5)
    assert list(summary(comparison)["est. cost, all runs"]) == [0, 0]
    assert json.loads(export_json(comparison))["targets"][0]["runs"][0]["cost_estimate"] == 0


# -- stored comparisons: reopened from the store, found live by id --------------------------

def restarted_server(monkeypatch) -> None:
    """What a new server process has: no comparison in its table of live ones."""
    import chatlib.compare.comparisons

    monkeypatch.setattr(chatlib.compare.comparisons, "_LIVE", LiveTable())


def test_a_reopened_comparison_reads_exactly_like_the_finished_one(store, monkeypatch):
    # Answers, figures (exact: virtual clocks), summary, the runs table the charts plot, the
    # vote and both exports: the same, read back from the store.
    comparisons = Comparisons(ComparisonStore(store))
    clock = ThreadClock()
    specs = [scripted(6, 0.03, 0.005, sleep=clock.sleep),
             scripted(4, 0.06, 0.01, sleep=clock.sleep)]
    live = comparisons.start("Explain", specs, SHARED, repeat=3, warmup=True, clock=clock)
    assert live.wait(4 * HANG_GUARD_S)
    comparisons.vote(live, "B")
    restarted_server(monkeypatch)
    reopened = comparisons.open(live.id)
    assert reopened is not None and reopened is not live
    assert reopened.done and not reopened.stopped and not reopened.interrupted
    assert to_dict(reopened) == to_dict(live)
    assert export_markdown(reopened) == export_markdown(live)
    assert summary(reopened).equals(summary(live))
    assert run_table(reopened).equals(run_table(live))
    assert reopened.wall_s == live.wall_s and reopened.vote == live.vote
    for old, new in zip(live.targets, reopened.targets):
        assert (new.label, new.name, new.settings) == (old.label, old.name, old.settings)
        assert [r.text for r in new.runs] == [r.text for r in old.runs]
        assert new.records == old.records and new.completed == old.completed == 3
        assert new.provider is None  # nothing that could hold a key


def test_a_blind_comparison_reopened_before_the_vote_can_be_voted_on(store, monkeypatch):
    comparisons = Comparisons(ComparisonStore(store))
    live = comparisons.start("which?", [scripted(2, 0, 0), scripted(3, 0, 0)], SHARED,
                             blind=True, rng=random.Random(1))
    assert live.wait(HANG_GUARD_S)
    restarted_server(monkeypatch)
    reopened = comparisons.open(live.id)
    assert not reopened.revealed and [reopened.title(t) for t in reopened.targets] == ["A", "B"]
    comparisons.vote(reopened, "A")
    assert reopened.revealed and reopened.title(reopened.targets[0]).startswith("A · ")
    again = comparisons.open(live.id)
    assert again.vote.choice == "A" and again.revealed
    votes = store.votes()
    assert list(votes.comparison_id) == [live.id] and list(votes.blind) == [1]
    mapping = json.loads(votes.targets_json[0])
    assert [m["run_ids"] for m in mapping] == [[t.runs[0].run_id] for t in live.targets]


def test_the_live_comparison_is_found_by_id_while_it_runs_and_after(store):
    comparisons = Comparisons(ComparisonStore(store))
    gate = threading.Event()
    spec = recorded(scripted(3, 0, 0), before=lambda: assert_opened(gate))
    live = comparisons.start("hi", [spec, scripted(3, 0, 0)], SHARED)
    try:
        assert comparisons.open(live.id) is live and not live.done
    finally:
        gate.set()
    assert live.wait(HANG_GUARD_S)
    assert comparisons.open(live.id) is live  # the same object: a reload re-attaches to it
    assert comparisons.open("nope") is None


def test_after_a_stop_every_counter_equals_the_runs_in_the_store(store, monkeypatch):
    # Repeat-N stopped mid-way: the "k of N runs" each column shows (completed) must be the
    # number of that target's runs in the store, the run cut by the stop included, live and
    # reopened alike.
    comparisons = Comparisons(ComparisonStore(store))
    live = comparisons.start("hi", [scripted(40, 0.01, 0.005), scripted(40, 0.01, 0.005)],
                             SHARED, repeat=50)
    wait_for(lambda: all(len(t.records) >= 2 and comparison_text(live, t)
                         for t in live.targets), "two runs per target, a third streaming")
    live.stop()
    assert live.wait(HANG_GUARD_S)
    stored = comparisons.store.runs(live.id)
    for target in live.targets:
        mine = [r for r in stored if r.label == target.label]
        assert target.completed == len(mine) == len(target.runs) and 2 <= len(mine) < 50
        assert [r.status for r in mine][:-1] == ["ok"] * (len(mine) - 1)
    assert comparisons.store.get(live.id).stopped
    restarted_server(monkeypatch)
    reopened = comparisons.open(live.id)
    assert [t.completed for t in reopened.targets] == [t.completed for t in live.targets]
    assert reopened.stopped and reopened.revealed


def comparison_text(comparison: Comparison, target) -> str:
    return target.current.text if target.current is not None else ""


def test_a_comparison_cut_off_by_a_restart_reopens_stopped_and_says_so(store, monkeypatch):
    comparisons = Comparisons(ComparisonStore(store))
    never_ended = Comparison("hi", [scripted(1, 0, 0), scripted(1, 0, 0)], SHARED)
    comparisons.store.create(never_ended.stored())  # as a server that died mid-way left it
    reopened = comparisons.open(never_ended.id)
    assert reopened.done and reopened.stopped and reopened.interrupted
    assert [t.runs for t in reopened.targets] == [[], []]
    with pytest.raises(RuntimeError):
        reopened.start()  # a reopened comparison never runs again
