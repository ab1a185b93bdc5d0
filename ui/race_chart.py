"""The race chart of a comparison (``chatlib.compare.race``): each target's answer characters
against seconds since its own t0, one step line per target, thinking shaded, with a caption
of each target's time to its first ``RACE_CHARS`` answer characters and its longest stall.

Drawn under the finished columns (``show_race``, from the records: every chunk) and while
they stream (``live_race``: the main script thread redraws it at most every
``RACE_REFRESH_S`` from samples of the pumps, the columns being parallel fragments).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import streamlit as st

from chatlib.compare.comparison import Comparison
from chatlib.compare.charts import race_chart
from chatlib.compare.race import (
    RACE_CHARS,
    RaceFigures,
    RaceSampler,
    live_tracks,
    race_figures,
    record_track,
    shown_runs,
)

RACE_REFRESH_S = 0.5
_SAMPLER_KEY = "_race_sampler_{}"  # per comparison id, in the session: a rerun keeps it
_STATUS_NOTE = {"stopped": " (stopped)", "error": " (failed)", "running": ""}

def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def figures_text(figures: RaceFigures) -> str:
    """One target's line: time to its first N answer characters, its longest stall."""
    parts = []
    if figures.to_n_s is not None:
        parts.append(f"first {figures.n_chars} answer characters at {figures.to_n_s:.2f} s")
    elif figures.answer_chars:
        parts.append(f"answer of {figures.answer_chars} characters, under {figures.n_chars}")
    else:
        parts.append("no answer text")
    if figures.stall_s is not None and figures.stall_from_s is not None:
        parts.append(f"longest stall {_duration(figures.stall_s)} "
                     f"at {figures.stall_from_s:.2f} s")
    return f"**{figures.target}**{_STATUS_NOTE.get(figures.status, '')}: " + " · ".join(parts)


def race_caption(figures: Sequence[RaceFigures], *, last_of: int = 1) -> str:
    """What the chart shows and how, then one line per target (``figures_text``)."""
    n = figures[0].n_chars if figures else RACE_CHARS
    head = ("Answer characters received against seconds since each run's request was sent "
            "(t0), from the recorded chunk times: characters, since a run's token count is a "
            "total, not per chunk. Shaded: thinking (first thinking chunk to first answer "
            f"chunk); dashed: {n} characters. A stall is the longest gap between two chunks, "
            "thinking or answer.")
    if last_of > 1:
        head += f" Each target's last of {last_of} runs."
    return "  \n".join([head, *(figures_text(f) for f in figures)])


def _titles(comparison: Comparison) -> list[str]:
    return [comparison.title(t) for t in comparison.targets]


def show_race(comparison: Comparison) -> None:
    """The finished (or stopped) comparison's race, from each target's last counted run."""
    st.session_state.pop(_SAMPLER_KEY.format(comparison.id), None)  # the live one is over
    runs = shown_runs(comparison)
    if not runs:
        return
    st.subheader("Race")
    tracks = [record_track(title, record) for title, record in runs]
    if any(t.answer or t.thinking for t in tracks):
        st.altair_chart(race_chart(tracks, _titles(comparison)), width="stretch")
    st.caption(race_caption([race_figures(title, record) for title, record in runs],
                            last_of=comparison.repeat))


def live_race(comparison: Comparison) -> Callable[[], None]:
    """A slot here for the race while it streams, and the function that redraws it (at most
    every ``RACE_REFRESH_S``; call it from the script's waiting loop)."""
    slot = st.empty()
    sampler: RaceSampler = st.session_state.setdefault(
        _SAMPLER_KEY.format(comparison.id), RaceSampler())
    last = 0.0

    def redraw() -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < RACE_REFRESH_S:
            return
        last = now
        tracks = live_tracks(comparison, sampler)
        if not any(t.answer or t.thinking for t in tracks):
            return
        with slot.container():
            st.altair_chart(race_chart(tracks, _titles(comparison)), width="stretch")
            st.caption(f"Live: each answer sampled every {RACE_REFRESH_S:g} s (straight lines "
                       "between samples); every chunk once it ends.")

    return redraw
