"""A load run as people read it: the per-level table, the latency-against-throughput chart
with the targets side by side, and the exports (JSON with every request's chunk timestamps,
Markdown). The figures are the ``LevelResult``s computed when each level ended; nothing here
recomputes them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd

from chatlib.core.palette import target_colours
from chatlib.core.tables import markdown_table
from chatlib.load.levels import LevelResult
from chatlib.load.run import LoadView
from chatlib.runs.record import RunRecord

__all__ = ["level_table", "curve_chart", "goodput_chart", "export_json", "export_markdown",
           "summary_words", "CURVE_METRICS"]

_MS = 1000.0
# What the curve can plot against throughput: (metric, percentile key, axis title).
CURVE_METRICS = {
    "TTFT p99": ("ttft", "p99"), "TTFT p50": ("ttft", "p50"), "ITL p99": ("itl", "p99"),
    "TPOT p99": ("tpot", "p99"), "E2E p99": ("e2e", "p99"),
}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * _MS, 1)


def _row(view: LoadView, result: LevelResult) -> dict[str, Any]:
    p = result.percentiles
    row: dict[str, Any] = {
        "target": f"{result.label} · {view.name_of(result.label)}",
        "level": view.spec.schedule.level_text(result.level),
        "requests": result.requests, "ok": result.ok,
        "errors": ", ".join(f"{n} {kind}" for kind, n in sorted(result.errors.items())) or "0",
        "req/s": round(result.requests_per_s, 2),
        "tok/s": None if result.output_tokens_per_s is None
        else round(result.output_tokens_per_s, 1),
    }
    for metric, name in (("ttft", "TTFT"), ("itl", "ITL"), ("tpot", "TPOT"), ("e2e", "E2E")):
        for key in ("p50", "p90", "p99", "p99.9"):
            row[f"{name} {key} ms"] = _ms(p[metric][key])
    if view.spec.slos:
        row["goodput req/s"] = (None if result.goodput_per_s is None
                                else round(result.goodput_per_s, 2))
        row["SLOs"] = "met" if result.meets_slos else "missed"
    row["cost"] = result.cost
    row["generator"] = ("client-bound: " + result.client_bound_why if result.client_bound
                        else "held up")
    return row


def level_table(view: LoadView) -> pd.DataFrame:
    """One row per target and level, in run order (times in ms, as the tables show them)."""
    return pd.DataFrame([_row(view, r) for r in sorted(view.results, key=lambda r: r.seq)])


def _points(view: LoadView, metric: str, key: str) -> pd.DataFrame:
    rows = []
    for result in view.results:
        value = result.percentiles[metric][key]
        if value is None:
            continue
        rows.append({"target": f"{result.label} · {view.name_of(result.label)}",
                     "level": result.level,
                     "level_text": view.spec.schedule.level_text(result.level),
                     "req/s": result.requests_per_s, "latency ms": value * _MS,
                     "goodput req/s": result.goodput_per_s,
                     "client-bound": result.client_bound})
    return pd.DataFrame(rows, columns=["target", "level", "level_text", "req/s", "latency ms",
                                       "goodput req/s", "client-bound"])


def _colour(view: LoadView) -> alt.Color:
    domain, colours = target_colours([f"{label} · {name}" for label, name in view.spec.targets])
    return alt.Color("target:N", scale=alt.Scale(domain=domain, range=colours),
                     legend=alt.Legend(orient="bottom", title=None))


def curve_chart(view: LoadView, shown: str = "TTFT p99") -> alt.LayerChart | None:
    """Latency (``shown``, a key of ``CURVE_METRICS``) against requests/s, one line per
    target through its levels in order; a dashed rule at the SLO on that metric; hollow
    points where the generator was the bottleneck. None before any level ended."""
    metric, key = CURVE_METRICS[shown]
    points = _points(view, metric, key)
    if points.empty:
        return None
    base = alt.Chart(points).encode(
        x=alt.X("req/s:Q", title="requests per second (finished)"),
        y=alt.Y("latency ms:Q", title=f"{shown} (ms)"),
        color=_colour(view),
        tooltip=["target", "level_text", alt.Tooltip("req/s:Q", format=".2f"),
                 alt.Tooltip("latency ms:Q", format=".1f"), "client-bound"],
    )
    layers: list[Any] = [
        base.mark_line(point=False).encode(order="level:Q"),
        base.mark_point(size=70, filled=True).encode(
            shape=alt.Shape("client-bound:N", legend=None,
                            scale=alt.Scale(domain=[False, True], range=["circle", "cross"]))),
        base.mark_text(dy=-10, fontSize=10).encode(text="level_text:N"),
    ]
    for slo in view.spec.slos:
        if slo.metric == metric and f"p{slo.percentile:g}" == key:
            layers.append(alt.Chart(pd.DataFrame({"limit": [slo.limit_s * _MS]}))
                          .mark_rule(strokeDash=[6, 4], color="#555")
                          .encode(y="limit:Q"))
    return alt.LayerChart(layer=layers, height=320)


def goodput_chart(view: LoadView) -> alt.Chart | None:
    """Goodput (requests meeting every SLO per second) against the level, per target."""
    if not view.spec.slos:
        return None
    points = _points(view, "e2e", "p50").dropna(subset=["goodput req/s"])
    if points.empty:
        return None
    return alt.Chart(points).mark_line(point=True).encode(
        x=alt.X("level:Q", title=view.spec.schedule.unit),
        # A short title: a long one overhangs the plot, and Vega shrinks the plot for it.
        y=alt.Y("goodput req/s:Q", title="goodput (req/s)"),
        color=_colour(view), order="level:Q",
        tooltip=["target", "level_text", alt.Tooltip("goodput req/s:Q", format=".2f")],
    ).properties(height=320, title="Goodput: requests per second that met every SLO")


def summary_words(view: LoadView) -> list[str]:
    """The knee of each target, in words, best first (the highest knee)."""
    knees = view.knees()
    ranked = sorted(knees, key=lambda k: -(k.level or 0))
    return [k.words for k in ranked]


def _spec_words(view: LoadView) -> str:
    spec = view.spec
    length = f"{spec.seconds:g} s" + (f" or {spec.requests} requests" if spec.requests else "")
    levels = ("a sweep from 1 stream, doubling" if spec.schedule.mode == "sweep"
              else ", ".join(spec.schedule.level_text(level) for level in spec.schedule.levels))
    slos = "; SLOs: " + ", ".join(s.text for s in spec.slos) if spec.slos else "; no SLOs"
    return f"{spec.workload.text}; levels: {levels}; each level {length}{slos}."


def export_json(view: LoadView, records: Sequence[RunRecord]) -> str:
    """Everything: the spec, each level's figures and the generator's check of itself, the
    knees, and every request with its chunk timestamps (seconds since its own t0)."""
    return json.dumps({
        "load_id": view.id, "created_at": view.created_at, "ended_at": view.ended_at,
        "stopped": view.stopped, "spec": view.spec.to_dict(),
        "knees": [{"label": k.label, "level": k.level, "words": k.words} for k in view.knees()],
        "levels": [r.to_dict() for r in sorted(view.results, key=lambda r: r.seq)],
        "requests": [r.to_dict() for r in records],
    }, indent=1, default=str)


def export_markdown(view: LoadView) -> str:
    lines = [f"# Load run {view.id[:8]}", "", _spec_words(view), ""]
    lines += [f"- {words}" for words in summary_words(view)]
    lines += ["", markdown_table(level_table(view)), ""]
    return "\n".join(lines)
