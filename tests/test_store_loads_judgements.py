"""The loads and judgements tables on each backend (SQLite and a real PostgreSQL the tests
start): what is written reads back, a load's requests are found by its levels, and another
user sees none of it."""

from __future__ import annotations

import time

from chatlib.runs.record import RunRecord
from chatlib.store.judgements import JudgementStore, StoredJudgement
from chatlib.store.loads import LoadStore, level_group_id


def _request(load_id: str, seq: int) -> RunRecord:
    return RunRecord(provider="scripted", model="m", settings={}, status="ok",
                     created_at=time.time(), chunk_offsets_s=[0.1, 0.2],
                     chunk_texts=["a", "b"], output_tokens=2, page="load",
                     group_id=level_group_id(load_id, seq), label="A")


def test_a_load_and_its_requests_round_trip(any_store):
    mine, theirs = LoadStore(any_store.for_owner("me")), LoadStore(any_store.for_owner("you"))
    mine.create("L1", 100.0, {"targets": [["A", "scripted:m"]]})
    mine.add_runs([_request("L1", 0), _request("L1", 0), _request("L1", 1)])
    mine.set_levels("L1", [{"seq": 0, "level": 1}, {"seq": 1, "level": 2}])
    mine.finish("L1", ended_at=105.0, stopped=True)
    stored = mine.get("L1")
    assert stored is not None and stored.spec == {"targets": [["A", "scripted:m"]]}
    assert [level["level"] for level in stored.levels] == [1, 2]
    assert stored.ended_at == 105.0 and stored.stopped
    assert len(mine.runs("L1", [0])) == 2 and len(mine.runs("L1", [0, 1])) == 3
    assert [load.id for load in mine.recent()] == ["L1"]
    assert theirs.get("L1") is None and theirs.recent() == []
    theirs.set_levels("L1", [])  # another user cannot overwrite it either
    assert mine.get("L1").levels != []


def test_judgements_round_trip_per_subject_and_owner(any_store):
    mine = JudgementStore(any_store.for_owner("me"))
    theirs = JudgementStore(any_store.for_owner("you"))
    for i, subject in enumerate(("C1", "C1", "C2")):
        mine.add(StoredJudgement(f"J{i}", 10.0 + i, "comparison", subject, "scripted:judge",
                                 "pairwise", {"verdicts": [{"winner": "B"}], "n": i}))
    assert [j.id for j in mine.of("C1")] == ["J0", "J1"]
    assert mine.of("C2")[0].result == {"verdicts": [{"winner": "B"}], "n": 2}
    assert len(mine.all()) == 3 and theirs.all() == [] and theirs.of("C1") == []
