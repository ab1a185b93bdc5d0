"""What one level of a load run measured, for one target: throughput, latency percentiles,
errors by kind, SLO attainment, goodput, and whether the generator itself held up.

Definitions (the field's, see the README's "Load"):

- **Requests/s** and **output tok/s**: finished requests (and their output tokens) over the
  level's duration, from its first request's send to its last request's end.
- **Percentiles** (p50, p90, p99, p99.9; numpy's linear interpolation, as everywhere in the
  app) of TTFT, TPOT and E2E over the requests that finished; ITL pooled over every gap of
  those requests (the first token excluded, as the Stats page does). Errors are counted apart
  by kind, never mixed into the latency figures.
- **SLO attainment**: the share of the level's requests whose own figure is within the
  limit. A failed request counts as a miss (GuideLLM's rule); a request the user stopped is
  left out. A level **meets** an SLO "p99 TTFT ≤ 200 ms" when at least 99 % of its requests
  attain it. A request's ITL is its mean gap.
- **Goodput**: the requests that met every SLO's limit, per second (AIPerf's definition).
- **Client-bound**: the generator, not the target, limited the level or its timing:
  - a worker process used ``CPU_BOUND_SHARE`` of its core or more (one interpreter cannot
    use more);
  - its readers could not stamp precisely enough for the question asked: a probe thread in
    each worker woke late, at p99, by more than ``stamp_budget_s`` (a twentieth of the
    tightest SLO limit, or without SLOs of the ITL median; at least 1 ms), so a chunk's
    stamp may be off by as much;
  - its send overhead (when a request left − when it was due) averaged over
    ``overhead_budget_s`` (2 % of the E2E p50, at least 5 ms: AIPerf's client budget) or its
    p99 went over five times that;
  - or arrivals were dropped because too many requests were already in flight.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from chatlib.load.spec import METRICS, Slo
from chatlib.runs.figures import run_cost
from chatlib.runs.metrics import RunMetrics, percentiles
from chatlib.runs.record import RunRecord

__all__ = ["LOAD_PERCENTILES", "CPU_BOUND_SHARE", "GeneratorCheck", "LevelResult",
           "summarize_level", "error_kind", "request_values", "overhead_budget_s",
           "stamp_budget_s"]

LOAD_PERCENTILES = (50, 90, 99, 99.9)
CPU_BOUND_SHARE = 0.85  # of one core: a Python process past this is the bottleneck
_OVERHEAD_FLOOR_S = 0.005
_OVERHEAD_SHARE = 0.02
_TAIL_FACTOR = 5  # the p99 overhead may reach this many budgets
_STAMP_FLOOR_S = 0.001
_STAMP_SHARE = 0.05

# How an error reads → its kind (the messages are the providers' user messages).
_ERROR_KINDS = (
    ("rate limited", re.compile(r"rate.?limit|429|too many requests|quota", re.I)),
    ("timeout", re.compile(r"timed? ?out|timeout|stalled|no data for", re.I)),
    ("overloaded", re.compile(r"overload|529|503|capacity", re.I)),
    ("server error", re.compile(r"\b5\d\d\b|server error|internal error", re.I)),
    ("connection", re.compile(r"connect|refused|reset|unreachable|closed the connection", re.I)),
    ("reader stopped", re.compile(r"process that reads answers stopped", re.I)),
    ("cut off", re.compile(r"cut off|end marker|truncated", re.I)),
    ("bad request", re.compile(r"\b4\d\d\b|bad request|invalid|too long", re.I)),
)


def error_kind(message: str | None) -> str:
    """A failed request's kind, from its message: rate limited, timeout, overloaded, server
    error, connection, reader stopped, cut off (the stream ended without its end marker),
    bad request, or other."""
    for kind, pattern in _ERROR_KINDS:
        if message and pattern.search(message):
            return kind
    return "other"


def request_values(metrics: RunMetrics) -> dict[str, float | None]:
    """One finished request's figures an SLO can hold (seconds), by metric."""
    return {"ttft": metrics.ttft_s,
            "itl": float(np.mean(metrics.itl_s)) if metrics.itl_s else None,
            "tpot": metrics.tpot_s, "e2e": metrics.e2e_s}


def overhead_budget_s(e2e_p50_s: float | None) -> float:
    """How late a request may leave before the level counts as client-bound."""
    return max(_OVERHEAD_FLOOR_S, _OVERHEAD_SHARE * (e2e_p50_s or 0.0))


def stamp_budget_s(slos: Sequence[Slo], itl_p50_s: float | None) -> float:
    """How late a reader may stamp (p99) before the level counts as client-bound: an error
    that cannot move a verdict on the SLOs (or, without any, on the gaps) is no bottleneck."""
    scale = min(slo.limit_s for slo in slos) if slos else (itl_p50_s or 0.0)
    return max(_STAMP_FLOOR_S, _STAMP_SHARE * scale)


@dataclass(frozen=True)
class GeneratorCheck:
    """What the generator measured of itself during one level."""

    overhead_mean_s: float | None = None  # a request's send − when it was due
    overhead_p99_s: float | None = None
    overhead_max_s: float | None = None
    cpu_share: float | None = None  # the busiest worker process: CPU s ÷ level s
    lag_p99_s: float | None = None  # how late a probe thread woke in the workers, p99
    lag_max_s: float | None = None
    dropped: int = 0  # arrivals not sent: too many requests in flight
    in_workers: bool = True  # read in worker processes (False: in the generator's own)
    senders: tuple[str, ...] = ()  # "host:pid" of each process that sent and read


@dataclass(frozen=True)
class LevelResult:
    """One target at one level (times in seconds, rates per second)."""

    label: str
    level: float
    seq: int  # the level's place in the run (its runs' group id ends in it)
    requests: int  # sent, stopped ones included
    ok: int
    stopped: int
    errors: dict[str, int]  # by kind
    duration_s: float
    requests_per_s: float
    output_tokens_per_s: float | None  # None: no token counts
    percentiles: dict[str, dict[str, float | None]]  # metric → {"p50": s, ...}
    attainment: dict[str, float]  # Slo.text → share of requests within the limit
    goodput_per_s: float | None  # None without SLOs
    meets_slos: bool | None  # None without SLOs
    generator: GeneratorCheck = field(default_factory=GeneratorCheck)
    client_bound_why: str = ""  # empty: the generator held up
    cost: float | None = None  # every request of the level, from the price table (None:
    # a request is unpriced or its tokens unknown: never a silent zero)

    @property
    def client_bound(self) -> bool:
        return bool(self.client_bound_why)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LevelResult:
        data = dict(data)
        check = dict(data.get("generator") or {})
        check["senders"] = tuple(check.get("senders") or ())
        data["generator"] = GeneratorCheck(**check)
        return cls(**data)


def _client_bound_why(check: GeneratorCheck, slos: Sequence[Slo], e2e_p50_s: float | None,
                      itl_p50_s: float | None) -> str:
    reasons = []
    if check.cpu_share is not None and check.cpu_share >= CPU_BOUND_SHARE:
        reasons.append(f"a process reading the streams used {check.cpu_share:.0%} of a core")
    stamp = stamp_budget_s(slos, itl_p50_s)
    if check.lag_p99_s is not None and check.lag_p99_s > stamp:
        reasons.append(f"its readers woke up to {check.lag_p99_s * 1000:.1f} ms late (p99; "
                       f"budget {stamp * 1000:.1f} ms), so chunk times may be off by as much")
    budget = overhead_budget_s(e2e_p50_s)
    if check.overhead_mean_s is not None and check.overhead_mean_s > budget:
        reasons.append(f"requests left {check.overhead_mean_s * 1000:.1f} ms late on average "
                       f"(budget {budget * 1000:.1f} ms)")
    elif check.overhead_p99_s is not None and check.overhead_p99_s > _TAIL_FACTOR * budget:
        reasons.append(f"requests left {check.overhead_p99_s * 1000:.1f} ms late at p99 "
                       f"(budget {_TAIL_FACTOR * budget * 1000:.1f} ms)")
    if check.dropped:
        reasons.append(f"{check.dropped} arrivals were not sent (too many in flight)")
    return "; ".join(reasons)


def summarize_level(label: str, level: float, seq: int, records: Sequence[RunRecord],
                    slos: Sequence[Slo], duration_s: float,
                    generator: GeneratorCheck | None = None) -> LevelResult:
    """The level's figures from its requests' records (see the module's definitions)."""
    check = generator or GeneratorCheck()
    finished = [r for r in records if r.status == "ok"]
    stopped = sum(r.status == "stopped" for r in records)
    errors = Counter(error_kind(r.error) for r in records if r.status == "error")
    measured = [r.metrics() for r in finished]  # once per request: thousands at a level
    values = [request_values(m) for m in measured]
    gaps = [gap for m in measured for gap in m.itl_s]
    table: dict[str, dict[str, float | None]] = {}
    for metric in METRICS:
        pool = gaps if metric == "itl" else [
            value for v in values if (value := v[metric]) is not None]
        shown = percentiles(pool, LOAD_PERCENTILES)
        table[metric] = {key: value for key, value in shown.items() if key != "mean"}
    duration = max(duration_s, 1e-9)
    tokens = [r.output_tokens for r in finished]
    out_tps = (sum(t for t in tokens if t) / duration) if any(t is not None for t in tokens) \
        else None
    counted = len(records) - stopped  # errors count as misses; stops are left out
    attainment: dict[str, float] = {}
    meets: bool | None = None
    goodput: float | None = None
    if slos:
        for slo in slos:
            within = sum(v[slo.metric] is not None and v[slo.metric] <= slo.limit_s  # type: ignore[operator]
                         for v in values)
            attainment[slo.text] = within / counted if counted else 0.0
        meets = counted > 0 and all(
            attainment[slo.text] >= slo.percentile / 100 - 1e-12 for slo in slos)
        good = sum(all(v[s.metric] is not None and v[s.metric] <= s.limit_s  # type: ignore[operator]
                       for s in slos) for v in values)
        goodput = good / duration
    costs = [cost for r in records if (cost := run_cost(r)) is not None]
    return LevelResult(
        label=label, level=level, seq=seq, requests=len(records), ok=len(finished),
        stopped=stopped, errors=dict(errors), duration_s=duration_s,
        requests_per_s=len(finished) / duration, output_tokens_per_s=out_tps,
        percentiles=table, attainment=attainment, goodput_per_s=goodput, meets_slos=meets,
        generator=check,
        client_bound_why=_client_bound_why(check, slos, table["e2e"]["p50"],
                                           table["itl"]["p50"]),
        cost=float(sum(costs)) if len(costs) == len(records) else None,
    )
