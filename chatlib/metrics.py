"""Latency and throughput of runs, as defined in the README (vLLM's benchmark_serving).

All functions are pure: they take the stored per-chunk offsets (seconds since t0) and token
counts, so any figure can be recomputed from an export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["RunMetrics", "run_metrics", "percentiles", "PERCENTILES"]

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class RunMetrics:
    ttft_s: float | None  # first text chunk − t0
    e2e_s: float | None  # last text chunk − t0
    itl_s: list[float]  # gaps between successive text chunks after the first
    tpot_s: float | None  # (E2E − TTFT) / (output_tokens − 1)
    output_tps: float | None  # output_tokens / E2E
    decode_tps: float | None  # (output_tokens − 1) / (last − first)


def run_metrics(offsets_s: Sequence[float], output_tokens: int | None) -> RunMetrics:
    if not offsets_s:
        return RunMetrics(None, None, [], None, None, None)
    ttft, e2e = offsets_s[0], offsets_s[-1]
    itl = [b - a for a, b in zip(offsets_s, offsets_s[1:])]
    tpot = output_tps = decode_tps = None
    if output_tokens:
        if output_tokens > 1:
            tpot = (e2e - ttft) / (output_tokens - 1)
            if e2e > ttft:
                decode_tps = (output_tokens - 1) / (e2e - ttft)
        if e2e > 0:
            output_tps = output_tokens / e2e
    return RunMetrics(ttft, e2e, itl, tpot, output_tps, decode_tps)


def percentiles(values: Sequence[float] | np.ndarray,
                ps: Sequence[int] = PERCENTILES) -> dict[str, float | None]:
    """mean and the given percentiles (numpy's linear interpolation); None when empty."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return {"mean": None, **{f"p{p}": None for p in ps}}
    qs = np.percentile(arr, ps)
    return {"mean": float(arr.mean()), **{f"p{p}": float(q) for p, q in zip(ps, qs)}}
