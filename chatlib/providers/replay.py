"""A provider that replays a recorded run: its text, chunk by chunk, on its recorded timing.

A demo then runs offline with a real provider's answer and a real provider's rhythm: chunk
``i`` is sent ``chunk_offsets_s[i]`` after the stream starts (deadlines from the start, so
sleeps never add up to drift), so a replay's TTFT, ITL and E2E reproduce the recording's.
The prompt is ignored. A failed recording fails again at the same point with its message;
the token counts the recording had are reported as its usage, with the recording's source.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence

from chatlib.core.errors import StreamError
from chatlib.providers.base import Recipe
from chatlib.runs.record import RunRecord
from chatlib.core.types import Event, Finish, Message, Settings, TextDelta, Usage

__all__ = ["ReplayProvider", "ReplayStream", "replay_model"]


def replay_model(record: RunRecord) -> str:
    """The model name a replay of ``record`` is recorded under: where the answer came from."""
    return f"{record.provider}/{record.model}"


class ReplayStream:
    """The events of one replay. ``abort()`` (any thread) ends a wait for the next chunk at
    once, as the pump's Stop expects of a provider stream."""

    def __init__(
        self, record: RunRecord, speed: float, clock: Callable[[], float]
    ) -> None:
        self._record = record
        self._speed = speed
        self._clock = clock
        self._aborted = threading.Event()
        self._events = self._generate()

    def __iter__(self) -> ReplayStream:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def close(self) -> None:
        self._events.close()

    def abort(self) -> None:
        self._aborted.set()

    def _generate(self) -> Generator[Event, None, None]:
        r = self._record
        start = self._clock()
        for offset, text in zip(r.chunk_offsets_s, r.chunk_texts):
            wait = start + offset / self._speed - self._clock()
            if wait > 0 and self._aborted.wait(wait):
                return
            if self._aborted.is_set():
                return
            yield TextDelta(text)
        if r.status == "error":
            raise StreamError(f"{r.error or 'The recorded run failed.'} (replayed)")
        if r.output_tokens is not None and r.output_source is not None:
            same_source = r.input_source == r.output_source
            yield Usage(r.input_tokens if same_source else None, r.output_tokens, r.output_source)
        yield Finish(r.finish_reason or "stop")


class ReplayProvider:
    """Re-streams ``record`` whatever the prompt; ``speed`` > 1 plays it faster."""

    needs_key: bool = False
    paid: bool = False

    def __init__(
        self, record: RunRecord, *, speed: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.id = "replay"
        self.label = "Replay a recorded run"
        self.record = record
        self._speed = speed
        self._clock = clock
        self.calls: list[tuple[list[Message], Settings]] = []

    def models(self) -> list[str]:
        return [replay_model(self.record)]

    def engine_recipe(self) -> Recipe | None:
        """The same run and speed, on the real clock; none with a test's own clock."""
        if self._clock is not time.monotonic:
            return None
        return Recipe(ReplayProvider, {"record": self.record, "speed": self._speed})

    def stream(self, messages: Sequence[Message], settings: Settings) -> ReplayStream:
        self.calls.append((list(messages), settings))
        return ReplayStream(self.record, self._speed, self._clock)
