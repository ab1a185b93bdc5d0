"""Stored load runs (the Load page and ``chatlib.cli.load``), in the run store's database.

A load's row is written when it starts (``create``: its spec, never a key), its levels'
results after each level (``set_levels``: ``LevelResult.to_dict`` per target and level, the
figures computed once when the level ended) and how it ended (``finish``). Its requests are
the ``runs`` rows with page ``load``, ``group_id`` = ``"<load id>/<level seq>"`` and
``label`` = the target's, added by the run store as each level ends. Scoped to a user
(``RunStore.for_owner``), it writes that user's and reads only theirs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chatlib.runs.record import RunRecord
from chatlib.store.filters import RunFilter
from chatlib.store.runs import RunStore

__all__ = ["LoadStore", "StoredLoad", "level_group_id"]


def level_group_id(load_id: str, seq: int) -> str:
    """The ``group_id`` of a load level's runs."""
    return f"{load_id}/{seq}"


@dataclass(frozen=True)
class StoredLoad:
    """A load run as stored: its spec and results as plain dicts (``chatlib.load`` reads
    them back into its types)."""

    id: str
    created_at: float
    spec: dict[str, Any]
    levels: list[dict[str, Any]]
    ended_at: float | None = None  # None while it runs, or when its process died first
    stopped: bool = False


class LoadStore:
    """Load runs in the database of ``runs``, seen as its owner."""

    def __init__(self, runs: RunStore) -> None:
        self._runs = runs
        self._db = runs.database
        self._owner = runs.owner

    def _mine(self) -> tuple[str, list[Any]]:
        return ("", []) if self._owner is None else (" AND owner = ?", [self._owner])

    def create(self, load_id: str, created_at: float, spec: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO loads (id, created_at, spec_json, levels_json, owner) "
            "VALUES (?,?,?,?,?)",
            (load_id, created_at, json.dumps(spec), "[]", self._owner or ""))

    def set_levels(self, load_id: str, levels: Sequence[dict[str, Any]]) -> None:
        mine, args = self._mine()
        self._db.execute(f"UPDATE loads SET levels_json = ? WHERE id = ?{mine}",
                         (json.dumps(list(levels)), load_id, *args))

    def add_runs(self, records: Sequence[RunRecord]) -> None:
        self._runs.add_many(records)

    def finish(self, load_id: str, *, ended_at: float, stopped: bool) -> None:
        mine, args = self._mine()
        self._db.execute(f"UPDATE loads SET ended_at = ?, stopped = ? WHERE id = ?{mine}",
                         (ended_at, int(stopped), load_id, *args))

    def get(self, load_id: str) -> StoredLoad | None:
        mine, args = self._mine()
        row = self._db.one(
            "SELECT created_at, spec_json, levels_json, ended_at, stopped FROM loads "
            f"WHERE id = ?{mine}", (load_id, *args))
        if row is None:
            return None
        created_at, spec, levels, ended_at, stopped = row
        return StoredLoad(load_id, created_at, json.loads(spec), json.loads(levels), ended_at,
                          bool(stopped))

    def recent(self, limit: int = 50) -> list[StoredLoad]:
        mine, args = self._mine()
        rows = self._db.all(
            "SELECT id FROM loads WHERE 1 = 1" + mine + " ORDER BY created_at DESC LIMIT ?",
            (*args, limit))
        return [load for (load_id,) in rows if (load := self.get(load_id)) is not None]

    def runs(self, load_id: str, seqs: Sequence[int]) -> list[RunRecord]:
        """The requests of the given levels, every chunk's timestamp included."""
        if not seqs:
            return []
        groups = tuple(level_group_id(load_id, seq) for seq in seqs)
        ids = self._runs.select(["id"], RunFilter(pages=("load",), group_ids=groups))
        return [r for r in map(self._runs.get, ids.id) if r is not None]
