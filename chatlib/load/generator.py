"""The load generator: sends one level's requests to one target on its schedule, and measures
itself while it does.

**Who reads the streams.** Every request is an answer opened with ``new_pump``, the one
streaming path of chat, compare and the API, read and timed in worker processes of the load's
own (``WorkerPool``: engine processes, ``chatlib.engine.main``, apart from the app's engine
that keeps serving chats; requests are dealt to them in turn). Each stamps every chunk where
its bytes arrive and does nothing else. A provider that cannot be rebuilt in a worker (a
test's own subclass) is read in this process, and its levels say so.

**How a level runs.**

- ``concurrency`` N: N lanes, each sending its next request as its last one ends, until the
  level's time is up (or it has sent ``requests``); a request sent in time runs to its end.
- ``rate`` R: a pacer sends request k at its arrival time (``arrivals.arrival_offsets``)
  whatever is in flight, up to ``MAX_IN_FLIGHT``; past that an arrival is dropped and counted.

**What it measures of itself** (``GeneratorCheck``): each request's send overhead, when the
worker actually sent it (the record's ``created_at``, taken in the worker just before the
request) minus when it was due (its arrival time; for a lane, when the worker had the lane's
last request's final chunk); and the CPU share of the busiest reading process over the
level (``psutil``). ``levels.summarize_level`` turns these into the client-bound flag.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import psutil

from chatlib.compare.comparison import SharedSettings, TargetSpec
from chatlib.core.types import FRESH_CONTEXT, Message
from chatlib.engine.client import EngineClient, EnginePump, engine_enabled, new_pump
from chatlib.load.arrivals import arrival_offsets
from chatlib.load.levels import GeneratorCheck
from chatlib.load.spec import LOAD_PAGE, LoadSpec
from chatlib.runs.record import RunRecord
from chatlib.streaming.pump import StreamPump

__all__ = ["WorkerPool", "LevelJob", "LevelOutcome", "run_level", "warm_up", "MAX_IN_FLIGHT",
           "STREAMS_PER_WORKER", "workers_for"]

MAX_IN_FLIGHT = 2000  # a rate level past this is not measuring the target any more
STREAMS_PER_WORKER = 100  # one reading process per this many streams, up to the cores
_GRACE_S = 120.0  # how long a level's last requests may run past its time


def workers_for(streams: int) -> int:
    """How many reading processes ``streams`` at once get on this machine."""
    return max(1, min(psutil.cpu_count() or 1, -(-streams // STREAMS_PER_WORKER)))


class WorkerPool:
    """The processes that read a load's streams (engines of its own), dealt in turn."""

    def __init__(self, count: int) -> None:
        self.clients = [EngineClient() for _ in range(max(1, count))]
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def start(self) -> None:
        if engine_enabled():
            for client in self.clients:
                client.start()

    def next_client(self) -> EngineClient:
        with self._lock:
            return self.clients[next(self._turn) % len(self.clients)]

    def cpu_seconds(self) -> list[float]:
        """CPU time so far of each reading process (this one's when none is running)."""
        pids: list[int | None] = [
            c.pid for c in self.clients if c.pid is not None] if engine_enabled() else []
        seconds = []
        for pid in pids or [None]:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:  # it died: its requests say how
                continue
            seconds.append(times.user + times.system)
        return seconds

    def close(self) -> None:
        for client in self.clients:
            client.close()


@dataclass(frozen=True)
class LevelJob:
    """One target at one level."""

    label: str
    target: TargetSpec
    level: float
    seq: int
    group_id: str
    prompts: Sequence[tuple[str, int]]  # (text, input tokens by the target's counter)


@dataclass
class LevelOutcome:
    records: list[RunRecord]
    check: GeneratorCheck
    duration_s: float


class _Level:
    """The state of one running level: its pumps, what they recorded, its overheads."""

    def __init__(self, job: LevelJob, spec: LoadSpec, pool: WorkerPool,
                 stop: threading.Event, before_send: Callable[[], None] | None,
                 on_record: Callable[[RunRecord], None] | None) -> None:
        self.job, self.spec, self.pool, self.stop = job, spec, pool, stop
        self.before_send = before_send
        self.on_record = on_record
        self.lock = threading.Lock()
        self.sent = 0
        self.in_flight: dict[str, StreamPump] = {}
        self.records: list[RunRecord] = []
        self.due: dict[str, float] = {}  # run id → when it was due (wall clock)
        self.overheads: list[float] = []
        self.dropped = 0
        self.all_done = threading.Condition(self.lock)
        workload = spec.workload
        shared = SharedSettings(workload.system_prompt, workload.output_tokens,
                                workload.temperature)
        # Every request starts cold, as in Compare: no request is timed against another's
        # cache in the embedded model.
        self.settings = shared.for_model(job.target.model,
                                         {**job.target.extra, FRESH_CONTEXT: True})
        self.read_here = False  # some request was read in this process, not a worker

    def claim(self) -> int | None:
        """The next request's number, or None when the level has sent all it may."""
        with self.lock:
            if self.stop.is_set() or (self.spec.requests is not None
                                      and self.sent >= self.spec.requests):
                return None
            self.sent += 1
            return self.sent - 1

    def send(self, k: int, due_wall: float) -> StreamPump:
        if self.before_send is not None:
            self.before_send()  # a test slows the generator here on purpose
        text, tokens = self.job.prompts[k % len(self.job.prompts)]
        target = self.job.target
        pump = new_pump(
            target.provider, [Message("user", text)], self.settings,
            counter=target.counter, input_tokens=tokens, input_source=target.counter.source,
            on_done=self._done,
            record_fields={"page": LOAD_PAGE, "group_id": self.job.group_id,
                           "label": self.job.label},
            client=self.pool.next_client(),
        )
        with self.lock:
            self.due[pump.run_id] = due_wall
            self.in_flight[pump.run_id] = pump
            self.read_here = self.read_here or not isinstance(pump, EnginePump)
        pump.start()
        if self.stop.is_set():  # a Stop while this one was being sent: it stops too
            pump.stop()
        return pump

    def _done(self, record: RunRecord) -> None:
        with self.lock:
            self.in_flight.pop(record.id, None)
            due = self.due.pop(record.id, None)
            if due is not None:
                self.overheads.append(max(0.0, record.created_at - due))
            self.records.append(record)
            self.all_done.notify_all()
        if self.on_record is not None:
            self.on_record(record)

    def wait_all(self, deadline: float) -> None:
        with self.lock:
            while self.in_flight and not self.stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.all_done.wait(min(left, 0.2))
        self.stop_all()

    def stop_all(self) -> None:
        """Stop the requests in flight (a Stop, or past the grace): each keeps what arrived."""
        with self.lock:
            pumps = list(self.in_flight.values())
        for pump in pumps:
            pump.stop()
        for pump in pumps:
            pump.wait(10)


def _lane(level: _Level, end_mono: float, start_wall: float) -> None:
    due = start_wall
    while time.monotonic() < end_mono:
        k = level.claim()
        if k is None:
            return
        pump = level.send(k, due)
        record = pump.wait()
        if record is None or level.stop.is_set():
            return
        offsets = record.chunk_offsets_s + record.reasoning_offsets_s
        # The lane's next request is due when its reader had this one's last chunk.
        due = record.created_at + max(offsets) if offsets else time.time()


def _pacer(level: _Level, end_mono: float, start_mono: float, start_wall: float,
           rate: float) -> None:
    arrivals = arrival_offsets(rate, poisson=level.spec.schedule.poisson,
                               seed=level.spec.seed * 7919 + level.job.seq)
    for offset in arrivals:
        if start_mono + offset >= end_mono:
            return
        if level.stop.wait(max(0.0, start_mono + offset - time.monotonic())):
            return
        with level.lock:
            full = len(level.in_flight) >= MAX_IN_FLIGHT
            if full:
                level.dropped += 1
        if full:
            continue
        k = level.claim()
        if k is None:
            return
        level.send(k, start_wall + offset)


def warm_up(job: LevelJob, spec: LoadSpec, pool: WorkerPool) -> None:
    """One request per reading process, not counted and not stored, before a target's first
    level: the worker builds its client (imports, a connection pool, a TLS session) there,
    not inside the first timed request."""
    level = _Level(job, spec, pool, threading.Event(), None, None)
    pumps = []
    for client in pool.clients:
        text, tokens = job.prompts[0]
        pumps.append(new_pump(job.target.provider, [Message("user", text)], level.settings,
                              counter=job.target.counter, input_tokens=tokens,
                              client=client).start())
    for pump in pumps:
        pump.wait(_GRACE_S)


def run_level(job: LevelJob, spec: LoadSpec, pool: WorkerPool, stop: threading.Event, *,
              before_send: Callable[[], None] | None = None,
              on_record: Callable[[RunRecord], None] | None = None) -> LevelOutcome:
    """Run one level to its end (or to ``stop``: the requests in flight are stopped and
    keep what arrived). ``on_record`` sees each request as it ends (progress)."""
    level = _Level(job, spec, pool, stop, before_send, on_record)
    cpu_before = pool.cpu_seconds()
    start_mono, start_wall = time.monotonic(), time.time()
    end_mono = start_mono + spec.seconds
    if spec.schedule.mode == "rate":
        senders = [threading.Thread(target=_pacer, name="load-pacer", daemon=True,
                                    args=(level, end_mono, start_mono, start_wall, job.level))]
    else:
        senders = [threading.Thread(target=_lane, name=f"load-lane-{i}", daemon=True,
                                    args=(level, end_mono, start_wall))
                   for i in range(int(job.level))]
    for sender in senders:
        sender.start()
    while any(sender.is_alive() for sender in senders):
        if stop.wait(0.05):
            level.stop_all()  # the lanes waiting on these return at once
            break
    for sender in senders:
        sender.join()
    level.wait_all(time.monotonic() + max(_GRACE_S, 4 * spec.seconds))
    duration = time.monotonic() - start_mono
    cpu_after = pool.cpu_seconds()
    shares = [(after - before) / duration for before, after in zip(cpu_before, cpu_after)]
    overheads = np.asarray(level.overheads, dtype=float)
    check = GeneratorCheck(
        overhead_mean_s=float(overheads.mean()) if overheads.size else None,
        overhead_p99_s=float(np.percentile(overheads, 99)) if overheads.size else None,
        overhead_max_s=float(overheads.max()) if overheads.size else None,
        cpu_share=max(shares) if shares else None,
        dropped=level.dropped,
        in_engine=not level.read_here,
    )
    with level.lock:
        records = sorted(level.records, key=lambda r: r.created_at)
    return LevelOutcome(records, check, duration)
