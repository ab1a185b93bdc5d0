"""A comparison as a race: how much answer each target had delivered at each moment since
its own t0, from the per-chunk timestamps the reader threads recorded.

The race is drawn in **characters**, not tokens: a run records when each chunk came and its
text, but only a total of output tokens (thinking included) for the whole run. Spreading that
total over the chunks would be a guess drawn as a measurement, so the y axis counts the
answer's characters, which are exact at every chunk.

Figures per target (of its shown run: the last counted one):

- time to the first ``RACE_CHARS`` answer characters: the offset of the answer chunk that
  brought the answer to at least that many (``None``: the answer is shorter);
- the longest stall: the largest gap between two successive chunks of any kind (thinking and
  answer together), and the offset where it began; the wait for the first chunk is the TTFT,
  not a stall;
- the thinking span, as the README's reasoning time: first thinking chunk to first answer
  chunk (to the last thinking chunk when no answer came).

While the answers stream, ``RaceSampler`` reads each running pump through its public
methods (``arrivals()``, ``text``, ``reasoning``, ``progress()``, ``thinking_s()``): each
sample is one exact point (the latest chunk's offset, the characters so far), but the chunks
between two samples are not seen, so a live track is marked ``exact=False``; once a run has
its record, its track is the record's, chunk by chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from chatlib.compare.comparison import Comparison
from chatlib.streaming.pump import StreamPump
from chatlib.runs.record import RunRecord

__all__ = ["RACE_CHARS", "RACE_COLUMNS", "ChunkKind", "RaceTrack", "RaceFigures",
           "RaceSampler", "shown_runs", "record_track", "race_frame", "race_figures",
           "live_tracks"]

# About one sentence (20-25 tokens of English): the moment a reader has something to read.
RACE_CHARS = 100
RACE_COLUMNS = ["target", "t_s", "kind", "chars", "answer_chars", "thinking_chars", "exact"]

ChunkKind = Literal["thinking", "answer"]
_ATTEMPTS = 3  # a consistent live sample is retried this often (a chunk may land meanwhile)


@dataclass(frozen=True)
class RaceTrack:
    """One target's run as points ``(offset since t0, cumulative characters)`` per kind:
    every chunk when ``exact`` (from its record), else the samples taken while it streamed.
    ``status`` is the record's, or ``"running"``."""

    target: str
    status: str
    exact: bool
    answer: tuple[tuple[float, int], ...] = ()
    thinking: tuple[tuple[float, int], ...] = ()
    thinking_from_s: float | None = None
    thinking_to_s: float | None = None
    answer_from_s: float | None = None  # the first answer chunk's offset (live too: exact)


@dataclass(frozen=True)
class RaceFigures:
    """A finished (or stopped, or failed) run's race figures; see the module docstring."""

    target: str
    status: str
    n_chars: int  # N of "time to the first N answer characters"
    answer_chars: int
    answer_chunks: int
    thinking_chars: int
    to_n_s: float | None  # offset of the chunk that brought the answer to n_chars
    stall_s: float | None  # the largest gap between successive chunks of any kind
    stall_from_s: float | None  # offset of the chunk before that gap
    thinking_from_s: float | None
    thinking_to_s: float | None


def _cumulative(offsets: Sequence[float], texts: Sequence[str]) -> tuple[tuple[float, int], ...]:
    total = 0
    points = []
    for t, text in zip(offsets, texts):
        total += len(text)
        points.append((float(t), total))
    return tuple(points)


def _thinking_span(answer_s: Sequence[float],
                   thinking_s: Sequence[float]) -> tuple[float | None, float | None]:
    if not thinking_s:
        return None, None
    return thinking_s[0], answer_s[0] if answer_s else thinking_s[-1]


def shown_runs(comparison: Comparison) -> list[tuple[str, RunRecord]]:
    """Each target's shown run, the last counted one, with its title (``comparison.title``:
    blind labels until the vote); a target whose last run has no record yet is left out."""
    runs = []
    for target in comparison.targets:
        record = target.last_record
        if record is not None:
            runs.append((comparison.title(target), record))
    return runs


def record_track(target: str, record: RunRecord) -> RaceTrack:
    """``record``'s track: every chunk, exact."""
    start, end = _thinking_span(record.chunk_offsets_s, record.reasoning_offsets_s)
    return RaceTrack(
        target, record.status, True,
        answer=_cumulative(record.chunk_offsets_s, record.chunk_texts),
        thinking=_cumulative(record.reasoning_offsets_s, record.reasoning_texts),
        thinking_from_s=start, thinking_to_s=end,
        answer_from_s=record.chunk_offsets_s[0] if record.chunk_offsets_s else None,
    )


def race_frame(tracks: Sequence[RaceTrack]) -> pd.DataFrame:
    """One row per point of each track (per chunk when exact, per sample when live), in
    time order within each target: ``target``, ``t_s`` (seconds since that run's t0),
    ``kind`` (the point's), ``chars`` (added at that point), ``answer_chars`` and
    ``thinking_chars`` (cumulative, each kind up to that moment) and ``exact``. On equal
    offsets thinking comes first: the reader always hands thinking over before the answer
    text after it."""
    rows = []
    for track in tracks:
        points = sorted(
            [(t, 0, "thinking", n) for t, n in track.thinking]
            + [(t, 1, "answer", n) for t, n in track.answer],
            key=lambda p: (p[0], p[1]),
        )
        answer = thinking = 0
        for t, _, kind, total in points:
            if kind == "answer":
                added, answer = total - answer, total
            else:
                added, thinking = total - thinking, total
            rows.append((track.target, t, kind, added, answer, thinking, track.exact))
    frame = pd.DataFrame(rows, columns=RACE_COLUMNS)
    return frame.astype({"t_s": float, "chars": int, "answer_chars": int,
                         "thinking_chars": int, "exact": bool})


def race_figures(target: str, record: RunRecord, n_chars: int = RACE_CHARS) -> RaceFigures:
    """``record``'s figures: time to its first ``n_chars`` answer characters, its longest
    stall and its thinking span (see the module docstring)."""
    if n_chars < 1:
        raise ValueError("n_chars must be at least 1")
    answer = _cumulative(record.chunk_offsets_s, record.chunk_texts)
    to_n = next((t for t, total in answer if total >= n_chars), None)
    arrivals = sorted([*record.chunk_offsets_s, *record.reasoning_offsets_s])
    stall_s = stall_from = None
    for before, after in zip(arrivals, arrivals[1:]):
        if stall_s is None or after - before > stall_s:  # the first of equal gaps
            stall_s, stall_from = after - before, before
    start, end = _thinking_span(record.chunk_offsets_s, record.reasoning_offsets_s)
    return RaceFigures(
        target=target, status=record.status, n_chars=n_chars,
        answer_chars=answer[-1][1] if answer else 0,
        answer_chunks=len(record.chunk_offsets_s),
        thinking_chars=len(record.reasoning),
        to_n_s=to_n, stall_s=stall_s, stall_from_s=stall_from,
        thinking_from_s=start, thinking_to_s=end,
    )


@dataclass
class _Samples:
    answer: list[tuple[float, int]] = field(default_factory=list)
    thinking: list[tuple[float, int]] = field(default_factory=list)


class RaceSampler:
    """Points of running pumps, kept by run id across calls (so one sampler per comparison
    draws the whole race so far); thread-safe. See the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, _Samples] = {}

    def track(self, target: str, pump: StreamPump) -> RaceTrack:
        """``pump``'s track now: its record's when it has one, else a new sample added to
        those taken before."""
        record = pump.record
        if record is not None:
            with self._lock:
                self._runs.pop(pump.run_id, None)
            return record_track(target, record)
        consistent = False
        for _ in range(_ATTEMPTS):
            # The chunk counts and latest offsets before and after reading the texts:
            # unchanged, the texts are exactly the chunks up to those offsets.
            before = pump.arrivals(), pump.progress()
            text, reasoning = pump.text, pump.reasoning
            thought = pump.thinking_s()
            if (pump.arrivals(), pump.progress()) == before:
                consistent = True
                break
        (first, last, _), (first_any, last_any, phase, _) = before
        with self._lock:
            samples = self._runs.setdefault(pump.run_id, _Samples())
            if consistent and last is not None and (
                    not samples.answer or samples.answer[-1][0] < last):
                samples.answer.append((last, len(text)))
            if (consistent and phase == "thinking" and last_any is not None and reasoning
                    and (not samples.thinking or samples.thinking[-1][0] < last_any)):
                samples.thinking.append((last_any, len(reasoning)))
            answer, thinking = tuple(samples.answer), tuple(samples.thinking)
        start = first_any if reasoning and first_any is not None else None
        end = None if start is None or thought is None else start + thought
        return RaceTrack(target, "running", False, answer=answer, thinking=thinking,
                         thinking_from_s=start, thinking_to_s=end, answer_from_s=first)


def live_tracks(comparison: Comparison, sampler: RaceSampler) -> list[RaceTrack]:
    """Every target's current counted run while the comparison streams (a warm-up run is
    not part of the race); ended runs give their exact tracks."""
    tracks = []
    for target in comparison.targets:
        pump = target.current
        if pump is None or pump is target.warmup:
            continue
        tracks.append(sampler.track(comparison.title(target), pump))
    return tracks
