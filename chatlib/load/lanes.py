"""Sends one share of a load level on its schedule, in this process, and measures itself.

Runs in a load worker process (``chatlib.load.worker``), whose only work this is; or, for a
provider that cannot be rebuilt there, in the generator's own process. Every request is a
``StreamPump``, the one streaming path of chat, compare and the API: a reader thread that
stamps each chunk where its bytes arrive.

- ``concurrency``: ``streams`` lanes; each sends its next request as soon as its last one
  ended, until the level's time is up (or its share of ``requests`` is sent). A request
  sent in time runs to its end.
- ``rate``: a pacer sends request k at its arrival time (``arrivals.arrival_offsets``),
  whatever is in flight, up to ``MAX_IN_FLIGHT``; past that an arrival is dropped, counted.

**What it measures of itself** (``LevelStats``), all on this process's monotonic clock:
each request's send overhead, when its reader took t0 minus when it was due (its arrival
time; in a lane, when the lane's previous request's last chunk arrived); how late a probe
thread that sleeps ``PROBE_S`` at a time wakes (the delay any reader here has between its
bytes arriving and its stamp: a thread waiting for a core or for the interpreter lock); and
this process's CPU time over the level.

Every request's prompt starts with its own number (``#000123``), so no two requests of a
level are alike and no prefix cache can serve one from another.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chatlib.core.tokens import TokenCounter
from chatlib.core.types import Message, Settings, TokenSource
from chatlib.load.arrivals import arrival_offsets
from chatlib.providers.base import Provider
from chatlib.runs.record import RunRecord
from chatlib.streaming.pump import StreamPump

__all__ = ["LevelTask", "LevelStats", "run_here", "MAX_IN_FLIGHT", "PROBE_S", "request_head"]

MAX_IN_FLIGHT = 2000  # a rate level past this is not measuring the target any more
PROBE_S = 0.005
_GRACE_S = 120.0  # how long a level's last requests may run past its time


def request_head(number: int) -> str:
    """What request ``number``'s prompt starts with (the same length for every number up
    to a million, so synthetic prompts keep their length)."""
    return f"#{number % 1_000_000:06d} "


@dataclass(frozen=True)
class LevelTask:
    """One worker's share of a level (plain values: it crosses to a worker process)."""

    mode: str  # "concurrency" | "rate"
    streams: int  # lanes (concurrency)
    rate: float  # requests per second (rate)
    poisson: bool
    seconds: float
    requests: int | None  # at most this many (None: until the time is up)
    seed: int
    prompts: tuple[str, ...]  # request k sends prompt k mod len, after its own head
    input_source: TokenSource | None
    settings: Settings
    record_fields: dict[str, Any] = field(default_factory=dict)
    share: int = 0  # this is share ``share`` of ``shares``: its request k is number
    shares: int = 1  # k * shares + share of the level


@dataclass
class LevelStats:
    """What the sender measured of itself over its share of a level."""

    overheads_s: list[float] = field(default_factory=list)  # t0 − due, per request
    lags_s: list[float] = field(default_factory=list)  # how late the probe woke
    dropped: int = 0
    cpu_s: float = 0.0  # this process's CPU time over the level
    wall_s: float = 0.0
    sender: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


class _Share:
    def __init__(self, task: LevelTask, provider: Provider, stop: threading.Event,
                 on_record: Callable[[RunRecord], None], counter: TokenCounter | None,
                 before_send: Callable[[], None] | None) -> None:
        self.task, self.provider, self.stop = task, provider, stop
        self.on_record, self.counter, self.before_send = on_record, counter, before_send
        self.lock = threading.Lock()
        self.sent = 0
        self.in_flight: dict[str, StreamPump] = {}
        self.due: dict[str, float] = {}
        self.stats = LevelStats()
        self.idle = threading.Condition(self.lock)

    def claim(self) -> int | None:
        with self.lock:
            if self.stop.is_set() or (self.task.requests is not None
                                      and self.sent >= self.task.requests):
                return None
            self.sent += 1
            return self.sent - 1

    def send(self, k: int, due: float) -> StreamPump:
        """Send request ``k`` of this share, due at ``due`` (monotonic)."""
        if self.before_send is not None:
            self.before_send()  # a test slows the generator here on purpose
        number = k * self.task.shares + self.task.share
        text = request_head(number) + self.task.prompts[number % len(self.task.prompts)]
        pump = StreamPump(self.provider, [Message("user", text)], self.task.settings,
                          counter=self.counter,
                          input_tokens=None if self.counter is None else self.counter.count(text),
                          input_source=self.task.input_source, on_done=self._done,
                          record_fields=dict(self.task.record_fields))
        with self.lock:
            self.due[pump.run_id] = due
            self.in_flight[pump.run_id] = pump
        pump.start()
        if self.stop.is_set():  # a Stop while this one was being sent: it stops too
            pump.stop()
        return pump

    def _done(self, record: RunRecord) -> None:
        with self.lock:
            pump = self.in_flight.pop(record.id, None)
            due = self.due.pop(record.id, None)
            if due is not None and pump is not None and pump.t0 is not None:
                self.stats.overheads_s.append(max(0.0, pump.t0 - due))
            self.idle.notify_all()
        self.on_record(record)

    def wait_all(self, deadline: float) -> None:
        with self.lock:
            while self.in_flight and not self.stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.idle.wait(min(left, 0.2))
        self.stop_all()

    def stop_all(self) -> None:
        """Stop the requests in flight (a Stop, or past the grace): each keeps what arrived."""
        with self.lock:
            pumps = list(self.in_flight.values())
        for pump in pumps:
            pump.stop()
        for pump in pumps:
            pump.wait(10)


def _lane(share: _Share, end_mono: float, start_mono: float) -> None:
    due = start_mono
    while time.monotonic() < end_mono:
        k = share.claim()
        if k is None:
            return
        pump = share.send(k, due)
        record = pump.wait()
        if record is None or share.stop.is_set():
            return
        # The lane's next request was due when this one's last chunk arrived (what comes
        # after it, the usage and the end of the stream, is the lane's overhead too).
        offsets = record.chunk_offsets_s + record.reasoning_offsets_s
        due = pump.t0 + max(offsets) if offsets and pump.t0 is not None else time.monotonic()


def _pacer(share: _Share, end_mono: float, start_mono: float) -> None:
    task = share.task
    for offset in arrival_offsets(task.rate, poisson=task.poisson, seed=task.seed):
        if start_mono + offset >= end_mono:
            return
        if share.stop.wait(max(0.0, start_mono + offset - time.monotonic())):
            return
        with share.lock:
            full = len(share.in_flight) >= MAX_IN_FLIGHT
            if full:
                share.stats.dropped += 1
        if full:
            continue
        k = share.claim()
        if k is None:
            return
        share.send(k, start_mono + offset)


def _probe(done: threading.Event, lags: list[float]) -> None:
    """Sleep ``PROBE_S`` at a time until ``done``, noting how late each wake came: what a
    reader here waits between its socket waking it and its stamp."""
    while True:
        due = time.monotonic() + PROBE_S
        if done.wait(PROBE_S):
            return
        lags.append(max(0.0, time.monotonic() - due))


def run_here(task: LevelTask, provider: Provider, stop: threading.Event,
             on_record: Callable[[RunRecord], None], *, counter: TokenCounter | None = None,
             before_send: Callable[[], None] | None = None) -> LevelStats:
    """Send ``task``'s requests to ``provider`` until its time is up, then wait for the last
    ones (or until ``stop``: the requests in flight stop and keep what arrived). Each
    request's record goes to ``on_record`` as it ends."""
    share = _Share(task, provider, stop, on_record, counter, before_send)
    cpu_before = time.process_time()
    start_mono = time.monotonic()
    end_mono = start_mono + task.seconds
    if task.mode == "rate":
        senders = [threading.Thread(target=_pacer, name="load-pacer", daemon=True,
                                    args=(share, end_mono, start_mono))]
    else:
        senders = [threading.Thread(target=_lane, name=f"load-lane-{i}", daemon=True,
                                    args=(share, end_mono, start_mono))
                   for i in range(task.streams)]
    probing = threading.Event()
    probe = threading.Thread(target=_probe, args=(probing, share.stats.lags_s),
                             name="load-probe", daemon=True)
    probe.start()
    for sender in senders:
        sender.start()
    while any(sender.is_alive() for sender in senders):
        if stop.wait(0.05):
            share.stop_all()  # the lanes waiting on these return at once
            break
    for sender in senders:
        sender.join()
    share.wait_all(time.monotonic() + max(_GRACE_S, 4 * task.seconds))
    probing.set()
    probe.join()
    share.stats.cpu_s = time.process_time() - cpu_before
    share.stats.wall_s = time.monotonic() - start_mono
    return share.stats
