"""The load generator: sends one level's requests to one target and measures itself, in
worker processes of its own.

**Who sends and reads.** ``WorkerPool`` starts load worker processes
(``chatlib.load.worker``: one per ``STREAMS_PER_WORKER`` streams, up to the cores), apart
from the app and from the engine that keeps serving its chats. A level is split between them
(lanes, or the rate as independent arrival streams whose sum is the level's; Poisson streams
add up to a Poisson stream) and each runs its share with ``lanes.run_here``: the schedule,
the requests and their readers all in one process that does nothing else, so a busy page can
neither delay a request nor move a timestamp. Records come back as requests end; the app
fills in a token count the provider did not report (its counter says which), and keeps them.

A provider that cannot be rebuilt in a worker (``recipe_of`` is None: a test's own
subclass), or ``CHATLAB_ENGINE=inline``, runs its level in this process with the same code;
its levels say so (``GeneratorCheck.in_workers`` False).

**Its check of itself** (``GeneratorCheck``): the send overheads of all workers (p99, mean,
max), the CPU share of the busiest worker over the level, and the arrivals dropped;
``levels.summarize_level`` turns them into the client-bound flag.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any, Protocol

import numpy as np

from chatlib.compare.comparison import SharedSettings, TargetSpec
from chatlib.core.exits import exit_words
from chatlib.core.types import FRESH_CONTEXT, Settings
from chatlib.engine.client import child_env, engine_enabled
from chatlib.load.lanes import LevelStats, LevelTask, run_here
from chatlib.load.levels import GeneratorCheck
from chatlib.load.spec import LOAD_PAGE, LoadSpec, Schedule
from chatlib.load.worker import DONE, LEVEL, RECORD, STOP
from chatlib.providers.base import recipe_of
from chatlib.runs.record import RunRecord

__all__ = ["Pool", "Worker", "WorkerPool", "LevelJob", "LevelOutcome", "run_level", "warm_up",
           "STREAMS_PER_WORKER", "workers_for", "WORKER_LOST"]

STREAMS_PER_WORKER = 100  # one worker process per this many streams, up to the cores
WORKER_LOST = "A load worker process stopped ({why}); the requests it had sent are kept."


def workers_for(streams: int) -> int:
    """How many worker processes ``streams`` at once get on this machine."""
    return max(1, min(os.cpu_count() or 1, -(-streams // STREAMS_PER_WORKER)))


class Worker(Protocol):
    """A worker as ``run_level`` uses it: a process here (``WorkerPool``) or a Ray actor
    (``chatlib.load.ray_pool``)."""

    def run(self, message: tuple[Any, ...], on_record: Callable[[RunRecord], None]
            ) -> tuple[LevelStats | None, str | None]: ...

    def send(self, message: tuple[Any, ...]) -> None: ...


class Pool(Protocol):
    def workers(self) -> Sequence[Worker]: ...

    def close(self) -> None: ...


class _Worker:
    """One worker process and the thread that reads what it sends."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chatlib.load.worker", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=child_env())
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.send_lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self.send_lock:
            self.conn.send(message)

    def run(self, message: tuple[Any, ...],
            on_record: Callable[[RunRecord], None]) -> tuple[LevelStats | None, str | None]:
        """Send a level, hand each record to ``on_record``, return its end."""
        try:
            self.send(message)
            while True:
                reply = self.conn.recv()
                if reply[0] == RECORD:
                    on_record(reply[1])
                elif reply[0] == DONE:
                    return reply[1], reply[2]
        except (EOFError, OSError):
            try:
                code = self.process.wait(1.0)
            except subprocess.TimeoutExpired:
                return None, WORKER_LOST.format(why="it closed its channel")
            return None, WORKER_LOST.format(why=exit_words(code))

    def close(self) -> None:
        self.conn.close()  # the worker's command loop ends, stopping what it ran
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class WorkerPool:
    """The worker processes of one load run (started on first use, ended by ``close``)."""

    def __init__(self, count: int) -> None:
        self.count = max(1, count)
        self._workers: list[_Worker] = []

    def workers(self) -> list[_Worker]:
        if not self._workers:
            self._workers = [_Worker() for _ in range(self.count)]
        return self._workers

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        self._workers = []


@dataclass(frozen=True)
class LevelJob:
    """One target at one level."""

    label: str
    target: TargetSpec
    level: float
    seq: int
    group_id: str
    prompts: Sequence[str]  # request k sends text k mod len, after its own head


@dataclass
class LevelOutcome:
    records: list[RunRecord]
    check: GeneratorCheck
    duration_s: float
    failure: str | None = None  # a worker process was lost


def _settings(job: LevelJob, spec: LoadSpec) -> Settings:
    workload = spec.workload
    shared = SharedSettings(workload.system_prompt, workload.output_tokens, workload.temperature)
    # Every request starts cold, as in Compare: none is timed against another's cache in the
    # embedded model.
    return shared.for_model(job.target.model, {**job.target.extra, FRESH_CONTEXT: True})


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def _tasks(job: LevelJob, spec: LoadSpec, parts: int) -> list[LevelTask]:
    """The level's shares for ``parts`` senders (fewer when there are fewer streams)."""
    rate = spec.schedule.mode == "rate"
    parts = parts if rate else max(1, min(parts, int(job.level)))
    streams = _split(int(job.level), parts) if not rate else [0] * parts
    caps = (_split(spec.requests, parts) if spec.requests is not None else [None] * parts)
    base = LevelTask(
        mode="rate" if rate else "concurrency", streams=0,
        rate=job.level / parts if rate else 0.0, poisson=spec.schedule.poisson,
        seconds=spec.seconds, requests=None, seed=0, prompts=tuple(job.prompts),
        input_source=job.target.counter.source, settings=_settings(job, spec),
        record_fields={"page": LOAD_PAGE, "group_id": job.group_id, "label": job.label},
        shares=parts)
    return [replace(base, streams=streams[i], requests=caps[i], share=i,
                    seed=(spec.seed * 7919 + job.seq) * 101 + i)
            for i in range(parts)]


def run_level(job: LevelJob, spec: LoadSpec, pool: Pool, stop: threading.Event, *,
              before_send: Callable[[], None] | None = None,
              on_record: Callable[[RunRecord], None] | None = None) -> LevelOutcome:
    """Run one level to its end (or to ``stop``: the requests in flight stop and keep what
    arrived). ``on_record`` sees each request as it ends (progress). ``before_send`` runs
    before every request (a test slows the generator with it): it keeps the level in this
    process."""
    counter = job.target.counter
    system = spec.workload.system_prompt
    records: list[RunRecord] = []
    lock = threading.Lock()

    def kept(record: RunRecord) -> None:
        # Counted here, not in the worker (whose only work is the requests): the prompt it
        # sent, and the answer when the provider reported no usage.
        if record.input_tokens is None:
            record.input_tokens = counter.count(record.prompt) + (
                counter.count(system) if system else 0)
            record.input_source = counter.source
        if record.output_tokens is None and record.text:
            record.output_tokens = counter.count(record.text)
            record.output_source = counter.source
        with lock:
            records.append(record)
        if on_record is not None:
            on_record(record)

    recipe = recipe_of(job.target.provider) if engine_enabled() else None
    here = recipe is None or before_send is not None
    workers: Sequence[Worker] = [] if here else pool.workers()
    tasks = _tasks(job, spec, 1 if here else len(workers))
    results: list[tuple[LevelStats | None, str | None]] = [(None, None)] * len(tasks)

    def share(i: int) -> None:
        if here:
            results[i] = (run_here(tasks[i], job.target.provider, stop, kept,
                                   counter=counter, before_send=before_send), None)
        else:
            results[i] = workers[i].run((LEVEL, recipe, tasks[i]), kept)

    threads = [threading.Thread(target=share, args=(i,), name=f"load-share-{i}", daemon=True)
               for i in range(len(tasks))]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        if stop.wait(0.05):
            for worker in workers:
                try:
                    worker.send((STOP,))
                except OSError:
                    pass  # gone: its share has ended already
            break
    for thread in threads:
        thread.join()
    stats = [s for s, _ in results if s is not None]
    failure = next((error for _, error in results if error), None)
    overheads = np.asarray([o for s in stats for o in s.overheads_s], dtype=float)
    lags = np.asarray([lag for s in stats for lag in s.lags_s], dtype=float)
    duration = max((s.wall_s for s in stats), default=0.0)
    check = GeneratorCheck(
        overhead_mean_s=float(overheads.mean()) if overheads.size else None,
        overhead_p99_s=float(np.percentile(overheads, 99)) if overheads.size else None,
        overhead_max_s=float(overheads.max()) if overheads.size else None,
        cpu_share=max((s.cpu_s / s.wall_s for s in stats if s.wall_s > 0), default=None),
        lag_p99_s=float(np.percentile(lags, 99)) if lags.size else None,
        lag_max_s=float(lags.max()) if lags.size else None,
        dropped=sum(s.dropped for s in stats),
        in_workers=not here,
        senders=tuple(s.sender for s in stats),
    )
    return LevelOutcome(sorted(records, key=lambda r: r.created_at), check, duration, failure)


def warm_up(job: LevelJob, spec: LoadSpec, pool: Pool) -> None:
    """One request per worker, not counted and not stored, before a target's first level:
    the worker builds its client there (imports, a connection pool, a TLS session), not
    inside the first timed request."""
    # One request in one lane, however long it takes (whatever the run's schedule).
    one = replace(spec, requests=1, seconds=60.0, schedule=Schedule("concurrency", (1,)))
    job = replace(job, level=1)
    recipe = recipe_of(job.target.provider) if engine_enabled() else None
    if recipe is None:
        return  # read here: the provider object is built already
    # Its own prompt and number (#999999), so no counted request meets its cache.
    task = replace(_tasks(job, one, 1)[0], share=999_999,
                   prompts=("Warm-up before a load run: reply with one word.",))
    warmers = [threading.Thread(target=worker.run, args=((LEVEL, recipe, task), _ignore))
               for worker in pool.workers()]
    for warmer in warmers:
        warmer.start()
    for warmer in warmers:
        warmer.join()


def _ignore(record: RunRecord) -> None:
    """A warm-up request's record: not kept."""
