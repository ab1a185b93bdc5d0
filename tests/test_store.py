"""The run store keeps every run with its timestamps, and never a key."""

import sqlite3

from chatlib.pump import StreamPump
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.record import RunRecord
from chatlib.store import MIGRATIONS, RunStore
from chatlib.types import Message, Settings


def record(**overrides) -> RunRecord:
    fields = dict(provider="scripted", model="m", settings={"model": "m"}, status="ok",
                  created_at=1_700_000_000.0, chunk_offsets_s=[0.1, 0.12, 0.15],
                  chunk_texts=["a", "b", "c"], output_tokens=3, output_source="usage")
    fields.update(overrides)
    return RunRecord(**fields)


def test_round_trip_keeps_everything(store):
    original = record(error=None, attempts=2, input_tokens=9, input_source="tokenizer",
                      prompt="hi", page="compare", label="B", group_id="g1")
    store.add(original)
    assert store.get(original.id) == original
    assert store.chunk_offsets([original.id]) == {original.id: [0.1, 0.12, 0.15]}


def test_metrics_columns_are_computed_on_insert(store):
    r = record()
    store.add(r)
    row = store.runs().iloc[0]
    assert row.ttft_s == 0.1 and row.e2e_s == 0.15
    assert abs(row.tpot_s - 0.025) < 1e-12 and abs(row.output_tps - 20.0) < 1e-9
    assert row.chunk_count == 3 and row.response == "abc"


def test_migrations_run_once_and_a_second_store_opens_the_same_file(store):
    store.add(record())
    again = RunStore(store.path)
    assert again.count() == 1
    names = [r[0] for r in sqlite3.connect(store.path).execute("SELECT name FROM migrations")]
    assert names == [m.__name__ for m in MIGRATIONS]
    assert sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_runs_streamed_through_the_pump_land_in_the_store(store):
    settings = Settings(model="scripted")
    pump = StreamPump(ScriptedProvider(Script(chunks=("x", "y"))), [Message("user", "q")],
                      settings, on_done=store.add).start()
    list(pump.text_batches())
    pump.wait(5)
    saved = store.get(pump.run_id)
    assert saved.text == "xy" and saved.status == "ok" and saved.prompt == "q"
