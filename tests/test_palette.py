"""One colour per target (``chatlib.core.palette``), the same in every chart that draws
targets: the race, the dot plots (page and report), and one per provider · model on the Stats
page, whose distributions drop to 0 over empty ranges."""

from __future__ import annotations

import pandas as pd
import pytest

from chatlib.compare.charts import race_chart, strip_chart
from chatlib.compare.race import record_track
from chatlib.core.palette import (SERIES_COLOURS, TARGET_COLOURS, colour_for, series_scale,
                                  target_colours)
from chatlib.runs.record import RunRecord
from ui.stats_charts import distribution, outline

BLUE, VERMILLION = "#0072B2", "#D55E00"


def record(offsets, texts, label: str) -> RunRecord:
    return RunRecord(provider="scripted", model="scripted", settings={}, status="ok",
                     created_at=0.0, chunk_offsets_s=list(offsets), chunk_texts=list(texts),
                     label=label, output_tokens=len(offsets))


def colour_scales(spec: dict) -> list[dict]:
    """Every colour scale of a chart spec, in its layers."""
    return [layer["encoding"]["color"]["scale"] for layer in spec.get("layer", [spec])
            if "scale" in layer.get("encoding", {}).get("color", {})]


def test_each_target_label_has_one_colour_and_its_titles_share_it():
    assert [colour_for(label) for label in "ABCD"] == list(TARGET_COLOURS)
    assert TARGET_COLOURS[:2] == (BLUE, VERMILLION) and len(set(TARGET_COLOURS)) == 4
    assert colour_for("B · Scripted demo · demo-fast") == colour_for("B") == VERMILLION
    assert colour_for("E") == colour_for("A")  # past the palette: around again
    assert colour_for("scripted/demo-fast") == colour_for("scripted/demo-fast")  # stable
    assert colour_for("scripted/demo-fast") in TARGET_COLOURS
    assert target_colours(["A · x", "B · y"]) == (["A · x", "B · y"], [BLUE, VERMILLION])


def test_the_race_chart_draws_a_in_blue_and_b_in_vermillion():
    titles = ["A · Scripted demo · fast", "B · Scripted demo · slow"]
    tracks = [record_track(titles[0], record([0.1, 0.2], ["ab", "cd"], "A")),
              record_track(titles[1], record([0.3], ["ef"], "B"))]
    scales = colour_scales(race_chart(tracks, titles).to_dict())
    assert scales and all(s == {"domain": titles, "range": [BLUE, VERMILLION]} for s in scales)


@pytest.mark.parametrize("targets", [["A", "B"], ["B", "A"]])
def test_the_dot_plot_gives_each_target_its_colour_whatever_the_row_order(targets):
    points = pd.DataFrame({"target": ["B", "A", "B"], "TTFT ms": [30.0, 20.0, 35.0]})
    spec = strip_chart(points, "TTFT ms", "TTFT ms", by="target", targets=targets).to_dict()
    (dots,) = [la for la in spec["layer"] if la["mark"]["type"] == "circle"]
    scale = dots["encoding"]["color"]["scale"]
    assert dict(zip(scale["domain"], scale["range"])) == {"A": BLUE, "B": VERMILLION}
    (median,) = [la for la in spec["layer"] if la["mark"]["type"] == "tick"]
    assert "color" not in median["encoding"]  # the median tick stays black


def test_a_dot_plot_per_prompt_colours_the_targets_within_each_row():
    points = pd.DataFrame({"prompt": ["p1", "p1", "p2"], "target": ["A · x", "B · y", "A · x"],
                           "tok/s": [50.0, 80.0, 55.0]})
    spec = strip_chart(points, "tok/s", "tok/s", by="prompt", colour="target",
                       targets=["A · x", "B · y"]).to_dict()
    assert colour_scales(spec)[0] == {"domain": ["A · x", "B · y"], "range": [BLUE, VERMILLION]}


def test_stats_series_keep_their_colour_in_the_order_given():
    scale = series_scale(["local · m", "scripted · a", "local · m"]).to_dict()
    assert scale == {"domain": ["local · m", "scripted · a"], "range": list(SERIES_COLOURS[:2])}


def test_a_distribution_drops_to_zero_over_empty_bins_instead_of_stepping_across():
    # Bins 1-2 and 2-4 ms are adjacent; 16-32 ms lies after two empty bins.
    frame = pd.DataFrame({"model": ["m"] * 3, "from": [1.0, 2.0, 16.0], "to": [2.0, 4.0, 32.0],
                          "count": [1, 2, 1], "share": [0.25, 0.5, 0.25]})
    corners = list(zip(outline(frame).x, outline(frame).share))
    assert corners == [(1.0, 0.0), (1.0, 0.25), (2.0, 0.25), (2.0, 0.5), (4.0, 0.5),
                       (4.0, 0.0), (16.0, 0.0), (16.0, 0.25), (32.0, 0.25), (32.0, 0.0)]
    colours = series_scale(["m"])
    spec = distribution(frame, "TTFT per run", colours=colours).to_dict()
    (line,) = [la for la in spec["layer"] if la["mark"]["type"] == "line"]
    assert line["mark"].get("interpolate") in (None, "linear")  # no step over a gap
    assert line["encoding"]["order"]["field"] == "i"
    assert line["encoding"]["color"]["scale"] == {"domain": ["m"], "range": [SERIES_COLOURS[0]]}
