"""Altair charts of a comparison that the page and the HTML report both draw: the race
(cumulative answer characters against seconds since t0, thinking shaded) and the dots-per-run
distribution of one figure. Plain chart specs (no streamlit): ``ui.race_chart`` and
``ui.compare_view`` hand them to ``st.altair_chart``, ``chatlib.reports.html`` renders them to
SVG. A target has its one colour in each (``chatlib.core.palette``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import altair as alt
import pandas as pd

from chatlib.compare.race import RACE_CHARS, RaceTrack, race_frame
from chatlib.core.palette import target_scale

__all__ = ["race_chart", "strip_chart"]

_X_TITLE = "seconds since t0 (the request was sent)"
_Y_TITLE = "answer characters (cumulative)"


def race_chart(tracks: Sequence[RaceTrack], targets: Sequence[str],
               n_chars: int = RACE_CHARS) -> alt.TopLevelMixin:
    """Step-after lines of cumulative answer characters (straight lines between live
    samples, which miss the chunks between them), one colour per target in ``targets``
    order (each its ``colour_for``); each target's thinking shaded; a dashed rule at
    ``n_chars``."""
    frame = race_frame(tracks)
    # Every line starts at t0 with nothing: the wait for the first answer chunk shows flat.
    # A live line is straight between samples, so it also gets "nothing yet" just at its
    # first answer chunk (known exactly), not a slope from the last sample before it.
    starts = [(t.target, 0.0, t.exact) for t in tracks]
    starts += [(t.target, t.answer_from_s, False) for t in tracks
               if not t.exact and t.answer_from_s is not None]
    origins = pd.DataFrame(starts, columns=["target", "t_s", "exact"]).assign(answer_chars=0)
    lines = (pd.concat([origins, frame[["target", "t_s", "answer_chars", "exact"]]],
                       ignore_index=True)
             .sort_values(["target", "t_s", "answer_chars"], kind="stable"))
    colour = alt.Color("target:N", title="target", scale=target_scale(targets),
                       # The lines' symbol, though the shading shares the scale.
                       legend=alt.Legend(orient="bottom", columns=2, labelLimit=360,
                                         symbolType="stroke", symbolOpacity=1))
    x = alt.X("t_s:Q", title=_X_TITLE, scale=alt.Scale(zero=True))
    layers: list[alt.Chart] = []
    spans = pd.DataFrame([
        {"target": t.target, "from_s": t.thinking_from_s, "to_s": t.thinking_to_s}
        for t in tracks if t.thinking_from_s is not None and t.thinking_to_s is not None
    ], columns=["target", "from_s", "to_s"])
    if not spans.empty:
        layers.append(alt.Chart(spans).mark_rect(opacity=0.15).encode(
            x=alt.X("from_s:Q", title=_X_TITLE), x2="to_s:Q",
            color=colour,
            tooltip=["target:N", alt.Tooltip("from_s:Q", title="thinking from (s)", format=".2f"),
                     alt.Tooltip("to_s:Q", title="first answer chunk (s)", format=".2f")],
        ))
    layers.append(alt.Chart(pd.DataFrame({"n": [n_chars]})).mark_rule(
        strokeDash=[4, 4], color="gray").encode(
        y=alt.Y("n:Q", title=_Y_TITLE),
        tooltip=[alt.Tooltip("n:Q", title="characters")]))
    modes: tuple[tuple[bool, Literal["step-after", "linear"]], ...] = (
        (True, "step-after"), (False, "linear"))
    for exact, interpolate in modes:
        part = lines[lines.exact == exact]
        if part.empty:
            continue
        layers.append(alt.Chart(part.drop(columns="exact")).mark_line(
                interpolate=interpolate).encode(
            x=x, y=alt.Y("answer_chars:Q", title=_Y_TITLE), color=colour,
            tooltip=["target:N", alt.Tooltip("t_s:Q", title="s since t0", format=".3f"),
                     alt.Tooltip("answer_chars:Q", title="answer characters")],
        ))
    return alt.layer(*layers)


def strip_chart(points: pd.DataFrame, column: str, title: str, *, by: str,
                colour: str | None = None,
                targets: Sequence[str] | None = None) -> alt.TopLevelMixin | None:
    """Dots per run of ``column`` against ``by`` (one row each), a tick at each median.
    The dots take each target's colour: ``targets`` are the comparison's target titles (or
    names) in order, found in the column ``colour`` (a row of its own per target within
    each row of ``by``) or, without one, in ``by`` itself."""
    points = points.dropna(subset=[column])
    if points.empty:
        return None
    rows = points[by].nunique()
    y = alt.Y(f"{by}:N", title=None, axis=alt.Axis(labelLimit=260), sort=None)
    base = alt.Chart(points).encode(y=y)
    encode: dict[str, Any] = {"x": alt.X(f"{column}:Q", title=title,
                                         scale=alt.Scale(zero=True))}
    shown = colour or by
    names = list(targets) if targets is not None else list(dict.fromkeys(points[shown]))
    scale = target_scale(names)
    if colour is not None:
        encode["color"] = alt.Color(f"{colour}:N", title=colour, scale=scale,
                                    legend=alt.Legend(orient="bottom", labelLimit=260))
        encode["yOffset"] = alt.YOffset(f"{colour}:N")
    else:  # the rows are the targets, named on the axis: no legend
        encode["color"] = alt.Color(f"{by}:N", scale=scale, legend=None)
    dots = base.mark_circle(size=50, opacity=0.65).encode(**encode)
    # Black over the coloured dots (a colour encoding would override the mark's colour).
    median_enc = {k: v for k, v in encode.items() if k != "color"}
    median_enc["x"] = alt.X(f"median({column}):Q")
    median = base.mark_tick(thickness=2, color="black").encode(**median_enc)
    height = max(60, rows * (26 if colour is None else 18 * points[colour].nunique()))
    return alt.layer(dots, median).properties(width=300, height=height)
