"""Distributions of latencies: exact percentiles of pools of millions of values without
sorting them, log-like histograms, pooling chunk gaps from packed offsets, and a
distribution-free confidence interval for the median.

Histogram bins are found from a float's bits: for non-negative doubles the bit pattern, read
as an integer, grows with the value, so ``bits >> shift`` splits every power of two into
2**(52 - shift) equal-ratio bins. That binning is exactly monotone (no log rounding), which
lets ``order_statistics`` find an exact order statistic by partitioning a single bin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from statistics import NormalDist

import numpy as np

from chatlib.runs.metrics import PERCENTILES

__all__ = [
    "BIN_LO_S", "BIN_HI_S", "FINE_SHIFT", "CHART_SHIFT", "bin_index", "bin_edges", "histogram",
    "order_statistics", "exact_percentiles", "pool_gaps", "median_ci", "GapHistogram",
    "histogram_percentiles", "MIN_FOR_INTERVAL", "too_few_for_interval",
]

BIN_LO_S, BIN_HI_S = 2.0**-14, 2.0**7  # 61 µs .. 128 s; values outside go to the end bins
FINE_SHIFT = 45  # 128 bins per octave (edges 0.54 % apart): for exact percentiles
CHART_SHIFT = 50  # 4 bins per octave: what the charts show
_CHUNK = 1 << 20


def bin_index(values: np.ndarray, shift: int = CHART_SHIFT) -> np.ndarray:
    """The bin of each value (int16, 0 .. len(bin_edges(shift)) - 2); computed in slices
    so a pool of 20M gaps needs no full-size temporary."""
    base = int(np.float64(BIN_LO_S).view(np.int64)) >> shift
    last = (int(np.float64(BIN_HI_S).view(np.int64)) >> shift) - base - 1
    values = np.ascontiguousarray(values, dtype=np.float64)
    out = np.empty(values.size, dtype=np.int16)  # 2,688 fine bins at most
    for start in range(0, values.size, _CHUNK):
        bits = values[start : start + _CHUNK].view(np.int64) >> shift
        bits -= base
        # A negative double reads as a negative integer: it joins the first bin with 0.
        np.clip(bits, 0, last, out=bits)
        out[start : start + bits.size] = bits
    return out


def bin_edges(shift: int = CHART_SHIFT) -> np.ndarray:
    """Edges in seconds of the bins ``bin_index(values, shift)`` counts into."""
    base = int(np.float64(BIN_LO_S).view(np.int64)) >> shift
    top = int(np.float64(BIN_HI_S).view(np.int64)) >> shift
    return (np.arange(base, top + 1, dtype=np.int64) << shift).view(np.float64)


def histogram(values: np.ndarray, shift: int = CHART_SHIFT) -> np.ndarray:
    """Counts of ``values`` in ``bin_edges(shift)`` (end bins take what falls outside)."""
    return np.bincount(bin_index(values, shift), minlength=bin_edges(shift).size - 1)


def order_statistics(values: np.ndarray, ranks: Iterable[int], shift: int = FINE_SHIFT,
                     index: np.ndarray | None = None) -> dict[int, float]:
    """The exact ``r``-th smallest value (0-based) of ``values`` for each rank: find its bin
    from the histogram, then partition only that bin's values (O(n), no sort, no copy of
    ``values``). ``index`` is ``bin_index(values, shift)`` when already computed."""
    index = bin_index(values, shift) if index is None else index
    cumulative = np.cumsum(np.bincount(index, minlength=bin_edges(shift).size - 1))
    by_bin: dict[int, list[int]] = {}
    for rank in set(int(r) for r in ranks):
        by_bin.setdefault(int(np.searchsorted(cumulative, rank, side="right")), []).append(rank)
    # One pass picks the values of every bin needed (a lookup table, not one pass per bin).
    wanted = np.isin(index, np.fromiter(by_bin, dtype=index.dtype), kind="table")
    picked_values, picked_bins = values[wanted], index[wanted]
    found: dict[int, float] = {}
    for b, in_bin in by_bin.items():
        below = int(cumulative[b - 1]) if b else 0
        kth = sorted(r - below for r in in_bin)
        part = np.partition(picked_values[picked_bins == b], kth)
        found.update({below + k: float(part[k]) for k in kth})
    return found


def exact_percentiles(values: np.ndarray, ps: Sequence[int] = PERCENTILES, shift: int = FINE_SHIFT,
                      index: np.ndarray | None = None) -> dict[str, float | None]:
    """Same as ``np.percentile(values, ps)`` (linear interpolation, numpy's formula) without
    partitioning the whole array: for pools of millions of gaps."""
    n = int(values.size)
    if n == 0:
        return {f"p{p}": None for p in ps}
    plan = []
    for p in ps:
        q = p / 100.0
        virtual = (n - 1) * q  # numpy's "linear" method
        lower = min(max(int(math.floor(virtual)), 0), n - 1)
        plan.append((p, lower, min(lower + 1, n - 1), virtual - math.floor(virtual)))
    stats = order_statistics(values, [r for _, lo, hi, _ in plan for r in (lo, hi)], shift, index)
    out: dict[str, float | None] = {}
    for p, lo, hi, gamma in plan:
        a, b = stats[lo], stats[hi]
        diff = b - a
        # numpy's _lerp: from the nearer end, so the result is exact at gamma 0 and 1.
        out[f"p{p}"] = float(b - diff * (1.0 - gamma)) if gamma >= 0.5 else float(a + diff * gamma)
    return out


def pool_gaps(batches: Iterable[Sequence[bytes]], expected: int | None = None) -> np.ndarray:
    """Every gap between successive chunks of each run, pooled, from the runs' packed
    float64 offsets (``RunStore.iter_offsets`` blobs). Gaps never span two runs.

    With ``expected`` (the total number of gaps, from ``RunStore.totals``) the result is
    filled in place, so the peak memory is one array of gaps plus one batch of blobs."""
    out = np.empty(expected, dtype=np.float64) if expected is not None else None
    parts: list[np.ndarray] = []
    filled = 0
    for batch in batches:
        blobs = [b for b in batch if len(b) >= 16]  # a run with < 2 chunks has no gap
        if not blobs:
            continue
        offsets = np.frombuffer(b"".join(blobs), dtype=np.float64)
        gaps = np.diff(offsets)
        # Drop the differences between one run's last chunk and the next run's first.
        keep = np.ones(gaps.size, dtype=bool)
        keep[np.cumsum([len(b) // 8 for b in blobs])[:-1] - 1] = False
        count = gaps.size - len(blobs) + 1
        if out is not None and filled + count <= out.size:
            np.compress(keep, gaps, out=out[filled : filled + count])
        else:  # more than announced (or no announcement): collect instead
            if out is not None:
                parts.append(out[:filled].copy())
                out = None
            parts.append(gaps[keep])
        filled += count
    if out is not None:
        return out[:filled]
    return np.concatenate(parts) if parts else np.empty(0)


class GapHistogram:
    """Chunk gaps kept as figures only: how many runs had a gap, how many gaps, their sum and
    their counts in the fine bins (``bin_edges(FINE_SHIFT)``). Histograms add up, so the
    store keeps one per model and hour as runs arrive (``chatlib.store.runs``), and a pooled
    ITL over a million runs is a sum of a few thousand of them."""

    __slots__ = ("runs", "gaps", "total_s", "counts")

    def __init__(self, runs: int = 0, gaps: int = 0, total_s: float = 0.0,
                 counts: np.ndarray | None = None) -> None:
        self.runs, self.gaps, self.total_s = runs, gaps, total_s
        self.counts = (np.zeros(bin_edges(FINE_SHIFT).size - 1, dtype=np.int64)
                       if counts is None else counts)

    @classmethod
    def of_blobs(cls, blobs: Sequence[bytes]) -> GapHistogram:
        """The histogram of the runs whose packed offsets these are."""
        gaps = pool_gaps([blobs])
        counts = np.bincount(bin_index(gaps, FINE_SHIFT), minlength=bin_edges(FINE_SHIFT).size - 1)
        return cls(sum(len(b) >= 16 for b in blobs), int(gaps.size), float(gaps.sum()),
                   counts.astype(np.int64))

    def add(self, other: GapHistogram) -> GapHistogram:
        self.runs += other.runs
        self.gaps += other.gaps
        self.total_s += other.total_s
        self.counts += other.counts
        return self

    def packed(self) -> bytes:
        """The counts as stored: the non-empty bins (int16), then their counts (int64)."""
        bins = np.flatnonzero(self.counts)
        return (np.int32(bins.size).tobytes() + bins.astype("<i2").tobytes()
                + self.counts[bins].astype("<i8").tobytes())

    @classmethod
    def unpacked(cls, runs: int, gaps: int, total_s: float, blob: bytes) -> GapHistogram:
        return cls.summed([(runs, gaps, total_s, blob)])

    @classmethod
    def summed(cls, rows: Iterable[tuple[int, int, float, bytes]]) -> GapHistogram:
        """The sum of stored histograms ``(runs, gaps, total_s, packed)``, in one pass."""
        runs, gaps, total, bins, counts = 0, 0, 0.0, [], []
        for r, g, t, blob in rows:
            blob = bytes(blob)
            n = int(np.frombuffer(blob[:4], dtype="<i4")[0]) if blob else 0
            runs, gaps, total = runs + int(r), gaps + int(g), total + float(t)
            bins.append(np.frombuffer(blob, dtype="<i2", count=n, offset=4))
            counts.append(np.frombuffer(blob, dtype="<i8", count=n, offset=4 + 2 * n))
        size = bin_edges(FINE_SHIFT).size - 1
        summed = np.zeros(size, dtype=np.int64)
        if bins:
            np.add.at(summed, np.concatenate(bins).astype(np.intp), np.concatenate(counts))
        return cls(runs, gaps, total, summed)


def histogram_percentiles(counts: np.ndarray, ps: Sequence[int] = PERCENTILES,
                          shift: int = FINE_SHIFT) -> dict[str, float | None]:
    """``np.percentile``'s linear-interpolation percentiles of the values a histogram
    counts, each order statistic placed inside its bin by its rank (the values of a bin
    spread evenly in log scale): within one bin's width (0.54 % at ``FINE_SHIFT``) of the
    exact value, with no value at hand."""
    n = int(counts.sum())
    if n == 0:
        return {f"p{p}": None for p in ps}
    edges = bin_edges(shift)
    cumulative = np.cumsum(counts)

    def value(rank: int) -> float:
        b = int(np.searchsorted(cumulative, rank, side="right"))
        below = int(cumulative[b - 1]) if b else 0
        lo, hi = edges[b], edges[b + 1]
        return float(lo * (hi / lo) ** ((rank - below + 0.5) / int(counts[b])))

    out: dict[str, float | None] = {}
    for p in ps:
        virtual = (n - 1) * p / 100.0
        lower = min(max(int(math.floor(virtual)), 0), n - 1)
        a, b = value(lower), value(min(lower + 1, n - 1))
        out[f"p{p}"] = a + (b - a) * (virtual - math.floor(virtual))
    return out


def _median_ci_rank(n: int, confidence: float) -> int:
    """The largest k such that [x_(k), x_(n-k+1)] (1-based order statistics) covers the
    median with probability >= ``confidence``; 0 when n is too small for any interval."""
    tail = (1.0 - confidence) / 2.0
    if n <= 1000:  # exact binomial(n, 1/2) tail, in integers
        total, cumulative, k = 2**n, 0, 0
        for j in range(n // 2 + 1):
            cumulative += math.comb(n, j)
            if cumulative / total > tail:  # exact int division, no float overflow
                break
            k = j + 1
        return k
    z = NormalDist().inv_cdf(1.0 - tail)
    return max(0, math.floor((n - z * math.sqrt(n)) / 2.0))


# The fewest values a 95 % interval of a median can come from without assuming a
# distribution: with 5, even [min, max] covers the median only 1 - 2/2**5 = 93.75 % of the
# time. Stats (runs per model) and Compare (paired runs) both ask for this many, so the two
# pages never disagree on how many runs say how sure.
MIN_FOR_INTERVAL = 6


def too_few_for_interval(what: str) -> str:
    """The one way both pages say a figure has too few runs behind it, ``what`` being what
    is counted in the plural ("finished runs per model", "paired runs")."""
    return f"too few for a 95 % interval: it takes at least {MIN_FOR_INTERVAL} {what}"


def median_ci(values: Sequence[float] | np.ndarray,
              confidence: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free confidence interval for the median of independent values
    (order statistics), or ``None`` when there are too few (fewer than 6 at 95 %)."""
    arr = np.asarray(values, dtype=float)
    arr = np.sort(arr[~np.isnan(arr)])
    k = _median_ci_rank(arr.size, confidence)
    if k < 1:
        return None
    return float(arr[k - 1]), float(arr[arr.size - k])
