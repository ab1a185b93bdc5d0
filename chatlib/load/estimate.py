"""What a load run will send, before it sends it: the most requests, tokens and the estimated
price per target, for the confirmation a run against a paid API asks for.

A ceiling, not a guess: against a paid API every level is capped by a request count
(``LoadSpec.requests``; the page and the command line insist on one), so the estimate is
that cap times the levels (a sweep's most levels: doublings to its top, then bisections),
plus one warm-up request per reading process. A rate level without a cap sends about
rate × seconds; a concurrency level without one cannot be bounded before it runs, and says
so (``bounded`` False).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chatlib.load.knee import BISECT_WIDTH
from chatlib.load.spec import LoadSpec
from chatlib.runs.pricing import PriceTable, default_prices

__all__ = ["TargetEstimate", "estimate_target", "max_levels"]


def max_levels(spec: LoadSpec) -> int:
    """The most levels one target can run."""
    schedule = spec.schedule
    if schedule.mode != "sweep":
        return len(schedule.levels)
    doublings = int(math.log2(max(1, schedule.max_level))) + 1
    # Bisecting a bracket [k, 2k] to within k / BISECT_WIDTH takes log2(BISECT_WIDTH) steps.
    return doublings + int(math.log2(BISECT_WIDTH))


@dataclass(frozen=True)
class TargetEstimate:
    label: str
    requests: int | None  # None: not bounded before it runs
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None  # None: unpriced, or unbounded
    currency: str

    @property
    def bounded(self) -> bool:
        return self.requests is not None


def estimate_target(spec: LoadSpec, label: str, provider_id: str, model: str, *,
                    warmups: int = 1, prices: PriceTable | None = None) -> TargetEstimate:
    """The ceiling of what ``label`` (``provider_id``'s ``model``) will be sent."""
    table = prices or default_prices()
    schedule = spec.schedule
    per_level: float | None = spec.requests
    if per_level is None and schedule.mode == "rate":
        per_level = math.ceil(max(schedule.levels) * spec.seconds)
    if per_level is None:
        return TargetEstimate(label, None, None, None, None, table.currency)
    requests = int(per_level) * max_levels(spec) + warmups
    input_tokens = requests * spec.workload.input_tokens
    output_tokens = requests * spec.workload.output_tokens
    return TargetEstimate(label, requests, input_tokens, output_tokens,
                          table.cost(provider_id, model, input_tokens, output_tokens),
                          table.currency)
