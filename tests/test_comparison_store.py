"""The comparison store: a comparison's row is written when it starts and updated when it
ends, reads back with its targets, settings and vote, and never holds a key."""

import sqlite3
import threading

from chatlib.compare.comparison import TIE, Comparison, SharedSettings, TargetSpec
from chatlib.compare.comparisons import Comparisons
from chatlib.providers.openai_provider import OpenAIProvider
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.store import ComparisonStore, RunStore, StoredComparison, StoredTarget, StoredVote
from chatlib.store.migrations_sqlite import MIGRATIONS
from chatlib.core.tokens import FunctionCounter
from tests.clocks import HANG_GUARD_S, Recorded, wait_for
from tests.wire import openai_wire as ow
from tests.wire.server import Reply, WireServer

CHARS = FunctionCounter("chars", len)
SHARED = SharedSettings(system_prompt="Be brief.", max_tokens=64, temperature=0.3, seed=7)


def scripted(n: int, gap: float = 0.0, **kwargs) -> TargetSpec:
    script = Script(chunks=tuple(f"w{i} " for i in range(n)), gap_s=gap)
    return TargetSpec(ScriptedProvider(script), "scripted", CHARS, kwargs)


def gated(spec: TargetSpec, gate: threading.Event) -> TargetSpec:
    """``spec`` whose streams wait for ``gate`` before their first event."""
    def wait() -> None:
        assert gate.wait(HANG_GUARD_S), "hang guard: the gate was never opened"
    return TargetSpec(Recorded(spec.provider, before=wait), spec.model, spec.counter, spec.extra)


def test_the_row_is_written_at_the_start_and_gets_its_end_when_the_last_lane_ends(store):
    comparisons = Comparisons(ComparisonStore(store))
    gate = threading.Event()
    comparison = comparisons.start(
        "Tell me", [gated(scripted(3), gate), gated(scripted(2, repeat_penalty=1.2), gate)],
        SHARED, repeat=2, warmup=True)
    try:
        row = comparisons.store.get(comparison.id)
        # Stored before any run has ended: what it runs, and no end yet.
        assert row is not None and not comparison.done
        assert (row.prompt, row.repeat, row.warmup, row.blind) == ("Tell me", 2, True, False)
        assert row.shared == {"system_prompt": "Be brief.", "max_tokens": 64,
                              "temperature": 0.3, "seed": 7, "nonce": False}
        assert [(t.label, t.provider, t.provider_label, t.model) for t in row.targets] == [
            ("A", "scripted", "Scripted demo", "scripted"),
            ("B", "scripted", "Scripted demo", "scripted")]
        assert [t.settings for t in row.targets] == [
            t.settings.to_dict() for t in comparison.targets]
        assert row.targets[1].settings["extra"] == {"repeat_penalty": 1.2}
        assert (row.ended_at, row.wall_s, row.stopped, row.vote) == (None, None, False, None)
        assert comparisons.store.runs(comparison.id) == []
    finally:
        gate.set()
    assert comparison.wait(HANG_GUARD_S)
    row = comparisons.store.get(comparison.id)
    assert row.ended_at is not None and row.ended_at >= row.created_at
    assert row.wall_s == comparison.wall_s and row.stopped is False
    stored = comparisons.store.runs(comparison.id)  # the counted runs only, no warm-up
    assert [r.label for r in stored if r.label == "A"] == ["A", "A"] and len(stored) == 4
    for target in comparison.targets:
        assert [r for r in stored if r.label == target.label] == target.records


def test_a_stopped_comparison_is_stored_stopped_with_each_partial_run(store):
    comparisons = Comparisons(ComparisonStore(store))
    comparison = comparisons.start("hi", [scripted(500, 0.01), scripted(500, 0.01)], SHARED)
    wait_for(lambda: all(t.current is not None and t.current.text
                         for t in comparison.targets),
             "text from both targets")
    comparison.stop()
    assert comparison.wait(HANG_GUARD_S)
    row = comparisons.store.get(comparison.id)
    assert row.stopped is True and row.ended_at is not None
    runs = comparisons.store.runs(comparison.id)
    assert sorted((r.label, r.status) for r in runs) == [("A", "stopped"), ("B", "stopped")]
    assert all(0 < len(r.chunk_texts) < 500 for r in runs)


def test_get_round_trips_the_targets_the_settings_the_end_and_the_vote(store):
    comparisons = ComparisonStore(store)
    original = StoredComparison(
        id="c1", created_at=1_700_000_000.5, prompt="Which?",
        shared={"system_prompt": "", "max_tokens": 32, "temperature": 1.25, "seed": None},
        repeat=3, warmup=False, blind=True,
        targets=(StoredTarget("A", "openai", "OpenAI", "gpt-4o-mini",
                              {"model": "gpt-4o-mini", "temperature": 1.25, "max_tokens": 32,
                               "system_prompt": "", "seed": None, "extra": {}}),
                 StoredTarget("B", "local", "Embedded model", "smollm2",
                              {"model": "smollm2", "extra": {"repeat_penalty": 1.3}})),
    )
    comparisons.create(original)
    assert comparisons.get("c1") == original
    comparisons.finish("c1", ended_at=1_700_000_009.0, wall_s=8.25, stopped=False)
    comparisons.add_vote("c1", TIE, blind=True, prompt="Which?", targets=[],
                         created_at=1_700_000_010.0)
    again = comparisons.get("c1")
    assert again.targets == original.targets and again.shared == original.shared
    assert (again.ended_at, again.wall_s, again.stopped) == (1_700_000_009.0, 8.25, False)
    assert again.vote == StoredVote(TIE, 1_700_000_010.0)
    # Voting again replaces the vote.
    comparisons.add_vote("c1", "B", blind=True, prompt="Which?", targets=[], created_at=1.0)
    assert comparisons.get("c1").vote == StoredVote("B", 1.0)


def test_an_unknown_id_reads_as_none(store):
    comparisons = Comparisons(ComparisonStore(store))
    assert comparisons.store.get("no-such-comparison") is None
    assert comparisons.store.runs("no-such-comparison") == []
    assert comparisons.open("no-such-comparison") is None
    assert comparisons.open("'; DROP TABLE comparisons; --") is None
    assert comparisons.store.get("c") is None  # the table is still there


def test_no_key_is_stored_anywhere(store, monkeypatch):
    key = "sk-compare-store-0123456789abcdef"
    comparisons = Comparisons(ComparisonStore(store))
    with WireServer() as server:
        server.script(Reply(events=ow.stream(["Hello ", "there."], usage=(9, 2))))
        openai = OpenAIProvider(api_key=key, base_url=server.url + "/v1")
        try:
            comparison = comparisons.start(
                "Say hello", [TargetSpec(openai, "gpt-4o-mini", CHARS), scripted(2)], SHARED)
            assert comparison.wait(HANG_GUARD_S)
        finally:
            openai.close()
    comparisons.vote(comparison, "A")
    assert comparison.targets[0].last_record.status == "ok"
    db = sqlite3.connect(store.location)
    tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert {"comparisons", "runs", "votes"} <= set(tables)
    rows = [row for table in tables for row in db.execute(f"SELECT * FROM {table}")]
    assert any(comparison.id in str(row) for row in rows)  # the comparison is in there...
    assert not [row for row in rows if key in str(row)]  # ...and the key nowhere


def test_the_migration_adds_the_table_to_a_store_made_before_it(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY)")
    for step in MIGRATIONS:
        if step.__name__ < "m005":  # a store made by the release before comparisons
            step(db)
            db.execute("INSERT INTO migrations VALUES (?)", (step.__name__,))
    db.close()
    comparisons = ComparisonStore(RunStore(path))
    assert comparisons.get("x") is None
    comparison = Comparison("hi", [scripted(1)], SHARED)
    comparisons.create(comparison.stored())
    assert comparisons.get(comparison.id).prompt == "hi"
