"""Stored judgements (``chatlib.quality.judge``): a judge's verdicts on a comparison or a
prompt-set run, kept with what it judged, in the run store's database. The verdicts (with
the judge's reasoning) are stored as the judge's result serialises them; the judge's own
requests are runs with page ``judge`` (``group_id`` = the judgement's id), so its cost and
latency are kept and shown apart from the targets'. Scoped to a user (``RunStore.for_owner``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chatlib.store.runs import RunStore

__all__ = ["JudgementStore", "StoredJudgement"]


@dataclass(frozen=True)
class StoredJudgement:
    id: str
    created_at: float
    subject_kind: str  # comparison | prompt_set
    subject_id: str
    judge: str  # "provider:model"
    mode: str  # pairwise | grade
    result: dict[str, Any]


class JudgementStore:
    def __init__(self, runs: RunStore) -> None:
        self._db = runs.database
        self._owner = runs.owner

    def _mine(self) -> tuple[str, list[Any]]:
        return ("", []) if self._owner is None else (" AND owner = ?", [self._owner])

    def add(self, judgement: StoredJudgement) -> None:
        self._db.execute(
            "INSERT INTO judgements (id, created_at, subject_kind, subject_id, judge, mode, "
            "result_json, owner) VALUES (?,?,?,?,?,?,?,?)",
            (judgement.id, judgement.created_at, judgement.subject_kind, judgement.subject_id,
             judgement.judge, judgement.mode, json.dumps(judgement.result),
             self._owner or ""))

    def _rows(self, where: str, params: list[Any]) -> list[StoredJudgement]:
        mine, args = self._mine()
        rows = self._db.all(
            "SELECT id, created_at, subject_kind, subject_id, judge, mode, result_json "
            f"FROM judgements WHERE {where}{mine} ORDER BY created_at", (*params, *args))
        return [StoredJudgement(i, c, k, s, j, m, json.loads(r)) for i, c, k, s, j, m, r in rows]

    def of(self, subject_id: str) -> list[StoredJudgement]:
        """The judgements of one comparison or prompt-set run, oldest first."""
        return self._rows("subject_id = ?", [subject_id])

    def all(self) -> list[StoredJudgement]:
        """Every judgement of this user (the leaderboard reads them)."""
        return self._rows("1 = 1", [])
