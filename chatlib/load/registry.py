"""The load runs of one user in this process: the ones running (a rerun, a page switch or a
reload finds the same run, still going) and, through the store, every one kept (a URL
``?load=<id>`` opens it on any replica: a run going on elsewhere shows its levels so far)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from chatlib.compare.comparison import TargetSpec
from chatlib.load.run import LoadRun, LoadView
from chatlib.load.spec import LoadSpec
from chatlib.store.loads import LoadStore

__all__ = ["LoadRuns"]


class LoadRuns:
    """Starts and finds load runs, kept in ``store``."""

    def __init__(self, store: LoadStore) -> None:
        self.store = store
        self._live: dict[str, LoadRun] = {}
        self._lock = threading.Lock()

    def start(self, spec: LoadSpec, targets: Sequence[TargetSpec]) -> LoadRun:
        run = LoadRun(spec, targets, store=self.store)
        with self._lock:
            # Finished runs are read from the store from now on.
            self._live = {i: r for i, r in self._live.items() if not r.done}
            self._live[run.id] = run
        return run.start()

    def running(self) -> list[LoadRun]:
        with self._lock:
            return [run for run in self._live.values() if not run.done]

    def get(self, load_id: str) -> LoadView | None:
        """The live run with this id, else the stored one, else None."""
        with self._lock:
            live = self._live.get(load_id)
        if live is not None:
            return live
        stored = self.store.get(load_id)
        return None if stored is None else LoadView.from_stored(stored)

    def recent(self, limit: int = 20) -> list[LoadView]:
        return [LoadView.from_stored(stored) for stored in self.store.recent(limit)]
