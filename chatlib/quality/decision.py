"""One decision table: per target, quality beside speed, errors, cost and the load knee, and
the pick under the user's constraints and rule, named in words with its reasons.

The inputs are typed (``TargetFigures``, one per target); ``figures_from_records`` builds one
from a target's runs (each run's figures from ``chatlib.runs.figures.run_figures``, computed
there once) and ``Quality`` comes from a leaderboard rating or a prompt set's checks.

How the pick is made (``decide``)::

    every target
      └─ constraints ("p95 ttft <= 1s", "error rate < 2%"): a target that fails one, or
         whose figure is unknown, is out, with the figure and the limit as the reason
      └─ the rule's quality step ("... within the best quality's interval"): the targets
         whose quality interval overlaps the best one's stay; the others are out
      └─ the rule's order (cheapest, fastest, highest tok/s, best quality, or weights):
         the first is the pick, unless it ties with the next on what decides; then the
         table says the data cannot separate them and names no pick

Cost per reply is the price table's cost (``PriceTable.cost``) at the target's mean measured
input and output tokens per finished reply; per 1,000 replies is a thousand times that. An
unknown figure is ``None``, never 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from chatlib.core.tables import format_cost, markdown_table
from chatlib.quality.ratings import Rating
from chatlib.runs.figures import run_figures
from chatlib.runs.pricing import PriceTable, default_prices
from chatlib.runs.record import RunRecord

__all__ = [
    "QualityKind", "Quality", "TargetFigures", "figures_from_records", "Metric", "METRICS",
    "Constraint", "parse_constraint", "Rule", "parse_rule", "DEFAULT_RULE", "Decision",
    "DecisionTable", "decide", "COST_COLUMNS",
]

QualityKind = Literal["rating", "pass_rate", "score"]
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Quality:
    """A target's quality with its 95 % interval: a leaderboard ``rating`` (Elo-like), a
    ``pass_rate`` of a prompt set's checks (0-1, Wilson interval) or a judge's mean
    ``score`` (1-10); ``n`` the battles, checks or grades behind it."""

    kind: QualityKind
    value: float
    low: float
    high: float
    n: int

    @classmethod
    def from_rating(cls, rating: Rating) -> Quality:
        return cls("rating", rating.rating, rating.low, rating.high, rating.battles)

    @classmethod
    def from_checks(cls, passed: int, total: int) -> Quality:
        """The pass rate of ``total`` checks with its 95 % Wilson interval."""
        if total <= 0:
            raise ValueError("a pass rate needs at least one check")
        p = passed / total
        z2 = _Z95 * _Z95
        centre = (p + z2 / (2 * total)) / (1 + z2 / total)
        half = _Z95 * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
        return cls("pass_rate", p, max(0.0, centre - half), min(1.0, centre + half), total)

    @classmethod
    def from_scores(cls, scores: Sequence[float]) -> Quality:
        """A judge's mean 1-10 grade with a normal 95 % interval of the mean."""
        if not scores:
            raise ValueError("a mean score needs at least one grade")
        mean = float(np.mean(scores))
        half = (_Z95 * float(np.std(scores, ddof=1)) / math.sqrt(len(scores))
                if len(scores) > 1 else math.inf)
        return cls("score", mean, max(1.0, mean - half), min(10.0, mean + half), len(scores))

    def overlaps(self, other: Quality) -> bool:
        return self.low <= other.high and other.low <= self.high

    @property
    def words(self) -> str:
        if self.kind == "pass_rate":
            return (f"{self.value:.0%} of {self.n} checks passed "
                    f"[{self.low:.0%}–{self.high:.0%}]")
        if self.kind == "score":
            return f"{self.value:.1f}/10 [{self.low:.1f}–{self.high:.1f}]"
        return f"{self.value:.0f} [{self.low:.0f}–{self.high:.0f}]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Quality:
        return cls(**data)


@dataclass(frozen=True)
class TargetFigures:
    """One row of the decision table. Times in seconds, ``output_tps`` the median run's
    output tokens per second, tokens the mean per finished reply, ``cost_per_reply`` in
    ``currency`` (None: unpriced), ``knee`` the highest load level that met the sweep's
    SLOs (``knee_words`` says it, e.g. "holds p99 TTFT ≤ 200 ms up to 24 streams")."""

    name: str
    runs: int  # finished runs (ok or failed); stopped ones are left out
    errors: int
    ttft_p50_s: float | None = None
    ttft_p95_s: float | None = None
    output_tps: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    cost_per_reply: float | None = None
    quality: Quality | None = None
    knee: float | None = None
    knee_words: str = ""
    currency: str = "USD"

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.runs if self.runs else None

    @property
    def cost_per_1000(self) -> float | None:
        return None if self.cost_per_reply is None else 1000.0 * self.cost_per_reply

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["quality"] = None if self.quality is None else self.quality.to_dict()
        data["error_rate"], data["cost_per_1000"] = self.error_rate, self.cost_per_1000
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TargetFigures:
        values = {k: v for k, v in data.items() if k not in ("error_rate", "cost_per_1000")}
        quality = values.pop("quality", None)
        return cls(**values, quality=None if quality is None else Quality.from_dict(quality))


def _percentile(values: Sequence[float | None], q: float) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.percentile(known, q)) if known else None


def _mean(values: Sequence[float | int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def figures_from_records(name: str, records: Sequence[RunRecord], *,
                         prices: PriceTable | None = None, quality: Quality | None = None,
                         knee: float | None = None, knee_words: str = "") -> TargetFigures:
    """A target's row from its runs: TTFT p50/p95 and output tok/s (median) over finished
    runs, the error rate over finished and failed ones, the cost per reply at the mean
    measured token counts (``prices``, default the dated table shipped with the app)."""
    table = prices or default_prices()
    done = [r for r in records if r.status != "stopped"]
    ok = [r for r in done if r.status == "ok"]
    figures = [run_figures(r, table) for r in ok]
    input_tokens = _mean([f.input_tokens for f in figures])
    output_tokens = _mean([f.output_tokens for f in figures])
    priced = {(r.provider, r.model) for r in ok}
    cost = None
    if len(priced) == 1:  # one model's price; a mix of models has no single price per reply
        provider, model = priced.pop()
        cost = table.cost(provider, model, input_tokens, output_tokens)
    return TargetFigures(
        name=name, runs=len(done), errors=len(done) - len(ok),
        ttft_p50_s=_percentile([f.ttft_s for f in figures], 50),
        ttft_p95_s=_percentile([f.ttft_s for f in figures], 95),
        output_tps=_percentile([f.output_tps for f in figures], 50),
        input_tokens=input_tokens, output_tokens=output_tokens, cost_per_reply=cost,
        quality=quality, knee=knee, knee_words=knee_words, currency=table.currency)


@dataclass(frozen=True)
class Metric:
    """A figure a constraint or a rule can name: the ``TargetFigures`` attribute, how it
    reads, its unit kind (which units a limit may carry) and whether lower is better."""

    attribute: str
    label: str
    unit: Literal["time", "share", "rate", "cost", "level", "quality"]
    lower_is_better: bool

    def of(self, row: TargetFigures) -> float | None:
        if self.attribute == "quality":
            return None if row.quality is None else row.quality.value
        value = getattr(row, self.attribute)
        return None if value is None else float(value)

    def shown(self, value: float | None, currency: str = "USD") -> str:
        if value is None:
            return "unknown"
        if self.unit == "time":
            return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
        if self.unit == "share":
            return f"{value:.1%}"
        if self.unit == "cost":
            return format_cost(value, currency) or "unknown"
        if self.unit == "rate":
            return f"{value:.1f} tok/s"
        return f"{value:g}"


_TTFT_P50 = Metric("ttft_p50_s", "TTFT p50", "time", True)
_TTFT_P95 = Metric("ttft_p95_s", "p95 TTFT", "time", True)
_TPS = Metric("output_tps", "output tok/s", "rate", False)
_ERRORS = Metric("error_rate", "error rate", "share", True)
_COST = Metric("cost_per_reply", "cost per reply", "cost", True)
_COST_1000 = Metric("cost_per_1000", "cost per 1,000 replies", "cost", True)
_KNEE = Metric("knee", "load knee", "level", False)
_QUALITY = Metric("quality", "quality", "quality", False)

# What a user may write for each figure (lower case, spaces collapsed).
METRICS: dict[str, Metric] = {
    **dict.fromkeys(["p95 ttft", "ttft p95"], _TTFT_P95),
    **dict.fromkeys(["ttft", "p50 ttft", "ttft p50", "median ttft"], _TTFT_P50),
    **dict.fromkeys(["tok/s", "output tok/s", "tokens/s", "throughput"], _TPS),
    **dict.fromkeys(["error rate", "errors"], _ERRORS),
    **dict.fromkeys(["cost", "cost per reply"], _COST),
    **dict.fromkeys(["cost per 1000", "cost per 1,000", "cost per 1000 replies",
                     "cost per 1,000 replies"], _COST_1000),
    **dict.fromkeys(["knee", "load knee"], _KNEE),
    **dict.fromkeys(["quality", "rating", "pass rate", "score"], _QUALITY),
}
_OPS = {"<=": "≤", "=<": "≤", "≤": "≤", "<": "<", ">=": "≥", "=>": "≥", "≥": "≥", ">": ">"}
_CONSTRAINT = re.compile(r"^(?P<metric>.+?)\s*(?P<op><=|=<|>=|=>|≤|≥|<|>)\s*\$?\s*"
                         r"(?P<number>\d[\d,]*(?:\.\d+)?|\.\d+)\s*(?P<unit>[a-z%$/]*)$")
_UNITS: dict[str, dict[str, float]] = {
    "time": {"": 1.0, "s": 1.0, "sec": 1.0, "seconds": 1.0, "ms": 0.001},
    "share": {"": 1.0, "%": 0.01},
    "rate": {"": 1.0, "tok/s": 1.0},
    "cost": {"": 1.0, "$": 1.0, "usd": 1.0},
    "level": {"": 1.0, "streams": 1.0},
    "quality": {"": 1.0, "%": 0.01},
}


def _metric(text: str) -> Metric:
    key = " ".join(text.lower().split())
    if key not in METRICS:
        raise ValueError(f"unknown figure {text.strip()!r}: use one of {', '.join(METRICS)}")
    return METRICS[key]


@dataclass(frozen=True)
class Constraint:
    """``metric op value`` (value in the metric's own unit: seconds, a share, ...), as the
    user wrote it in ``text``."""

    metric: Metric
    op: str  # "≤", "<", "≥", ">"
    value: float
    text: str

    def holds(self, row: TargetFigures) -> bool | None:
        """Whether ``row`` meets it (None: its figure is unknown)."""
        value = self.metric.of(row)
        if value is None:
            return None
        return {"≤": value <= self.value, "<": value < self.value,
                "≥": value >= self.value, ">": value > self.value}[self.op]

    @property
    def words(self) -> str:
        return f"{self.metric.label} {self.op} {self.metric.shown(self.value)}"


def parse_constraint(text: str) -> Constraint:
    """A constraint from words: "p95 ttft <= 1s", "TTFT p50 < 300 ms", "error rate <= 2%",
    "tok/s >= 30", "cost per 1,000 replies <= $2", "knee >= 16", "pass rate >= 90%".
    Raises ``ValueError`` naming what it could not read."""
    match = _CONSTRAINT.match(" ".join(text.strip().lower().split()))
    if match is None:
        raise ValueError(f"cannot read the constraint {text!r}: write e.g. 'p95 ttft <= 1s'")
    metric = _metric(match["metric"])
    units = _UNITS[metric.unit]
    unit = match["unit"]
    if unit not in units:
        raise ValueError(f"{text!r}: {metric.label} takes one of the units "
                         f"{', '.join(u for u in units if u) or 'none'}")
    value = float(match["number"].replace(",", "")) * units[unit]
    return Constraint(metric, _OPS[match["op"]], value, text.strip())


@dataclass(frozen=True)
class Rule:
    """How the pick is ordered: by ``prefer`` (cost, ttft, tps or quality, best first) or by
    ``weights`` (metric label → weight; each figure scaled 0-1 across the candidates, best
    1), after keeping only the targets within the best quality's interval when
    ``within_best_quality``."""

    prefer: Literal["cost", "ttft", "tps", "quality", "weighted"]
    within_best_quality: bool
    text: str
    weights: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_RULE = "cheapest within the best quality's interval"
_WITHIN = re.compile(r"\s*within the best quality'?s? interval\s*")
_PREFER: dict[str, Literal["cost", "ttft", "tps", "quality"]] = {
    "cheapest": "cost", "fastest": "ttft", "highest throughput": "tps", "most tok/s": "tps",
    "best quality": "quality",
}


def parse_rule(text: str = DEFAULT_RULE) -> Rule:
    """A rule from words: "cheapest within the best quality's interval" (the default),
    "fastest ..." (lowest TTFT p50), "highest throughput ...", "best quality", or weights:
    "weights: quality 2, cost 1, p95 ttft 1". Raises ``ValueError`` on anything else."""
    words = " ".join(text.strip().lower().replace("’", "'").split())
    if words.startswith(("weights", "weighted")):
        weights: dict[str, float] = {}
        for part in words.split(":", 1)[-1].split(","):
            match = re.match(r"^\s*(.+?)\s+(\d+(?:\.\d+)?)\s*$", part)
            if match is None:
                raise ValueError(f"cannot read the weight {part.strip()!r}: write e.g. "
                                 "'weights: quality 2, cost 1'")
            weights[_metric(match[1]).label] = float(match[2])
        if not weights or not any(weights.values()):
            raise ValueError(f"{text!r} gives no weight")
        return Rule("weighted", False, text.strip(), weights)
    within = bool(_WITHIN.search(words))
    head = _WITHIN.sub(" ", words).strip()
    if head not in _PREFER:
        raise ValueError(f"cannot read the rule {text!r}: write e.g. {DEFAULT_RULE!r}, "
                         f"or 'weights: quality 2, cost 1'")
    return Rule(_PREFER[head], within, text.strip())


_PREFER_METRIC = {"cost": _COST, "ttft": _TTFT_P50, "tps": _TPS, "quality": _QUALITY}
_BY_LABEL = {m.label: m for m in METRICS.values()}


@dataclass(frozen=True)
class Decision:
    """The pick (None when nothing meets the constraints or the data cannot separate the
    best candidates), the sentence that says it, its reasons, who was left out and why, and
    the candidates the data could not tell apart (``tied``)."""

    pick: str | None
    words: str
    reasons: tuple[str, ...]
    excluded: tuple[tuple[str, str], ...]
    tied: tuple[str, ...] = ()

    @property
    def separable(self) -> bool:
        return not self.tied

    def to_dict(self) -> dict[str, Any]:
        return {"pick": self.pick, "words": self.words, "reasons": list(self.reasons),
                "excluded": [list(e) for e in self.excluded], "tied": list(self.tied),
                "separable": self.separable}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(data["pick"], str(data["words"]), tuple(data["reasons"]),
                   tuple((str(a), str(b)) for a, b in data["excluded"]), tuple(data["tied"]))


# The table's columns, each with its unit (times in ms, as every table of the app shows them).
COST_COLUMNS = ("cost per reply", "cost per 1,000 replies")


@dataclass(frozen=True)
class DecisionTable:
    """The rows, the constraints and rule as the user wrote them, and the decision."""

    rows: tuple[TargetFigures, ...]
    constraints: tuple[str, ...]
    rule: str
    decision: Decision

    def frame(self) -> pd.DataFrame:
        """One row per target, in the units its column names, with each row's standing."""
        excluded = dict(self.decision.excluded)

        def standing(name: str) -> str:
            if name == self.decision.pick:
                return "pick"
            if name in self.decision.tied:
                return "cannot be separated"
            return f"out: {excluded[name]}" if name in excluded else "candidate"

        return pd.DataFrame([{
            "target": r.name,
            "quality": None if r.quality is None else r.quality.words,
            "TTFT p50 ms": None if r.ttft_p50_s is None else r.ttft_p50_s * 1000,
            "TTFT p95 ms": None if r.ttft_p95_s is None else r.ttft_p95_s * 1000,
            "tok/s": r.output_tps,
            "error rate %": None if r.error_rate is None else r.error_rate * 100,
            "cost per reply": r.cost_per_reply,
            "cost per 1,000 replies": r.cost_per_1000,
            "load knee": r.knee_words or r.knee,
            "decision": standing(r.name),
        } for r in self.rows])

    def markdown(self) -> str:
        currency = self.rows[0].currency if self.rows else "USD"
        table = markdown_table(self.frame(), costs=COST_COLUMNS, currency=currency)
        return f"{table}\n\n{self.decision.words}"

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [r.to_dict() for r in self.rows], "constraints": list(self.constraints),
                "rule": self.rule, "decision": self.decision.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionTable:
        return cls(tuple(TargetFigures.from_dict(r) for r in data["rows"]),
                   tuple(data["constraints"]), str(data["rule"]),
                   Decision.from_dict(data["decision"]))


def _same(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def decide(rows: Sequence[TargetFigures], constraints: Sequence[str | Constraint] = (),
           rule: str | Rule = DEFAULT_RULE) -> DecisionTable:
    """The decision table of ``rows`` under ``constraints`` and ``rule`` (see the module
    docstring). Raises ``ValueError`` on a constraint or rule it cannot read, or on rows
    whose qualities are of different kinds (a rating beside a pass rate)."""
    parsed = [c if isinstance(c, Constraint) else parse_constraint(c) for c in constraints]
    how = rule if isinstance(rule, Rule) else parse_rule(rule)
    kinds = {r.quality.kind for r in rows if r.quality is not None}
    if len(kinds) > 1:
        raise ValueError(f"the rows' qualities are of different kinds ({sorted(kinds)}): "
                         "compare ratings with ratings, pass rates with pass rates")
    decision = _decision(list(rows), parsed, how)
    return DecisionTable(tuple(rows), tuple(c.text for c in parsed), how.text, decision)


def _decision(rows: list[TargetFigures], constraints: list[Constraint], rule: Rule) -> Decision:
    excluded: list[tuple[str, str]] = []
    reasons: list[str] = []
    candidates: list[TargetFigures] = []
    for row in rows:
        failed = [_failure(c, row) for c in constraints if not c.holds(row)]
        if failed:
            excluded.append((row.name, "; ".join(failed)))
        else:
            candidates.append(row)
    if constraints and candidates:
        reasons.append("meets " + ", ".join(c.words for c in constraints))
    if not candidates:
        why = "; ".join(f"{name}: {reason}" for name, reason in excluded) or "no targets"
        return Decision(None, f"No target meets every constraint ({why}).", (),
                        tuple(excluded))
    if rule.within_best_quality:
        candidates, note = _within_best_quality(candidates, excluded)
        reasons.append(note)
    if rule.prefer == "weighted":
        return _weighted(candidates, rule, reasons, excluded)
    return _ordered(candidates, rule, reasons, excluded)


def _failure(constraint: Constraint, row: TargetFigures) -> str:
    value = constraint.metric.of(row)
    shown = constraint.metric.shown(value, row.currency)
    if value is None:
        return f"its {constraint.metric.label} is unknown (needed: {constraint.words})"
    return f"{constraint.metric.label} {shown} fails {constraint.words}"


def _within_best_quality(candidates: list[TargetFigures], excluded: list[tuple[str, str]]
                         ) -> tuple[list[TargetFigures], str]:
    rated = [r for r in candidates if r.quality is not None]
    if not rated:
        return candidates, "no quality figures, so quality does not enter the pick"
    best = max(rated, key=lambda r: r.quality.value if r.quality else -math.inf)
    assert best.quality is not None
    kept = []
    for row in candidates:
        if row.quality is None:
            excluded.append((row.name, "no quality figure to set beside the others'"))
        elif row.quality.overlaps(best.quality):
            kept.append(row)
        else:
            excluded.append((row.name, f"quality {row.quality.words} is below the best's "
                                       f"interval ({best.name} {best.quality.words})"))
    return kept, (f"within the best quality's interval ({best.name} {best.quality.words})")


def _ordered(candidates: list[TargetFigures], rule: Rule, reasons: list[str],
             excluded: list[tuple[str, str]]) -> Decision:
    metric = _PREFER_METRIC[rule.prefer]
    known = [r for r in candidates if metric.of(r) is not None]
    unknown = [r for r in candidates if metric.of(r) is None]
    if unknown:
        reasons.append(f"{', '.join(r.name for r in unknown)}: {metric.label} unknown, so "
                       "not ranked on it")
    if not known:
        names = tuple(r.name for r in candidates)
        return Decision(None, f"The data cannot separate {_names(names)}: no {metric.label} "
                              "is known for any of them.", tuple(reasons), tuple(excluded), names)
    sign = 1.0 if metric.lower_is_better else -1.0
    known.sort(key=lambda r: sign * (metric.of(r) or 0.0))
    first = known[0]
    level = [r for r in known if _same(metric.of(r), metric.of(first))]
    if rule.prefer == "quality" and len(known) > 1:
        level = [r for r in known if r.quality and first.quality
                 and r.quality.overlaps(first.quality)]
    if len(level) > 1:
        names = tuple(r.name for r in level)
        why = (f"their quality intervals overlap ({_qualities(level)})"
               if rule.prefer == "quality" or rule.within_best_quality else "")
        same = (f"their {metric.label} is the same "
                f"({metric.shown(metric.of(first), first.currency)})"
                if rule.prefer != "quality" else "")
        both = " and ".join(p for p in (why, same) if p)
        return Decision(None, f"The data cannot separate {_names(names)}: {both}, and "
                              "nothing else in the rule decides.", tuple(reasons),
                        tuple(excluded), names)
    verb = {"cost": "cheapest", "ttft": "fastest (TTFT p50)", "tps": "highest output tok/s",
            "quality": "best quality"}[rule.prefer]
    mine = metric.shown(metric.of(first), first.currency)
    if rule.prefer == "cost" and first.cost_per_1000 is not None:
        mine += f" per reply, {_COST_1000.shown(first.cost_per_1000, first.currency)} per 1,000"
    others = [f"{r.name} {metric.shown(metric.of(r), r.currency)}" for r in known[1:]]
    reasons.insert(0, f"{verb}: {mine}" + (f" (against {', '.join(others)})" if others else ""))
    if rule.prefer == "quality" and len(known) > 1 and first.quality and known[1].quality:
        reasons.append(f"its interval {first.quality.words} clears the next "
                       f"({known[1].name} {known[1].quality.words})")
    return Decision(first.name, f"Pick {first.name}: {'; '.join(reasons)}.", tuple(reasons),
                    tuple(excluded))


def _weighted(candidates: list[TargetFigures], rule: Rule, reasons: list[str],
              excluded: list[tuple[str, str]]) -> Decision:
    scores = {r.name: 0.0 for r in candidates}
    for label, weight in rule.weights.items():
        metric = _BY_LABEL[label]
        values = {r.name: metric.of(r) for r in candidates}
        known = [v for v in values.values() if v is not None]
        if not known:
            reasons.append(f"no {metric.label} known: its weight counts for none")
            continue
        low, high = min(known), max(known)
        for name, value in values.items():
            if value is None:
                continue  # an unknown figure earns nothing
            share = 1.0 if high == low else (value - low) / (high - low)
            scores[name] += weight * (1.0 - share if metric.lower_is_better else share)
    ranked = sorted(candidates, key=lambda r: -scores[r.name])
    first = ranked[0]
    level = [r for r in ranked if _same(scores[r.name], scores[first.name])]
    if len(level) > 1:
        names = tuple(r.name for r in level)
        return Decision(None, f"The data cannot separate {_names(names)}: their weighted "
                              f"scores are equal ({scores[first.name]:.2f}).",
                        tuple(reasons), tuple(excluded), names)
    weights = ", ".join(f"{label} ×{w:g}" for label, w in rule.weights.items())
    shown = ", ".join(f"{r.name} {scores[r.name]:.2f}" for r in ranked)
    reasons.insert(0, f"highest weighted score ({weights}): {shown}")
    runner = ranked[1] if len(ranked) > 1 else None
    if (runner is not None and rule.weights.get("quality") and first.quality and runner.quality
            and first.quality.value > runner.quality.value
            and first.quality.overlaps(runner.quality)):
        reasons.append(f"but its quality interval overlaps {runner.name}'s "
                       f"({_qualities([first, runner])}): the quality term rests on a "
                       "difference the data do not show")
    return Decision(first.name, f"Pick {first.name}: {'; '.join(reasons)}.", tuple(reasons),
                    tuple(excluded))


def _names(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


def _qualities(rows: Sequence[TargetFigures]) -> str:
    return ", ".join(f"{r.name} {r.quality.words}" for r in rows if r.quality is not None)
