"""One colour per comparison target, the same wherever a target is drawn: the Compare
columns' markers, the race chart, the dot plots, the HTML report (and any chart of targets).

The colours are four of Okabe and Ito's colour-blind-safe set (2008): blue, vermillion,
bluish green and reddish purple. They are the only four of its eight, black aside, with at
least 3:1 contrast on a white page (5.2, 3.9, 3.4 and 3.1: WCAG's minimum for lines and
marks); its orange, sky blue and yellow fall to 2.2, 2.3 and 1.3. A and B, the pair of most
comparisons, are far apart for everyone: at least ΔE 90 (CIELAB) under simulated
protanopia, deuteranopia and tritanopia (Machado 2009), and apart in lightness too (L 46
and 54). The closest pairs, C and D (deuteranopia) and A and C (tritanopia), are ΔE 17:
told apart side by side, and every chart also names each target. Black is left out: median
ticks and rules are black.

``colour_for("B")`` is B's colour; ``target_scale(titles)`` the ``alt.Scale`` that gives each
target title its label's colour. Series that are not targets (the Stats page's provider ·
model lines) take ``SERIES_COLOURS`` in order (``series_scale``): the target colours first,
then two more of Okabe and Ito's.
"""

from __future__ import annotations

import string
import zlib
from collections.abc import Sequence

import altair as alt

__all__ = ["TARGET_COLOURS", "SERIES_COLOURS", "colour_for", "target_colours",
           "target_scale", "series_scale"]

TARGET_COLOURS: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
SERIES_COLOURS: tuple[str, ...] = TARGET_COLOURS + ("#E69F00", "#56B4E9")


def colour_for(label: str) -> str:
    """The colour of the target labelled ``label``: "A" the first of ``TARGET_COLOURS``,
    "B" the second, and so on, repeating past the last. A target's title ("B · openai ·
    gpt-4o") has its label's colour. Any other name gets a colour of its own that never
    changes (from a hash of it)."""
    head = label.split(" · ", 1)[0].strip()
    if len(head) == 1 and head.upper() in string.ascii_uppercase:
        index = string.ascii_uppercase.index(head.upper())
    else:
        index = zlib.crc32(head.encode("utf-8"))
    return TARGET_COLOURS[index % len(TARGET_COLOURS)]


def target_colours(labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(domain, range)`` for ``alt.Scale``: each label (or title) with its ``colour_for``."""
    return list(labels), [colour_for(label) for label in labels]


def target_scale(labels: Sequence[str]) -> alt.Scale:
    """The colour scale of a chart whose series are these targets' labels or titles."""
    domain, colours = target_colours(labels)
    return alt.Scale(domain=domain, range=colours)


def series_scale(names: Sequence[str]) -> alt.Scale:
    """A colour scale for series that are not targets: ``SERIES_COLOURS`` in the order of
    ``names`` (repeating past the last). Pass every name a view may show, in a fixed order,
    so a series keeps its colour when a filter hides another."""
    unique = list(dict.fromkeys(names))
    return alt.Scale(domain=unique,
                     range=[SERIES_COLOURS[i % len(SERIES_COLOURS)] for i in range(len(unique))])
