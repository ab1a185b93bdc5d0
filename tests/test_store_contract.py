"""The store contract: what every backend (SQLite, PostgreSQL) keeps, run on each.

Every test takes ``any_store``, a ``RunStore`` on a fresh SQLite file and on a fresh database
of the real PostgreSQL server the suite starts (tests/conftest.py). Runs, votes, chats,
comparisons and prompt sets go through the same typed calls the pages use; the owner tests
are what sign-in relies on: a store scoped to a user sees that user's rows and no other's.
"""

from __future__ import annotations

import threading

import pytest

from chatlib.core.conversation import Chat, ChatTurn
from chatlib.streaming.pump import StreamPump
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.runs.record import RunRecord
from chatlib.store import (ChatStore, ComparisonStore, PromptSetStore, RunFilter, RunStore,
                           StoredComparison, StoredPromptCase, StoredPromptSet, StoredTarget)
from chatlib.store.migrations_postgres import MIGRATIONS as PG_MIGRATIONS
from chatlib.store.migrations_sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from chatlib.core.types import Message, Settings


def record(**overrides) -> RunRecord:
    fields = dict(provider="scripted", model="m", settings={"model": "m"}, status="ok",
                  created_at=1_700_000_000.0, chunk_offsets_s=[0.1, 0.12, 0.15],
                  chunk_texts=["a", "b", "c"], output_tokens=3, output_source="usage")
    fields.update(overrides)
    return RunRecord(**fields)


# -- runs ------------------------------------------------------------------------------------
def test_round_trip_keeps_everything(any_store):
    original = record(error=None, attempts=2, input_tokens=9, input_source="tokenizer",
                      prompt="hi ✓ \u00e9", page="compare", label="B", group_id="g1",
                      reasoning_offsets_s=[0.05], reasoning_texts=["hmm"], reasoning_tokens=1,
                      reasoning_source="tokenizer", cached_input_tokens=4)
    any_store.add(original)
    assert any_store.get(original.id) == original
    assert any_store.get("no-such-run") is None


def test_metrics_columns_are_computed_on_insert(any_store):
    any_store.add(record())
    row = any_store.runs().iloc[0]
    assert row.ttft_s == 0.1 and row.e2e_s == 0.15
    assert abs(row.tpot_s - 0.025) < 1e-12 and abs(row.output_tps - 20.0) < 1e-9
    assert row.chunk_count == 3 and row.response == "abc"


def test_a_second_store_on_the_same_database_sees_the_runs_and_migrates_nothing(
        any_store, store_target):
    any_store.add(record())
    expected = PG_MIGRATIONS if store_target.startswith("postgresql:") else SQLITE_MIGRATIONS
    again = RunStore(store_target)
    try:
        assert again.count() == 1
        assert again.database.applied_migrations() == sorted(m.__name__ for m in expected)
    finally:
        again.close()


def test_runs_streamed_through_the_pump_land_in_the_store(any_store):
    pump = StreamPump(ScriptedProvider(Script(chunks=("x", "y"))), [Message("user", "q")],
                      Settings(model="scripted"), on_done=any_store.add).start()
    list(pump.text_batches())
    pump.wait(5)
    saved = any_store.get(pump.run_id)
    assert saved.text == "xy" and saved.status == "ok" and saved.prompt == "q"


def test_each_filter_field_selects_its_runs(any_store):
    runs = [
        record(id="a", created_at=100.0, provider="openai", model="gpt", page="chat",
               prompt="p1", group_id="c1"),
        record(id="b", created_at=200.0, provider="anthropic", model="claude", page="compare",
               prompt="p2", group_id="cmp", label="A", status="stopped"),
        record(id="c", created_at=300.0, provider="replay", model="gpt", page="compare",
               prompt="p2", group_id="cmp", label="B"),
        record(id="d", created_at=400.0, provider="openai", model="gpt", status="error",
               chunk_offsets_s=[], chunk_texts=[], prompt="p3"),
    ]
    assert any_store.add_many(runs, batch=3) == 4

    def ids(**fields) -> list[str]:
        return list(any_store.runs(RunFilter(**fields)).id)

    assert ids() == ["a", "b", "c", "d"]
    assert ids(since=200.0, until=400.0) == ["b", "c"]
    assert ids(providers=("openai",)) == ["a", "d"]
    assert ids(models=("gpt", "claude"), statuses=("ok",)) == ["a", "c"]
    assert ids(pages=("compare",), labels=("B",)) == ["c"]
    assert ids(prompts=("p2",), group_ids=("cmp",)) == ["b", "c"]
    assert ids(not_providers=("replay",), streamed=True) == ["a", "b"]
    assert list(any_store.select(["id"], RunFilter(statuses=("error",))).id) == ["d"]
    assert any_store.count() == 4 and any_store.count(RunFilter(providers=("openai",))) == 2
    assert list(any_store.recent(RunFilter(), limit=2).id) == ["d", "c"]
    assert any_store.recent(RunFilter(), limit=1).preview[0] == ""
    assert any_store.provider_models() == [("anthropic", "claude"), ("openai", "gpt"),
                                           ("replay", "gpt")]
    with pytest.raises(ValueError):
        any_store.select(["id", "nope; DROP TABLE runs"])


def test_totals_count_runs_tokens_and_sources_per_group(any_store):
    any_store.add_many([
        record(id="1", input_tokens=5, input_source="usage"),
        record(id="2", input_tokens=7, input_source="tokenizer", output_source="estimate"),
        record(id="3", output_tokens=None, output_source=None),
        record(id="4", status="stopped", chunk_offsets_s=[0.1], chunk_texts=["a"]),
    ])
    totals = any_store.totals().set_index("status")
    ok = totals.loc["ok"]
    assert (ok.runs, ok.input_tokens, ok.output_tokens, ok.gaps) == (3, 12, 6, 6)
    assert (ok.priced_runs, ok.priced_input_tokens, ok.priced_output_tokens) == (2, 12, 6)
    assert (ok.output_from_usage, ok.output_from_estimate, ok.input_from_tokenizer) == (1, 1, 1)
    assert totals.loc["stopped"].runs == 1 and totals.loc["stopped"].gaps == 0


def test_offsets_and_rows_stream_in_batches_in_order(any_store):
    any_store.add_many([record(id=f"r{i:02d}", created_at=float(i),
                               chunk_offsets_s=[0.1 * i, 0.2 * i]) for i in range(1, 26)])
    batches = list(any_store.iter_offsets(RunFilter(since=5.0), batch=7))
    assert [len(b) for b in batches] == [7, 7, 7]
    blobs = dict(row for batch in batches for row in batch)
    assert memoryview(blobs["r10"]).cast("d").tolist() == [0.1 * 10, 0.2 * 10]
    rows = [row for batch in any_store.iter_rows(["id", "created_at"], RunFilter(), batch=10)
            for row in batch]
    assert [r[0] for r in rows] == [f"r{i:02d}" for i in range(1, 26)]
    assert memoryview(rows[0][2]).cast("d").tolist() == [0.1, 0.2]


def test_a_snapshot_does_not_see_a_run_added_meanwhile(any_store):
    any_store.add(record(id="before"))
    with any_store.snapshot():
        assert any_store.count() == 1
        writer = threading.Thread(target=any_store.add, args=(record(id="during"),))
        writer.start()
        writer.join(30)
        assert not writer.is_alive()
        assert any_store.count() == 1  # the snapshot's state
    assert any_store.count() == 2


def test_a_failed_write_leaves_nothing_behind(any_store):
    any_store.add(record(id="dup"))
    with pytest.raises(Exception):
        any_store.add(record(id="dup"))  # same id: the second insert fails
    assert any_store.count() == 1 and any_store.integrity_problems() == []
    any_store.add(record(id="next"))  # the store is usable afterwards
    assert any_store.count() == 2


# -- votes ----------------------------------------------------------------------------------
def test_votes_are_kept_replaced_and_joined_to_their_runs(any_store):
    any_store.add_many([record(id="x", page="compare", group_id="cmp", label="A"),
                        record(id="y", page="compare", group_id="cmp", label="B")])
    any_store.add_vote("cmp", "A", blind=True, prompt="q", targets=[{"label": "A"}],
                       created_at=1.0)
    any_store.add_vote("cmp", "B", blind=False, prompt="q", targets=[], created_at=2.0)
    votes = any_store.votes()
    assert list(votes.choice) == ["B"] and votes.blind[0] == 0
    won = dict(zip(any_store.voted_runs().label, any_store.voted_runs().won))
    assert won == {"A": 0, "B": 1}
    any_store.add_vote("cmp", "tie", blind=False, prompt="q", targets=[], created_at=3.0)
    assert any_store.voted_runs().won.isna().all()


# -- chats ----------------------------------------------------------------------------------
def test_a_chat_is_stored_as_it_happens(any_store):
    chats = ChatStore(any_store)
    chat = Chat("c1", "First", [ChatTurn("user", "hello", created_at=1.0)], {"model": "m"},
                1.0, 1.0)
    chats.create(chat)
    assert chats.exists("c1") and not chats.exists("c2")
    seq = chats.append_turns("c1", [ChatTurn("assistant", "", "streaming", created_at=2.0)])
    assert seq == 1
    chats.update_turn("c1", 1, content="partial", status="streaming", reasoning="think")
    chats.update_turn("c1", 1, content="done ✓", status="ok", run_id="r1", summary="TTFT 1 ms",
                      reasoning="think", reasoning_s=0.5)
    got = chats.get("c1")
    assert [t.content for t in got.turns] == ["hello", "done ✓"]
    assert (got.turns[1].run_id, got.turns[1].summary, got.turns[1].reasoning_s) == \
        ("r1", "TTFT 1 ms", 0.5)
    chats.save_settings("c1", {"model": "other"})
    chats.rename("c1", "Renamed")
    chats.truncate("c1", 1)
    got = chats.get("c1")
    assert (got.title, got.settings, len(got.turns)) == ("Renamed", {"model": "other"}, 1)
    chats.delete("c1")
    assert chats.get("c1") is None and chats.summaries() == []


def test_chat_search_matches_titles_and_turns_and_escapes_wildcards(any_store):
    chats = ChatStore(any_store)
    chats.create(Chat("a", "Pricing notes", [ChatTurn("user", "What is 100% of it?")],
                      created_at=1.0, updated_at=1.0))
    chats.create(Chat("b", "Other", [ChatTurn("user", "snake_case names")],
                      created_at=2.0, updated_at=2.0))
    chats.create(Chat("c", "Third", [], created_at=3.0, updated_at=3.0))
    assert [s.id for s in chats.summaries()] == ["c", "b", "a"]
    assert [s.id for s in chats.summaries("PRICING")] == ["a"]  # case-insensitive
    assert [s.id for s in chats.summaries("100%")] == ["a"]
    assert [s.id for s in chats.summaries("e_c")] == ["b"]  # "_" is a letter, not a wildcard
    assert [s.id for s in chats.summaries("%")] == ["a"]
    assert [s.turns for s in chats.summaries()] == [0, 1, 1]
    assert len(chats.summaries(limit=2)) == 2


# -- comparisons and prompt sets -----------------------------------------------------------
def comparison(comparison_id: str, created_at: float = 1.0) -> StoredComparison:
    target = StoredTarget("A", "scripted", "Scripted", "m", {"model": "m"},
                          history=(("user", "before"), ("assistant", "reply")),
                          overrides={"temperature": 0.2})
    return StoredComparison(comparison_id, created_at, "Which?", {"max_tokens": 9}, repeat=2,
                            warmup=True, blind=True, targets=(target,))


def test_a_comparison_is_stored_with_its_runs_and_vote(any_store):
    comparisons = ComparisonStore(any_store)
    comparisons.create(comparison("cmp"))
    assert comparisons.get("cmp").ended_at is None
    comparisons.add_run(record(id="r2", created_at=2.0, page="compare", group_id="cmp",
                               label="A"))
    comparisons.add_run(record(id="r1", created_at=1.0, page="compare", group_id="cmp",
                               label="A"))
    comparisons.finish("cmp", ended_at=5.0, wall_s=4.0, stopped=True)
    comparisons.add_vote("cmp", "A", blind=True, prompt="Which?", targets=[], created_at=6.0)
    got = comparisons.get("cmp")
    assert got == StoredComparison(**{**comparison("cmp").__dict__, "ended_at": 5.0,
                                      "wall_s": 4.0, "stopped": True,
                                      "vote": got.vote})
    assert got.vote.choice == "A" and got.vote.created_at == 6.0
    assert [r.id for r in comparisons.runs("cmp")] == ["r1", "r2"]
    assert comparisons.get("nope") is None and comparisons.runs("nope") == []


def test_a_prompt_set_is_stored_with_its_cases(any_store):
    sets = PromptSetStore(any_store)
    first = StoredPromptSet("s1", 1.0, "cases.jsonl", ("scripted:a", "scripted:b"), 1,
                            {"max_tokens": 9},
                            cases=(StoredPromptCase(0, {"id": "one", "prompt": "hi"}, "c0"),))
    sets.create(first)
    sets.add_case("s1", StoredPromptCase(1, {"id": "two", "prompt": "yo"}, "c1"))
    sets.finish("s1", ended_at=3.0, stopped=False)
    sets.create(StoredPromptSet("s2", 2.0, "other.csv", ("scripted:a",), 2, {}))
    got = sets.get("s1")
    assert [c.comparison_id for c in got.cases] == ["c0", "c1"] and got.ended_at == 3.0
    assert got.targets == ("scripted:a", "scripted:b") and got.settings == {"max_tokens": 9}
    assert [s.id for s in sets.recent()] == ["s2", "s1"] and sets.get("zz") is None


# -- owners (sign-in) ---------------------------------------------------------------------
def test_a_store_scoped_to_a_user_sees_only_that_users_rows(any_store):
    alice, bob = any_store.for_owner("alice"), any_store.for_owner("bob")
    alice.add(record(id="ra", page="compare", group_id="ca", label="A"))
    bob.add(record(id="rb", model="other"))
    ChatStore(alice).create(Chat("chat-a", "Alice's", [ChatTurn("user", "secret plan")]))
    ComparisonStore(alice).create(comparison("ca"))
    ComparisonStore(alice).add_vote("ca", "A", blind=True, prompt="", targets=[],
                                    created_at=1.0)
    PromptSetStore(alice).create(StoredPromptSet("sa", 1.0, "f", ("scripted:a",), 1, {}))

    assert list(alice.runs().id) == ["ra"] and list(bob.runs().id) == ["rb"]
    assert bob.get("ra") is None and bob.count() == 1 and bob.provider_models() == [
        ("scripted", "other")]
    assert [b for batch in bob.iter_offsets() for b, _ in batch] == ["rb"]
    assert bob.totals().runs.sum() == 1 and list(bob.recent().id) == ["rb"]
    assert bob.votes().empty and bob.voted_runs().empty and len(alice.voted_runs()) == 1
    bob_chats = ChatStore(bob)
    assert bob_chats.get("chat-a") is None and not bob_chats.exists("chat-a")
    assert bob_chats.summaries() == [] and bob_chats.summaries("secret") == []
    bob_chats.rename("chat-a", "hijacked")
    bob_chats.delete("chat-a")
    assert ChatStore(alice).get("chat-a").title == "Alice's"
    assert ComparisonStore(bob).get("ca") is None and ComparisonStore(bob).runs("ca") == []
    ComparisonStore(bob).add_vote("ca", "B", blind=True, prompt="", targets=[], created_at=2.0)
    assert ComparisonStore(alice).get("ca").vote.choice == "A"  # not overwritten by bob
    assert PromptSetStore(bob).get("sa") is None and PromptSetStore(bob).recent() == []
    everyone = any_store.for_owner(None)  # no sign-in, or an admin on Stats
    assert sorted(everyone.runs().id) == ["ra", "rb"]
    assert sorted(everyone.runs().owner) == ["alice", "bob"]


def test_no_user_can_change_another_users_chat_even_knowing_its_id(any_store):
    alice, bob = ChatStore(any_store.for_owner("alice")), ChatStore(any_store.for_owner("bob"))
    alice.create(Chat("chat-a", "Alice's", [ChatTurn("user", "plan"),
                                            ChatTurn("assistant", "half", "streaming")]))
    stamped = alice.get("chat-a").turns[1].updated_at
    with pytest.raises(LookupError):
        bob.append_turns("chat-a", [ChatTurn("user", "injected")])
    bob.update_turn("chat-a", 1, content="overwritten", status="ok")
    bob.touch([("chat-a", 1)], at=stamped + 1000)  # would keep a dead answer "arriving"
    bob.truncate("chat-a", 0)
    bob.save_settings("chat-a", {"model": "bob's"})
    got = alice.get("chat-a")
    assert [(t.role, t.content, t.status) for t in got.turns] == [
        ("user", "plan", "ok"), ("assistant", "half", "streaming")]
    assert got.turns[1].updated_at == stamped and got.settings != {"model": "bob's"}
    # Alice's own writes still work.
    alice.update_turn("chat-a", 1, content="whole", status="ok")
    alice.touch([("chat-a", 1)], at=stamped + 5)
    assert alice.append_turns("chat-a", [ChatTurn("user", "next")]) == 2
    alice.truncate("chat-a", 2)
    assert [t.content for t in alice.get("chat-a").turns] == ["plan", "whole"]


def test_figures_are_aligned_float_columns_with_nan_for_unknown(any_store):
    any_store.add_many([
        record(id="a", output_tokens=7, chunk_offsets_s=[0.5, 0.6]),
        record(id="b", output_tokens=None, output_source=None, chunk_offsets_s=[0.25, 0.5]),
        record(id="c", model="other"),
    ])
    got = any_store.figures(["ttft_s", "output_tokens", "chunk_count"],
                            RunFilter(models=("m",)))
    rows = sorted(zip(got.ttft_s, got.output_tokens.fillna(-1), got.chunk_count))
    assert rows == [(0.25, -1.0, 3.0), (0.5, 7.0, 3.0)]
    assert list(got.dtypes) == ["float64"] * 3
    empty = any_store.figures(["ttft_s"], RunFilter(models=("none",)))
    assert len(empty) == 0 and list(empty.columns) == ["ttft_s"]


# -- per-run figures summed up where the runs are ---------------------------------------------
def test_run_figures_are_computed_in_sql_on_postgresql_and_equal_numpys(any_store, store_target):
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from chatlib.store.run_figures import FigureQuery

    assert getattr(any_store.database, "percentiles_in_sql", False) == \
        store_target.startswith("postgresql:")
    ttfts = [0.5, 0.125, 0.25, 0.25, 1.0, 0.75, 2.0, 0.0625]
    alice, bob = any_store.for_owner("alice"), any_store.for_owner("bob")
    alice.add_many([record(id=f"a{i}", chunk_offsets_s=[t, t + 0.5], created_at=1e9 + i)
                    for i, t in enumerate(ttfts)])
    alice.add(record(id="stopped", chunk_offsets_s=[9.0, 9.5], status="stopped"))
    bob.add_many([record(id=f"b{i}", chunk_offsets_s=[50.0, 51.0]) for i in range(3)])
    query = FigureQuery(quantiles={"ttft_s": (0.1, 0.5, 0.9), "tpot_s": ()},
                        histogram_columns=("ttft_s",), histogram_edges=(0.1, 0.3, 1.0),
                        timeline_columns=("ttft_s",), bucket_for_span=lambda span: 4.0)
    with ThreadPoolExecutor(2) as executor:
        got = alice.run_figures(query, [("scripted", "m")], None, executor)
        mine = alice.run_figures(query, [("scripted", "m")], None, executor, in_python=True)
    ttft = got.summaries[("scripted", "m")]["ttft_s"]  # bob's runs and the stopped one: out
    assert ttft.n == 8 and ttft.mean == pytest.approx(np.mean(ttfts), rel=1e-12)
    assert list(ttft.quantiles.values()) == pytest.approx(
        list(np.quantile(ttfts, [0.1, 0.5, 0.9])), rel=1e-12)
    assert ttft.median_ci == (0.0625, 2.0)  # n = 8: the extremes
    assert mine.summaries[("scripted", "m")]["ttft_s"].median_ci == ttft.median_ci
    assert list(got.histograms[("scripted", "m")]["ttft_s"]) == [4, 4]  # end bins take the rest
    assert list(got.timelines["ttft_s"].n) == [4, 4]  # buckets [1e9, +4 s), [+4, +8 s)
    assert list(got.timelines["ttft_s"].bucket) == [1e9, 1e9 + 4]
    assert list(got.timelines["ttft_s"].p50) == pytest.approx(
        [np.median(ttfts[:4]), np.median(ttfts[4:])], rel=1e-12)
    assert list(mine.timelines["ttft_s"].p50) == pytest.approx(list(got.timelines["ttft_s"].p50))


# -- pooled ITL kept per hour ----------------------------------------------------------------
def _gap_runs() -> list[RunRecord]:
    """Finished, stopped and failed runs over three hours, two models and two pages."""
    import random

    rng = random.Random(3)
    runs = []
    for i in range(60):
        offsets = sorted(rng.uniform(0.05, 2.0) for _ in range(rng.randint(0, 30)))
        runs.append(record(id=f"g{i:02d}", model=("a", "b")[i % 2],
                           page=("chat", "compare")[i % 3 == 0],
                           status=("ok", "ok", "ok", "stopped")[i % 4],
                           created_at=7200.0 * 1000 + i * 180.0,  # 3 h from a whole hour
                           chunk_offsets_s=offsets, chunk_texts=["x"] * len(offsets)))
    return runs


def _pooled_from_offsets(store: RunStore, flt: RunFilter):
    from chatlib.runs.distributions import GapHistogram

    out = {}
    for (provider, model) in store.provider_models():
        if (flt.providers and provider not in flt.providers) or (flt.models and model
                                                                 not in flt.models):
            continue
        group = flt.narrowed(statuses=("ok",), providers=(provider,), models=(model,))
        blobs = [blob for batch in store.iter_offsets(group) for _, blob in batch]
        if blobs:
            out[(provider, model)] = GapHistogram.of_blobs(blobs)
    return out


@pytest.mark.parametrize("flt", [
    RunFilter(),
    RunFilter(since=7200.0 * 1000 + 1000.0),  # mid-hour: the first hour's runs from offsets
    RunFilter(since=7200.0 * 1000 + 3600.0, until=7200.0 * 1000 + 9000.0),
    RunFilter(since=7200.0 * 1000 + 4000.0, until=7200.0 * 1000 + 5000.0),  # within one hour
    RunFilter(pages=("compare",), models=("b",)),
])
def test_the_hourly_gap_histograms_count_exactly_what_the_offsets_hold(any_store, flt):
    runs = _gap_runs()
    any_store.add_many(runs[:40], batch=7)  # the bulk path and the one-by-one path
    for run in runs[40:]:
        any_store.add(run)
    want = _pooled_from_offsets(any_store, flt)
    got = any_store.itl_pools(flt)
    assert set(got) == set(want) and want
    for key in want:
        assert (got[key].runs, got[key].gaps) == (want[key].runs, want[key].gaps)
        assert (got[key].counts == want[key].counts).all()
        assert got[key].total_s == pytest.approx(want[key].total_s, rel=1e-12)


def test_the_hourly_gap_histograms_keep_owners_apart_and_refuse_what_they_cannot_tell(
        any_store):
    alice, bob = any_store.for_owner("alice"), any_store.for_owner("bob")
    runs = _gap_runs()
    alice.add_many(runs[:30])
    bob.add_many(runs[30:])
    assert alice.itl_pools() and {k: (h.runs, h.gaps) for k, h in alice.itl_pools().items()} \
        == {k: (h.runs, h.gaps) for k, h in _pooled_from_offsets(alice, RunFilter()).items()}
    everyone = sum(h.gaps for h in any_store.itl_pools().values())
    assert everyone == sum(h.gaps for s in (alice, bob) for h in s.itl_pools().values())
    assert any_store.itl_pools(RunFilter(prompts=("x",))) is None  # read the offsets instead
    assert any_store.itl_pools(RunFilter(statuses=("stopped",))) == {}


def test_a_database_url_is_shown_without_its_password():
    from chatlib.store.postgres import redact_url

    assert redact_url("postgresql://chatlab:s3cret@db:5432/chatlab") == \
        "postgresql://chatlab:***@db:5432/chatlab"
    assert redact_url("postgresql://chatlab@127.0.0.1:5432/x") == \
        "postgresql://chatlab@127.0.0.1:5432/x"
