"""A load run as one self-contained HTML page to hand over: the result first (each target's
knee in words), then the latency-against-throughput and goodput charts with the targets side
by side, the per-level table, what was run, how the generator checked itself, and the
definitions. Built like the comparison report (``chatlib.reports.html``): inline CSS, charts
as inline SVG, no script and no URL, every text escaped, every figure also embedded as JSON
(``read_figures`` reads it back). The figures are the ``LevelResult``s computed when each
level ended (``chatlib.load.levels``); nothing is recomputed here."""

from __future__ import annotations

from typing import Any

from chatlib.load.levels import CPU_BOUND_SHARE
from chatlib.load.report import curve_chart, goodput_chart, level_table, summary_words
from chatlib.load.run import LoadView
from chatlib.reports.html import _definitions, _document, _e, _svg, _swatch, _table, _when

__all__ = ["load_report", "load_figures"]


def load_figures(view: LoadView) -> dict[str, Any]:
    """What the page shows, as data: the spec, the knees and every level's figures."""
    return {
        "load_id": view.id, "created_at": view.created_at, "ended_at": view.ended_at,
        "stopped": view.stopped, "spec": view.spec.to_dict(),
        "knees": [{"label": k.label, "level": k.level, "words": k.words} for k in view.knees()],
        "levels": [r.to_dict() for r in sorted(view.results, key=lambda r: r.seq)],
    }


def _result(view: LoadView) -> str:
    items = "".join(f"<li>{_swatch(words[:1])}{_e(words)}</li>" for words in summary_words(view))
    state = (" The run was stopped: the levels below are those measured before the Stop."
             if view.stopped else "")
    return f'<ul class="verdicts">{items}</ul>' + (
        f'<p class="note">{_e(state)}</p>' if state else "")


def _what_ran(view: LoadView) -> str:
    spec = view.spec
    rows = [{"target": f"{label} · {name}"} for label, name in spec.targets]
    levels = ("a sweep: concurrency from 1, doubled until a level missed an SLO, then "
              f"bisected (at most {spec.schedule.max_level})" if spec.schedule.mode == "sweep"
              else ", ".join(spec.schedule.level_text(level) for level in spec.schedule.levels))
    slos = ", ".join(s.text for s in spec.slos) or "none (the knee is where throughput stops "\
        "growing)"
    length = f"{spec.seconds:g} s" + (f", at most {spec.requests} requests" if spec.requests
                                      else "")
    return (_table(rows) + "<ul>"
            f"<li>Workload: {_e(spec.workload.text)}</li>"
            f"<li>Levels: {_e(levels)}; each {_e(length)}</li>"
            f"<li>SLOs: {_e(slos)}</li></ul>")


_METHOD = (
    "<h2>Method</h2><p>Targets were measured one after another, each through all its levels, "
    "so no target's load moved another's figures. Before a target's first level each reading "
    "process sent one warm-up request, not counted. Every request was read and timed in a "
    "worker process that does nothing else, stamping each chunk where its bytes arrived. "
    "Requests/s and tok/s count finished requests over the level's time; latency "
    "percentiles are over finished requests, errors are counted apart by kind. A level meets "
    "an SLO such as p99 TTFT ≤ 200 ms when at least 99 % of its requests were within the "
    "limit, a failed request counting as a miss; goodput is the requests within every limit "
    "per second. A level is <b>client-bound</b> (marked, and not counted for the knee) when a "
    f"reading process used {CPU_BOUND_SHARE:.0%} of a core or more, when requests left later "
    "than due by more than 2 % of the E2E median on average (at least 5 ms), or when arrivals "
    "were dropped: then the generator, not the target, set the pace.</p>")


def load_report(view: LoadView) -> str:
    """The load run as one self-contained HTML document (see the module docstring)."""
    figures = load_figures(view)
    charts = [c for c in (curve_chart(view), goodput_chart(view)) if c is not None]
    table = level_table(view)
    state = " · stopped" if view.stopped else ("" if view.ended_at else " · still running")
    body = [
        f"<h1>Chat Lab load run {_e(view.id[:8])}</h1>",
        f"<p class=\"meta\">{_e(_when(view.created_at))} · load {_e(view.id)}{_e(state)}</p>",
        "<h2>Result</h2>", _result(view),
        "<h2>Latency against throughput</h2>" if charts else "",
        '<div class="charts">' + "".join(_svg(c, "load curve") for c in charts) + "</div>"
        if charts else "",
        "<h2>Every level</h2>",
        _table([{str(k): v for k, v in row.items()} for row in table.to_dict("records")],
               cls="wide") if not table.empty
        else '<p class="note">No level ended.</p>',
        "<h2>What was run</h2>", _what_ran(view), _METHOD, _definitions(),
    ]
    return _document(f"Chat Lab load run {view.id[:8]}", body, figures)
