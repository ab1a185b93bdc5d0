"""Time for tests on a busy machine: virtual clocks, waiting for a condition, and a provider
wrapper that notes what its stream yielded.

The machine is shared and often loaded (docs/architecture.md, "Tests with timing"): a real sleep
wakes late by anything up to tens of milliseconds, so no test asserts wall-clock timings.
A test injects a clock instead (``StreamPump(clock=)``, ``ScriptedProvider(sleep=)``,
``Comparison(clock=)``), checks order and structure (who waited for whom, what the server
saw), or, where a real wait is the point, uses a bound so far from the correct figure that
only the bug can cross it, and says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from chatlib.core.types import Event, Message, Settings

__all__ = ["VirtualClock", "ThreadClock", "wait_for", "HANG_GUARD_S", "MODEL_HANG_GUARD_S",
           "Recorded", "Rendezvous"]

T = TypeVar("T")

# How long a test waits for something that happens in milliseconds before it calls it a
# hang. Only a guard: no test passes or fails by how quickly the condition came true.
HANG_GUARD_S = 10.0
# The same for work of the embedded model: on 2 cores shared with busy neighbours llama.cpp's
# threads slow down far more than the rest (an 8-token answer took over 60 s at load 24).
MODEL_HANG_GUARD_S = 300.0


class VirtualClock:
    """Time that moves only when ``sleep()`` is called on it: a schedule slept on it is
    exact however loaded the machine. One time line, shared by every thread (locked)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


class ThreadClock:
    """A ``VirtualClock`` per thread: each thread reads and advances its own time line, all
    starting at ``start``. For runs that stream concurrently (a comparison's targets, each
    read in its own pump thread): one target's sleeps must not move another's clock. A time
    read in any other thread than the one that slept is on another time line, so a
    timestamp taken in the wrong thread shows up as a wrong figure."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._start = start
        self._local = threading.local()

    def __call__(self) -> float:
        now: float = getattr(self._local, "now", self._start)
        return now

    def sleep(self, seconds: float) -> None:
        self._local.now = self() + max(0.0, seconds)


def wait_for(condition: Callable[[], T], what: str, timeout_s: float = HANG_GUARD_S) -> T:
    """Poll ``condition`` until it returns something truthy, and return that. Fails after
    ``timeout_s`` (a hang guard, never a measurement) saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"hang guard: {what} did not happen within {timeout_s} s")
        time.sleep(0.005)


class Rendezvous:
    """Streams that must be open at the same time. ``Recorded(..., before=r.meet)`` makes
    each stream wait, before its first event, until ``parties`` streams are waiting; then
    all go on together. Streams run one after another never meet: the barrier breaks after
    the hang guard and every stream waiting on it raises ``BrokenBarrierError`` (the run
    fails). It is cyclic: the next ``parties`` streams meet again."""

    def __init__(self, parties: int, timeout_s: float = HANG_GUARD_S) -> None:
        self.barrier = threading.Barrier(parties, timeout=timeout_s)

    def meet(self) -> None:
        self.barrier.wait()


class Recorded:
    """Wraps a provider, for the pump to drive exactly as it drives the provider itself:
    ``close()`` and ``abort()`` reach the inner stream. Notes each event every stream
    yielded with the time on ``clock`` (``streams``: one list per stream), how many of its
    streams were open at once at most (``max_open``), and runs ``before()`` in each stream
    (the reader's thread) before its first event. Other attributes are the inner one's."""

    def __init__(self, inner: Any, *, clock: Callable[[], float] = time.monotonic,
                 before: Callable[[], None] | None = None) -> None:
        self.inner = inner
        self.id: str = inner.id
        self.label: str = inner.label
        self.needs_key: bool = inner.needs_key
        self.paid: bool = inner.paid
        self.clock = clock
        self.before = before
        self.streams: list[list[tuple[float, Event]]] = []
        self.max_open = 0
        self._open = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (copy, pickle): never recurse
            raise AttributeError(name)
        return getattr(self.inner, name)

    def models(self) -> list[str]:
        return list(self.inner.models())

    def stream(self, messages: Sequence[Message], settings: Settings) -> _RecordedStream:
        events: list[tuple[float, Event]] = []
        with self._lock:
            self.streams.append(events)
        return _RecordedStream(self, self.inner.stream(messages, settings), events)

    def events(self, kind: type | None = None) -> list[Any]:
        """Every event of every stream (of type ``kind``), in order."""
        return [e for s in self.streams for _, e in s if kind is None or isinstance(e, kind)]

    def _opened(self) -> None:
        with self._lock:
            self._open += 1
            self.max_open = max(self.max_open, self._open)

    def _closed(self) -> None:
        with self._lock:
            self._open -= 1


class _RecordedStream(Iterator[Event]):
    def __init__(self, owner: Recorded, inner: Any, events: list[tuple[float, Event]]) -> None:
        self._owner = owner
        self._inner = inner
        self._iter: Iterator[Event] | None = None
        self._events = events
        self._state = "new"  # new → open → ended

    def __iter__(self) -> _RecordedStream:
        return self

    def __next__(self) -> Event:
        try:
            if self._state == "new":
                self._state = "open"
                self._owner._opened()
                if self._owner.before is not None:
                    self._owner.before()
                self._iter = iter(self._inner)
            if self._iter is None:
                raise StopIteration
            event = next(self._iter)
        except BaseException:
            self._end()
            raise
        self._events.append((self._owner.clock(), event))
        return event

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._end()

    def abort(self) -> None:
        abort = getattr(self._inner, "abort", None)
        if abort is not None:
            abort()

    def _end(self) -> None:
        if self._state == "open":
            self._owner._closed()
        self._state = "ended"
