"""Altair charts of the stats page, drawn from chatlib.stats.summary' small frames (bins, quantiles,
time buckets): the browser never receives one point per run."""

from __future__ import annotations

import altair as alt
import pandas as pd

_MODEL = alt.Color("model:N", title="provider · model",
                   legend=alt.Legend(orient="bottom", columns=2, labelLimit=360))


def distribution(frame: pd.DataFrame, title: str, unit: str = "ms") -> alt.Chart:
    """Share of values per log-spaced bin, one line per model (a frequency polygon: several
    models stay readable where overlapping bars would not)."""
    data = frame.assign(mid=(frame["from"] * frame["to"]) ** 0.5)
    return (
        alt.Chart(data, title=title)
        .mark_line(point=True, interpolate="step-after")
        .encode(
            x=alt.X("mid:Q", title=unit, scale=alt.Scale(type="log")),
            y=alt.Y("share:Q", title="share of values", axis=alt.Axis(format="%")),
            color=_MODEL,
            tooltip=[alt.Tooltip("model:N"),
                     alt.Tooltip("from:Q", format=".3~f", title=f"from ({unit})"),
                     alt.Tooltip("to:Q", format=".3~f", title=f"to ({unit})"),
                     alt.Tooltip("count:Q"), alt.Tooltip("share:Q", format=".1%")],
        )
    )


def spread(frame: pd.DataFrame, title: str, unit: str) -> alt.LayerChart:
    """A box per model from precomputed quantiles: whiskers p5–p95, box p25–p75, tick p50."""
    base = alt.Chart(frame, title=title).encode(
        y=alt.Y("model:N", title=None, axis=alt.Axis(labelLimit=320)))
    whisker = base.mark_rule().encode(x=alt.X("p5:Q", title=unit), x2="p95:Q")
    box = base.mark_bar(size=14).encode(x="p25:Q", x2="p75:Q",
                                        color=alt.Color("model:N", legend=None))
    median = base.mark_tick(color="black", size=14, thickness=2).encode(
        x="p50:Q",
        tooltip=["model:N", "n:Q", *(alt.Tooltip(f"{p}:Q", format=".1f") for p in
                                     ("p5", "p25", "p50", "p75", "p95"))],
    )
    return whisker + box + median


def over_time(frame: pd.DataFrame, title: str, unit: str) -> alt.Chart:
    return (
        alt.Chart(frame, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("time:T", title=None),
            y=alt.Y("p50:Q", title=f"p50 ({unit})"),
            color=_MODEL,
            tooltip=["model:N", alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"),
                     alt.Tooltip("p50:Q", format=".1f"), "n:Q"],
        )
    )


def timeline(frame: pd.DataFrame) -> alt.Chart:
    """One run: each chunk's arrival against the running output token count."""
    return (
        alt.Chart(frame, title="Chunk timeline")
        .mark_line(point=True, interpolate="step-after")
        .encode(
            # From 0: the wait for the first token is part of the picture.
            x=alt.X("arrival (ms):Q", title="arrival since t0 (ms)", scale=alt.Scale(zero=True)),
            y=alt.Y("tokens (cumulative):Q", title="output tokens (cumulative)"),
            tooltip=["chunk:Q", alt.Tooltip("arrival (ms):Q", format=".1f"), "chars:Q",
                     alt.Tooltip("tokens (cumulative):Q", format=".1f")],
        )
    )
