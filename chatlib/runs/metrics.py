"""Latency and throughput of runs, as defined in the README (vLLM's benchmark_serving, with
reasoning measured apart as AIPerf and Artificial Analysis do).

All functions are pure: they take the stored per-chunk offsets (seconds since t0) and token
counts, so any figure can be recomputed from an export.

How reasoning enters each figure (a run without reasoning gets exactly the classic ones):

- TTFT: the first chunk of any kind, thinking or answer; TTFAT: the first answer chunk.
- E2E: the last chunk of any kind. ITL: gaps between successive answer chunks.
- Reasoning time: from the first thinking chunk to the first answer chunk (or to the last
  thinking chunk when no answer came).
- TPOT, decode rate: the streamed window (TTFT to E2E) over the tokens streamed in it, i.e.
  thinking and answer tokens together. When the reasoning is hidden (OpenAI's reasoning
  models report its tokens but stream none), the window holds the answer only, so the
  hidden tokens are left out; TTFT then includes the thinking (the run is flagged).
- Answer decode rate: answer tokens − 1 over the answer window (first to last answer chunk).
- Output throughput: all output tokens, reasoning included, over E2E.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["RunMetrics", "run_metrics", "first_and_last", "thinking_time", "percentiles",
           "PERCENTILES"]

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class RunMetrics:
    ttft_s: float | None  # first chunk of any kind − t0
    e2e_s: float | None  # last chunk of any kind − t0
    itl_s: list[float]  # gaps between successive answer chunks
    tpot_s: float | None  # (E2E − TTFT) / (streamed tokens − 1)
    output_tps: float | None  # output_tokens / E2E
    decode_tps: float | None  # (streamed tokens − 1) / (E2E − TTFT)
    ttfat_s: float | None = None  # first answer chunk − t0
    reasoning_s: float | None = None  # first thinking chunk to first answer chunk
    answer_tokens: int | None = None  # output tokens − reasoning tokens
    answer_decode_tps: float | None = None  # (answer tokens − 1) / answer window


def first_and_last(offsets_s: Sequence[float], reasoning_offsets_s: Sequence[float] = ()
                   ) -> tuple[float | None, float | None]:
    """(first, last) chunk offset of any kind, thinking or answer: TTFT and E2E of a run,
    or of the chunks so far while it streams; ``(None, None)`` before any chunk."""
    firsts = [x[0] for x in (offsets_s, reasoning_offsets_s) if len(x)]
    lasts = [x[-1] for x in (offsets_s, reasoning_offsets_s) if len(x)]
    return (min(firsts), max(lasts)) if firsts else (None, None)


def thinking_time(offsets_s: Sequence[float], reasoning_offsets_s: Sequence[float]
                  ) -> float | None:
    """Reasoning time: first thinking chunk to the first answer chunk (to the last thinking
    chunk when no answer came, or none yet); ``None`` when the model did not think."""
    if not len(reasoning_offsets_s):
        return None
    end = offsets_s[0] if len(offsets_s) else reasoning_offsets_s[-1]
    return end - reasoning_offsets_s[0]


def run_metrics(
    offsets_s: Sequence[float],
    output_tokens: int | None,
    *,
    reasoning_offsets_s: Sequence[float] = (),
    reasoning_tokens: int | None = None,
    reasoning_hidden: bool = False,
) -> RunMetrics:
    """A run's figures from its answer chunk offsets and output tokens (reasoning included,
    as providers report them), plus its thinking chunk offsets and reasoning tokens."""
    ttft, e2e = first_and_last(offsets_s, reasoning_offsets_s)
    if ttft is None or e2e is None:
        return RunMetrics(None, None, [], None, None, None)
    ttfat = offsets_s[0] if offsets_s else None
    itl = [b - a for a, b in zip(offsets_s, offsets_s[1:])]
    reasoning_s = thinking_time(offsets_s, reasoning_offsets_s)
    answer_tokens: int | None = output_tokens
    if output_tokens is not None and reasoning_tokens:
        answer_tokens = max(0, output_tokens - reasoning_tokens)
    streamed = answer_tokens if reasoning_hidden else output_tokens
    tpot = output_tps = decode_tps = answer_decode_tps = None
    if streamed and streamed > 1:
        tpot = (e2e - ttft) / (streamed - 1)
        if e2e > ttft:
            decode_tps = (streamed - 1) / (e2e - ttft)
    if output_tokens and e2e > 0:
        output_tps = output_tokens / e2e
    if answer_tokens and answer_tokens > 1 and len(offsets_s) > 1 and offsets_s[-1] > offsets_s[0]:
        answer_decode_tps = (answer_tokens - 1) / (offsets_s[-1] - offsets_s[0])
    return RunMetrics(ttft, e2e, itl, tpot, output_tps, decode_tps, ttfat, reasoning_s,
                      answer_tokens, answer_decode_tps)


def percentiles(values: Sequence[float] | np.ndarray,
                ps: Sequence[float] = PERCENTILES) -> dict[str, float | None]:
    """mean and the given percentiles (numpy's linear interpolation); None when empty."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return {"mean": None, **{f"p{p:g}": None for p in ps}}
    qs = np.percentile(arr, ps)
    return {"mean": float(arr.mean()), **{f"p{p:g}": float(q) for p, q in zip(ps, qs)}}
