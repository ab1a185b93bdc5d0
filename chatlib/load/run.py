"""A load run: every target through every level of its schedule, kept as it goes.

Targets are measured one after another, each through all its levels, so no target's load
moves another's figures and the generator serves one at a time. A sweep picks each target's
next level from its results so far (``knee.next_sweep_level``); fixed levels run in the
order given. After each level its requests go to the run store (page ``load``) and its
figures (``LevelResult``, computed once, here) to the load's row, so a Stop, or a reload
of the page, keeps every level measured so far; the level in flight keeps its requests too.

The page polls ``progress()`` and ``results()``; ``LoadView`` reopens a stored load (by URL
on any replica) with the same figures and knees, no recomputation.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chatlib.compare.comparison import TargetSpec
from chatlib.load.generator import LevelJob, Pool, WorkerPool, run_level, warm_up, workers_for
from chatlib.load.knee import Knee, knee_of, next_sweep_level
from chatlib.load.levels import LevelResult, summarize_level
from chatlib.load.spec import LoadSpec
from chatlib.load.workload import level_prompts
from chatlib.runs.record import RunRecord
from chatlib.store.loads import LoadStore, StoredLoad, level_group_id

__all__ = ["LoadRun", "LoadView", "Progress"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """Where a running load is: the level in flight and what it has done."""

    label: str = ""
    level: float | None = None
    done: int = 0  # requests of this level that ended
    elapsed_s: float = 0.0
    level_s: float = 0.0  # the level's planned length
    levels_done: int = 0


@dataclass
class LoadView:
    """A load's spec, results and knees: what the page, the report and the CLI read, the
    same for a running load and a stored one."""

    id: str
    created_at: float
    spec: LoadSpec
    results: list[LevelResult] = field(default_factory=list)
    ended_at: float | None = None
    stopped: bool = False

    @classmethod
    def from_stored(cls, stored: StoredLoad) -> LoadView:
        return cls(stored.id, stored.created_at, LoadSpec.from_dict(stored.spec),
                   [LevelResult.from_dict(level) for level in stored.levels],
                   stored.ended_at, stored.stopped)

    def name_of(self, label: str) -> str:
        return dict(self.spec.targets).get(label, label)

    def target_results(self, label: str) -> list[LevelResult]:
        return sorted((r for r in self.results if r.label == label), key=lambda r: r.level)

    def knees(self) -> list[Knee]:
        return [knee_of(label, name, self.target_results(label), self.spec.slos,
                        self.spec.schedule)
                for label, name in self.spec.targets]


class LoadRun(LoadView):
    """Runs ``spec`` against ``targets`` (in the order of ``spec.targets``) in a thread of
    its own; ``store`` (optional) keeps it. Its requests go out from ``pool`` (default: a
    ``WorkerPool`` of ``workers`` processes on this machine, one per 100 streams)."""

    def __init__(self, spec: LoadSpec, targets: Sequence[TargetSpec], *,
                 store: LoadStore | None = None, workers: int | None = None,
                 pool: Pool | None = None,
                 before_send: Callable[[], None] | None = None) -> None:
        if len(targets) != len(spec.targets):
            raise ValueError("one TargetSpec per target of the spec")
        super().__init__(uuid.uuid4().hex, time.time(), spec)
        self._targets = dict(zip((label for label, _ in spec.targets), targets))
        self._store = store
        self._workers = workers
        self._pool = pool
        self._before_send = before_send
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._progress = Progress()
        self._level_started = 0.0
        self._thread = threading.Thread(target=self._run, name=f"load-{self.id[:8]}",
                                        daemon=True)
        self.failure: str | None = None  # why it ended early (an unexpected fault)

    # -- control ---------------------------------------------------------------------------
    def start(self) -> LoadRun:
        if self._store is not None:
            self._store.create(self.id, self.created_at, self.spec.to_dict())
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop now: the level in flight stops its requests (each keeps what arrived) and
        is kept with the levels before it."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self.ended_at is not None

    def progress(self) -> Progress:
        with self._lock:
            progress = self._progress
        if self.done or progress.level is None:
            return progress
        return Progress(progress.label, progress.level, progress.done,
                        time.monotonic() - self._level_started, progress.level_s,
                        progress.levels_done)

    # -- the run ---------------------------------------------------------------------------
    def _next_level(self, label: str, fixed: list[float] | None) -> float | None:
        if fixed is not None:
            return fixed.pop(0) if fixed else None
        return next_sweep_level(self.target_results(label), self.spec.slos,
                                self.spec.schedule.max_level)

    def _run(self) -> None:
        schedule = self.spec.schedule
        # Streams at once, at most (a rate level: about the rate, for answers of a second).
        biggest = schedule.max_level if schedule.mode == "sweep" else max(schedule.levels)
        pool = self._pool or WorkerPool(self._workers or workers_for(int(biggest)))
        seq = 0
        try:
            for label, _name in self.spec.targets:
                fixed = None if schedule.mode == "sweep" else list(schedule.levels)
                warm = True
                while not self._stop.is_set():
                    level = self._next_level(label, fixed)
                    if level is None:
                        break
                    self._run_one(pool, label, level, seq, warm)
                    warm = False
                    seq += 1
        except Exception as exc:  # kept and shown; the levels measured stay
            log.exception("load %s failed", self.id)
            self.failure = f"The load run stopped on an unexpected fault: {exc}"
        finally:
            pool.close()
            self.stopped = self._stop.is_set()
            self.ended_at = time.time()
            if self._store is not None:
                try:
                    self._store.finish(self.id, ended_at=self.ended_at, stopped=self.stopped)
                except Exception:
                    log.exception("storing the end of load %s failed", self.id)

    def _run_one(self, pool: Pool, label: str, level: float, seq: int,
                 warm: bool) -> None:
        target = self._targets[label]
        prompts = level_prompts(self.spec.workload, target.counter, self.spec.seed + seq)
        job = LevelJob(label, target, level, seq, level_group_id(self.id, seq), prompts)
        if warm:
            warm_up(job, self.spec, pool)
        done = [0]

        def ended(_record: RunRecord) -> None:
            with self._lock:
                done[0] += 1
                p = self._progress
                self._progress = Progress(p.label, p.level, done[0], 0.0, p.level_s,
                                          p.levels_done)

        with self._lock:
            self._level_started = time.monotonic()
            self._progress = Progress(label, level, 0, 0.0, self.spec.seconds, len(self.results))
        outcome = run_level(job, self.spec, pool, self._stop, before_send=self._before_send,
                            on_record=ended)
        if outcome.failure:
            self.failure = outcome.failure
            self._stop.set()  # the levels measured stay; this one is kept as far as it got
        result = summarize_level(label, level, seq, outcome.records, self.spec.slos,
                                 outcome.duration_s, outcome.check)
        with self._lock:
            self.results.append(result)
            self._progress = Progress(levels_done=len(self.results))
        if self._store is not None:
            self._store.add_runs(outcome.records)
            self._store.set_levels(self.id, [r.to_dict() for r in self.results])
