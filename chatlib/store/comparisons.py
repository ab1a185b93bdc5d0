"""Stored comparisons (the compare page), in the run store's database.

A comparison's row is written when it starts (``create``: the prompt, the shared settings,
repeat, warm-up, blind and its targets) and updated when it ends (``finish``: wall time,
stopped or not). Its counted runs are the ``runs`` rows with ``group_id`` = its id (page
``compare``, ``label`` = the target's), recorded by the pump as each ends; its vote is the
``votes`` row of the same id. ``get`` reads all three back, so a comparison can be drawn
again from its URL. The typed values below are all a caller passes or gets: no SQL leaves
this package. Settings are stored as ``Settings.to_dict()`` gives them: never a key.
Scoped to a user (``RunStore.for_owner``), it writes that user's and reads only theirs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chatlib.runs.record import RunRecord
from chatlib.store.filters import RunFilter
from chatlib.store.runs import RunStore

__all__ = ["ComparisonStore", "StoredComparison", "StoredTarget", "StoredVote"]


@dataclass(frozen=True)
class StoredTarget:
    """One column of a stored comparison (no provider object, so no key)."""

    label: str  # "A", "B", ...
    provider: str  # the provider's id ("scripted", "openai", ...)
    provider_label: str  # what the UI showed for it
    model: str
    settings: dict[str, Any]  # Settings.to_dict()
    history: tuple[tuple[str, str], ...] = ()  # (role, content) before this turn's prompt
    overrides: dict[str, Any] | None = None  # its own values of shared settings


@dataclass(frozen=True)
class StoredVote:
    choice: str  # a label or "tie"
    created_at: float


@dataclass(frozen=True)
class StoredComparison:
    """A comparison as stored: what it ran, and how it ended (``ended_at`` is ``None`` while
    it runs, or when the server stopped before it ended)."""

    id: str
    created_at: float
    prompt: str
    shared: dict[str, Any]  # system_prompt, max_tokens, temperature, seed
    repeat: int
    warmup: bool
    blind: bool
    targets: tuple[StoredTarget, ...]
    ended_at: float | None = None
    wall_s: float | None = None
    stopped: bool = False
    vote: StoredVote | None = None
    parent_id: str | None = None  # the comparison this one continues (multi-turn)


class ComparisonStore:
    """Comparisons in the database of ``runs``, seen as its owner. Runs and votes are
    written through it too, so a page holds one object for them all."""

    def __init__(self, runs: RunStore) -> None:
        self._runs = runs
        self._db = runs.database
        self._owner = runs.owner

    @property
    def owner(self) -> str | None:
        """Whose comparisons these are (``None``: everyone's)."""
        return self._owner

    # -- writing --------------------------------------------------------------------------
    def create(self, comparison: StoredComparison) -> None:
        """Store a comparison as it starts."""
        targets = [
            {"label": t.label, "provider": t.provider, "provider_label": t.provider_label,
             "model": t.model, "settings": t.settings,
             "history": [list(m) for m in t.history],
             "overrides": t.overrides or {}}
            for t in comparison.targets
        ]
        self._db.execute(
            "INSERT INTO comparisons (id, created_at, prompt, shared_json, repeat, warmup, "
            "blind, targets_json, ended_at, wall_s, stopped, parent_id, owner) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (comparison.id, comparison.created_at, comparison.prompt,
             json.dumps(comparison.shared), comparison.repeat, int(comparison.warmup),
             int(comparison.blind), json.dumps(targets), comparison.ended_at,
             comparison.wall_s, int(comparison.stopped), comparison.parent_id,
             self._owner or ""))

    def finish(self, comparison_id: str, *, ended_at: float, wall_s: float | None,
               stopped: bool) -> None:
        """How the comparison ended: when, its wall time, and whether it was stopped."""
        self._db.execute(
            "UPDATE comparisons SET ended_at = ?, wall_s = ?, stopped = ? WHERE id = ?",
            (ended_at, wall_s, int(stopped), comparison_id))

    def add_run(self, record: RunRecord) -> None:
        """One counted run of a comparison (``record.group_id`` is its id)."""
        self._runs.add(record)

    def add_vote(self, comparison_id: str, choice: str, *, blind: bool, prompt: str,
                 targets: list[dict[str, Any]], created_at: float) -> None:
        """The verdict on a comparison (``RunStore.add_vote``: voting again replaces it)."""
        self._runs.add_vote(comparison_id, choice, blind=blind, prompt=prompt,
                            targets=targets, created_at=created_at)

    # -- reading --------------------------------------------------------------------------
    def get(self, comparison_id: str) -> StoredComparison | None:
        """The stored comparison with its vote, or ``None`` when there is no such id."""
        mine = "" if self._owner is None else " AND c.owner = ?"
        row = self._db.one(
            "SELECT c.created_at, c.prompt, c.shared_json, c.repeat, c.warmup, c.blind, "
            "c.targets_json, c.ended_at, c.wall_s, c.stopped, v.choice, v.created_at, "
            "c.parent_id "
            "FROM comparisons c LEFT JOIN votes v ON v.comparison_id = c.id WHERE c.id = ?"
            + mine, (comparison_id,) if self._owner is None else (comparison_id, self._owner))
        if row is None:
            return None
        (created_at, prompt, shared, repeat, warmup, blind, targets, ended_at, wall_s, stopped,
         choice, voted_at, parent_id) = row
        return StoredComparison(
            id=comparison_id, created_at=created_at, prompt=prompt, shared=json.loads(shared),
            repeat=int(repeat), warmup=bool(warmup), blind=bool(blind),
            targets=tuple(StoredTarget(t["label"], t["provider"], t["provider_label"],
                                       t["model"], t["settings"],
                                       tuple((r, c) for r, c in t.get("history", [])),
                                       t.get("overrides") or None)
                          for t in json.loads(targets)),
            ended_at=ended_at, wall_s=wall_s, stopped=bool(stopped),
            vote=None if choice is None else StoredVote(choice, voted_at), parent_id=parent_id,
        )

    def runs(self, comparison_id: str) -> list[RunRecord]:
        """The comparison's counted runs, oldest first (warm-up runs are never stored)."""
        ids = self._runs.select(["id"], RunFilter(pages=("compare",), group_ids=(comparison_id,)))
        return [r for r in map(self._runs.get, ids.id) if r is not None]
