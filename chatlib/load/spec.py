"""What a load run asks for: the workload each request carries, the schedule of levels, the
service-level objectives each level is held to, and how long each level lasts.

Plain, typed values that round-trip through JSON (``to_dict`` / ``from_dict``), so a stored
sweep reads back exactly as it was asked, and the page, the command line and the store share
one spelling. An SLO is written the way people say it: ``"p99 ttft <= 200ms"``,
``"p50 e2e <= 10s"`` (``parse_slo``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["LOAD_PAGE", "METRICS", "Slo", "parse_slo", "Workload", "Schedule", "LoadSpec",
           "ScheduleMode", "SWEEP_START", "SWEEP_MAX"]

LOAD_PAGE = "load"  # the runs' ``page``: the Stats page filters load runs in or out by it

# The per-request figures an SLO can hold (seconds), with what a person calls them.
METRICS: dict[str, str] = {
    "ttft": "TTFT", "itl": "ITL", "tpot": "TPOT", "e2e": "E2E",
}
ScheduleMode = Literal["concurrency", "rate", "sweep"]
SWEEP_START, SWEEP_MAX = 1, 256  # a sweep doubles concurrency from 1 and stops by 256


@dataclass(frozen=True)
class Slo:
    """``percentile`` of ``metric`` at most ``limit_s``: e.g. p99 TTFT <= 0.2 s."""

    metric: str  # a key of METRICS
    percentile: float  # 50, 90, 99, 99.9 ...
    limit_s: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown SLO metric {self.metric!r}: one of {', '.join(METRICS)}")
        if not 0 < self.percentile < 100 + 1e-9:
            raise ValueError(f"SLO percentile {self.percentile} is not in (0, 100]")
        if self.limit_s <= 0:
            raise ValueError("an SLO's limit must be above zero")

    @property
    def text(self) -> str:
        """``"p99 TTFT ≤ 200 ms"``."""
        return f"p{self.percentile:g} {METRICS[self.metric]} ≤ {_duration(self.limit_s)}"


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


_SLO = re.compile(r"^\s*p(\d+(?:\.\d+)?)\s+(\w+)\s*(?:<=|≤|<)\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$",
                  re.IGNORECASE)


def parse_slo(text: str) -> Slo:
    """``"p99 ttft <= 200ms"`` → ``Slo("ttft", 99, 0.2)``; ``ValueError`` saying what is
    expected otherwise."""
    match = _SLO.match(text)
    if match is None:
        raise ValueError(f"SLO {text!r}: expected e.g. 'p99 ttft <= 200ms' "
                         f"(metrics: {', '.join(METRICS)}; units ms or s)")
    percentile, metric, value, unit = match.groups()
    limit = float(value) / (1000 if unit.lower() == "ms" else 1)
    return Slo(metric.lower(), float(percentile), limit)


@dataclass(frozen=True)
class Workload:
    """What each request asks: the prompt set's prompts in turn, or synthetic prompts of
    ``input_tokens`` tokens (counted by the target's own tokenizer) asking for
    ``output_tokens`` tokens (the request's max output tokens)."""

    input_tokens: int = 128
    output_tokens: int = 64
    prompts: tuple[str, ...] = ()  # a prompt set's prompts; empty: synthetic
    source: str = ""  # where the prompts came from (a file name), for the report
    system_prompt: str = ""
    temperature: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.input_tokens <= 32_000 or not 1 <= self.output_tokens <= 32_000:
            raise ValueError("input and output lengths are 1 to 32,000 tokens")

    @property
    def text(self) -> str:
        what = (f"{len(self.prompts)} prompts from {self.source or 'a prompt set'}"
                if self.prompts else f"synthetic prompts of {self.input_tokens} tokens")
        return f"{what}, up to {self.output_tokens} output tokens each"


@dataclass(frozen=True)
class Schedule:
    """How hard each level pushes.

    - ``concurrency``: ``levels`` are numbers of streams kept open at once (each lane sends
      its next request as its last one ends);
    - ``rate``: ``levels`` are requests per second, sent on a timer whatever is in flight,
      evenly spaced or as a Poisson process (``poisson``: exponential gaps, same mean);
    - ``sweep``: concurrency from 1, doubled until a level misses an SLO (or, without SLOs,
      until requests/s stops growing), then bisected to the highest level that holds.
    """

    mode: ScheduleMode = "concurrency"
    levels: tuple[float, ...] = (1, 2, 4, 8)
    poisson: bool = False
    max_level: int = SWEEP_MAX

    def __post_init__(self) -> None:
        if self.mode not in ("concurrency", "rate", "sweep"):
            raise ValueError(f"unknown schedule {self.mode!r}")
        if self.mode != "sweep":
            if not self.levels:
                raise ValueError("give at least one level")
            if any(level <= 0 for level in self.levels):
                raise ValueError("every level must be above zero")
            if self.mode == "concurrency" and any(level != int(level) for level in self.levels):
                raise ValueError("concurrency levels are whole numbers of streams")

    @property
    def unit(self) -> str:
        return "req/s" if self.mode == "rate" else "streams"

    def level_text(self, level: float) -> str:
        if self.mode == "rate":
            return f"{level:g} req/s" + (" (Poisson)" if self.poisson else "")
        return f"{int(level)} concurrent stream" + ("" if int(level) == 1 else "s")


@dataclass(frozen=True)
class LoadSpec:
    """One load run: its targets (labels A, B, … with the ``provider:model`` they name),
    workload, schedule, SLOs and the length of each level (``seconds``; or ``requests`` per
    level when given, whichever ends first)."""

    targets: tuple[tuple[str, str], ...]  # (label, "provider:model"); the providers are apart
    workload: Workload = field(default_factory=Workload)
    schedule: Schedule = field(default_factory=Schedule)
    slos: tuple[Slo, ...] = ()
    seconds: float = 10.0
    requests: int | None = None
    seed: int = 0  # Poisson arrivals and synthetic prompts, for a repeatable run

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("give at least one target")
        if self.seconds <= 0:
            raise ValueError("each level must last above zero seconds")
        if self.requests is not None and self.requests < 1:
            raise ValueError("requests per level must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadSpec:
        workload = dict(data.get("workload") or {})
        workload["prompts"] = tuple(workload.get("prompts") or ())
        schedule = dict(data.get("schedule") or {})
        schedule["levels"] = tuple(schedule.get("levels") or ())
        return cls(
            targets=tuple((str(label), str(name)) for label, name in data["targets"]),
            workload=Workload(**workload),
            schedule=Schedule(**schedule),
            slos=tuple(Slo(**slo) for slo in data.get("slos") or ()),
            seconds=float(data.get("seconds", 10.0)),
            requests=data.get("requests"),
            seed=int(data.get("seed", 0)),
        )
