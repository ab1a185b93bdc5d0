"""Stored prompt-set runs (``chatlib.evals.runner``), in the run store's database.

A prompt-set run's row is written when it starts (``create``: the file it came from, its
targets, repeat and shared settings) and updated when it ends (``finish``). Each case is
one stored comparison: ``add_case`` links the case (what it asks and checks, as
``PromptCase.to_dict()`` gives it) to that comparison's id as the comparison starts, so
the runs of a case are the ``runs`` rows with ``group_id`` = its comparison id. ``get``
reads it all back, so the results grid can be drawn again. No SQL leaves this package.
Scoped to a user (``RunStore.for_owner``), it writes that user's and reads only theirs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chatlib.store.runs import RunStore

__all__ = ["PromptSetStore", "StoredPromptSet", "StoredPromptCase"]


@dataclass(frozen=True)
class StoredPromptCase:
    """One case of a stored prompt-set run and the comparison that ran it."""

    seq: int  # 0, 1, 2, ... in the file's order
    case: dict[str, Any]  # PromptCase.to_dict()
    comparison_id: str


@dataclass(frozen=True)
class StoredPromptSet:
    """A prompt-set run as stored (``ended_at`` is ``None`` while it runs, or when the
    process stopped before it ended)."""

    id: str
    created_at: float
    source: str  # the name of the file the prompts came from
    targets: tuple[str, ...]  # "provider:model", in label order (A, B, ...) of each case
    repeat: int
    settings: dict[str, Any]  # the shared settings: system_prompt, max_tokens, ...
    cases: tuple[StoredPromptCase, ...] = ()
    ended_at: float | None = None
    stopped: bool = False


class PromptSetStore:
    """Prompt-set runs in the database of ``runs`` and ``comparisons``, seen as its owner."""

    def __init__(self, runs: RunStore) -> None:
        self._db = runs.database
        self._owner = runs.owner

    def _mine(self) -> tuple[str, list[Any]]:
        return ("", []) if self._owner is None else (" AND owner = ?", [self._owner])

    # -- writing --------------------------------------------------------------------------
    def create(self, prompt_set: StoredPromptSet) -> None:
        """Store a prompt-set run as it starts (with its cases, if it has any yet)."""
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO prompt_sets (id, created_at, source, targets_json, repeat, "
                "settings_json, ended_at, stopped, owner) VALUES (?,?,?,?,?,?,?,?,?)",
                (prompt_set.id, prompt_set.created_at, prompt_set.source,
                 json.dumps(list(prompt_set.targets)), prompt_set.repeat,
                 json.dumps(prompt_set.settings), prompt_set.ended_at,
                 int(prompt_set.stopped), self._owner or ""))
            for case in prompt_set.cases:
                self.add_case(prompt_set.id, case)

    def add_case(self, prompt_set_id: str, case: StoredPromptCase) -> None:
        """One case, as its comparison starts."""
        self._db.execute(
            "INSERT INTO prompt_set_cases (prompt_set_id, seq, case_json, comparison_id) "
            "VALUES (?,?,?,?)",
            (prompt_set_id, case.seq, json.dumps(case.case), case.comparison_id))

    def finish(self, prompt_set_id: str, *, ended_at: float, stopped: bool) -> None:
        """When the prompt-set run ended, and whether it was stopped before its last case."""
        self._db.execute("UPDATE prompt_sets SET ended_at = ?, stopped = ? WHERE id = ?",
                         (ended_at, int(stopped), prompt_set_id))

    # -- reading --------------------------------------------------------------------------
    def get(self, prompt_set_id: str) -> StoredPromptSet | None:
        """The stored prompt-set run with its cases, or ``None`` when there is no such id."""
        clause, params = self._mine()
        with self._db.snapshot():
            row = self._db.one(
                "SELECT created_at, source, targets_json, repeat, settings_json, ended_at, "
                f"stopped FROM prompt_sets WHERE id = ?{clause}", (prompt_set_id, *params))
            if row is None:
                return None
            created_at, source, targets, repeat, settings, ended_at, stopped = row
            cases = tuple(
                StoredPromptCase(int(seq), json.loads(case), comparison_id)
                for seq, case, comparison_id in self._db.all(
                    "SELECT seq, case_json, comparison_id FROM prompt_set_cases "
                    "WHERE prompt_set_id = ? ORDER BY seq", (prompt_set_id,)))
        return StoredPromptSet(
            id=prompt_set_id, created_at=created_at, source=source,
            targets=tuple(json.loads(targets)), repeat=int(repeat),
            settings=json.loads(settings), cases=cases, ended_at=ended_at,
            stopped=bool(stopped))

    def recent(self, limit: int = 50) -> list[StoredPromptSet]:
        """The newest prompt-set runs first, with their cases (a picker's list)."""
        clause, params = self._mine()
        ids = [row[0] for row in self._db.all(
            f"SELECT id FROM prompt_sets WHERE 1 = 1{clause} "
            "ORDER BY created_at DESC, id DESC LIMIT ?", (*params, int(limit)))]
        return [s for s in map(self.get, ids) if s is not None]
