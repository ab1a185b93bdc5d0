"""Figures of an answer while it streams: which phase it is in (waiting, thinking,
answering, ended), for how long, tokens so far and their rate. The chat page and every compare
column draw their live line from this, so both say the same thing the same way.

Times come from the pump's reader thread (chunk offsets) and its clock; tokens are the
caller's counter run over the text so far (thinking and answer), so ``token_source`` says
which kind of count it is and the final, provider-reported figure may differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatlib.core.text import count_of
from chatlib.streaming.pump import Phase, StreamPump
from chatlib.core.tokens import TokenCounter

__all__ = ["LiveStats", "Phase", "live_stats", "live_line"]


@dataclass(frozen=True)
class LiveStats:
    phase: Phase
    elapsed_s: float | None  # since the request was handed to the reader
    phase_s: float | None  # since the current phase began (its first chunk)
    ttft_s: float | None  # first chunk of any kind
    last_s: float | None  # offset of the latest chunk
    tokens: int
    token_source: str

    @property
    def tokens_per_s(self) -> float | None:
        """Tokens so far / time of the latest chunk: the live form of output tokens/s."""
        if not self.tokens or not self.last_s:
            return None
        return self.tokens / self.last_s


def live_stats(pump: StreamPump, counter: TokenCounter | None = None) -> LiveStats:
    """``pump``'s figures now; tokens counted by ``counter`` (default: the pump's own; with
    neither, chunks are counted and labelled so)."""
    now = pump.now()
    first, last, phase, phase_start = pump.progress()
    elapsed = now - pump.started_at if pump.started_at is not None else None
    # The phase began at its first chunk's offset since t0, which is within a hair of start.
    phase_s = None if phase_start is None or elapsed is None else max(0.0, elapsed - phase_start)
    counter = counter or pump.counter
    if counter is None:
        return LiveStats(phase, elapsed, phase_s, first, last, pump.arrivals()[2], "chunks")
    text = pump.reasoning + pump.text
    tokens = counter.count(text) if text else 0
    return LiveStats(phase, elapsed, phase_s, first, last, tokens, counter.source)


def live_line(stats: LiveStats) -> str:
    """One caption: the phase and how long it has lasted, then TTFT, tokens so far (and how
    counted) and tokens/s."""
    if stats.phase == "waiting":
        waited = f" {stats.elapsed_s:.1f} s" if stats.elapsed_s is not None else ""
        return f"⏳ Waiting for the first token…{waited}"
    name = {"thinking": "🧠 Thinking", "answering": "🔴 Answering"}.get(stats.phase, "Ended")
    parts = [name + (f" {stats.phase_s:.1f} s" if stats.phase_s is not None else "")]
    if stats.ttft_s is not None:
        parts.append(f"TTFT {stats.ttft_s * 1000:.0f} ms")
    parts.append(f"{count_of(stats.tokens, 'token')} so far ({stats.token_source})")
    if stats.tokens_per_s is not None:
        parts.append(f"{stats.tokens_per_s:.1f} tok/s")
    return " · ".join(parts)
