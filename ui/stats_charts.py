"""Altair charts of the stats page, drawn from chatlib.stats.summary' small frames (bins, quantiles,
time buckets): the browser never receives one point per run. Each provider · model keeps one
colour in every chart (``colours``: ``chatlib.core.palette.series_scale``)."""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["outline", "distribution", "spread", "over_time", "timeline"]


def _model(colours: alt.Scale | None) -> alt.Color:
    return alt.Color("model:N", title="provider · model", scale=colours or alt.Undefined,
                     legend=alt.Legend(orient="bottom", columns=2, labelLimit=360))


def outline(frame: pd.DataFrame) -> pd.DataFrame:
    """Each model's bins (the non-empty ones, ``from``, ``to``, ``share``) as the corners of
    its histogram's outline, in drawing order (``i``): across each bin at its share, down to
    0 where the next non-empty bin does not touch it (so an empty range reads as none, not as
    the share before it), and from 0 and back to 0 at the ends."""
    rows: list[dict[str, object]] = []
    for model, part in frame.sort_values(["model", "from"]).groupby("model", sort=False):
        end: float | None = None  # the end of the bin before
        for lo, hi, share in zip(part["from"], part["to"], part["share"]):
            if end != lo:  # the first bin, or empty bins before this one
                if end is not None:
                    rows.append({"model": model, "x": end, "share": 0.0})
                rows.append({"model": model, "x": lo, "share": 0.0})
            rows += [{"model": model, "x": lo, "share": share},
                     {"model": model, "x": hi, "share": share}]
            end = hi
        if end is not None:
            rows.append({"model": model, "x": end, "share": 0.0})
    data = pd.DataFrame(rows, columns=["model", "x", "share"])
    return data.assign(i=range(len(data)))


def distribution(frame: pd.DataFrame, title: str, unit: str = "ms",
                 colours: alt.Scale | None = None) -> alt.LayerChart:
    """Share of values per log-spaced bin, one histogram outline per model (several models
    stay readable where overlapping bars would not; an empty range is drawn at 0), and a
    point at each bin's middle with its figures."""
    colour = _model(colours)
    lines = alt.Chart(outline(frame), title=title).mark_line().encode(
        x=alt.X("x:Q", title=unit, scale=alt.Scale(type="log")),
        y=alt.Y("share:Q", title="share of values", axis=alt.Axis(format="%")),
        color=colour, order="i:Q",
    )
    points = alt.Chart(frame.assign(mid=(frame["from"] * frame["to"]) ** 0.5)).mark_point(
        filled=True, size=30).encode(
        x="mid:Q", y="share:Q", color=colour,
        tooltip=[alt.Tooltip("model:N"),
                 alt.Tooltip("from:Q", format=".3~f", title=f"from ({unit})"),
                 alt.Tooltip("to:Q", format=".3~f", title=f"to ({unit})"),
                 alt.Tooltip("count:Q"), alt.Tooltip("share:Q", format=".1%")],
    )
    return lines + points


def spread(frame: pd.DataFrame, title: str, unit: str,
           colours: alt.Scale | None = None) -> alt.LayerChart:
    """A box per model from precomputed quantiles: whiskers p5–p95, box p25–p75, tick p50."""
    base = alt.Chart(frame, title=title).encode(
        y=alt.Y("model:N", title=None, axis=alt.Axis(labelLimit=320)))
    whisker = base.mark_rule().encode(x=alt.X("p5:Q", title=unit), x2="p95:Q")
    box = base.mark_bar(size=14).encode(
        x="p25:Q", x2="p75:Q",
        color=alt.Color("model:N", legend=None, scale=colours or alt.Undefined))
    median = base.mark_tick(color="black", size=14, thickness=2).encode(
        x="p50:Q",
        tooltip=["model:N", "n:Q", *(alt.Tooltip(f"{p}:Q", format=".1f") for p in
                                     ("p5", "p25", "p50", "p75", "p95"))],
    )
    return whisker + box + median


def over_time(frame: pd.DataFrame, title: str, unit: str,
              colours: alt.Scale | None = None) -> alt.Chart:
    return (
        alt.Chart(frame, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("time:T", title=None),
            y=alt.Y("p50:Q", title=f"p50 ({unit})"),
            color=_model(colours),
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
