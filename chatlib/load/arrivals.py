"""When a rate level's requests are due: evenly spaced, or a Poisson process (exponential
gaps with the same mean, drawn from a seeded generator so a run can be repeated).

Offsets are seconds from the level's start, on the generator's own clock; the pacer sleeps
until each one and notes how late it actually sent (``LevelResult``'s overhead)."""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["arrival_offsets"]


def arrival_offsets(rate_per_s: float, *, poisson: bool, seed: int = 0) -> Iterator[float]:
    """Endless offsets (s) of arrivals at ``rate_per_s``: ``k / rate`` for a constant rate,
    a running sum of exponential gaps of mean ``1 / rate`` for Poisson. The first request
    of a constant rate leaves at once."""
    if rate_per_s <= 0:
        raise ValueError("the rate must be above zero")
    rng = random.Random(seed)
    t, k = 0.0, 0
    while True:
        if poisson:
            t += rng.expovariate(rate_per_s)
            yield t
        else:
            yield k / rate_per_s
            k += 1
