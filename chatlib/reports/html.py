"""One self-contained HTML file that hands over a decision: a comparison
(``comparison_report``) or a prompt-set run (``prompt_set_report``). It leads with the result
(who won and why, in words: ``chatlib.compare.headline.result_line``), then the prompts and
settings, the answers side by side, the summary table, the verdicts and the flagged runs,
the race and the distributions of TTFT and tok/s as charts, the costs with their price date,
the method and the metric definitions.

Self-contained: it opens with no network. The CSS is inline, the charts are Altair specs
rendered here to inline SVG by ``vl_convert``, there is no JavaScript at all, nothing on the
page loads or links to a URL, and its Content-Security-Policy forbids loading anything.
Every text from a prompt, a provider or a model is HTML-escaped. A prompt is shown as
preformatted text; an answer and its thinking are drawn as the app draws them (Markdown:
tables, code, ``$``/``$$`` LaTeX) by markdown-it-py with raw HTML off, so a model's HTML is
shown as text. Code is escaped ``<pre><code>`` (no highlighting script); LaTeX becomes
MathML here (latex2mathml), rebuilt from a list of safe elements and attributes, so the
browser draws it with no script or font download; a link is its text with its URL beside
it as text (not clickable); an image is its alt text and URL, never loaded.

Every figure the page shows is also embedded as JSON, in ``<script type="application/json"
id="chatlab-figures">`` (``read_figures`` parses it back): per target its run ids and each
run's TTFT, TTFAT, TPOT, E2E, tok/s, tokens, cost and flags, the summary rows, the verdicts'
numbers and the race figures, so a reader can recompute them from the stored timestamps.
The page's tables are drawn from that same data (``comparison_figures``,
``prompt_set_figures``), so what is shown is what is embedded. The figures themselves are
computed once, elsewhere: ``chatlib.runs.figures.run_figures`` (each run's, embedded as its
``RunFigures.to_dict``: seconds, with each time also in ms), ``chatlib.compare.report``
(summary), ``chatlib.compare.analysis`` (verdicts, flags) and ``chatlib.compare.race``
(race); cells are written by ``chatlib.core.tables.cell_text``, as in the Markdown exports.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from html.parser import HTMLParser
from typing import Any

import altair as alt
import pandas as pd
import vl_convert as vlc
from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from mdit_py_plugins.dollarmath import dollarmath_plugin

from chatlib.compare.comparison import TIE, Comparison
from chatlib.compare.analysis import FLAGS, MIN_PAIRS, flag_table, verdicts
from chatlib.compare.charts import race_chart, strip_chart
from chatlib.compare.headline import result_line
from chatlib.compare.race import RACE_CHARS, race_figures, record_track, shown_runs
from chatlib.compare.report import summary
from chatlib.core.palette import colour_for
from chatlib.core.tables import cell_text, json_rows, json_text
from chatlib.evals.runner import PromptSetRun, grid
from chatlib.quality.decision import DecisionTable
from chatlib.runs.figures import OUTPUT_TPS, TABLE_FIGURES, TTFT, run_figures, to_ms
from chatlib.runs.pricing import default_prices
from chatlib.evals.prompt_sets import CheckResult
from chatlib.runs.record import RunRecord
from chatlib.stats.summary import DEFINITIONS

__all__ = ["FIGURES_ID", "comparison_report", "prompt_set_report", "comparison_figures",
           "prompt_set_figures", "read_figures"]

FIGURES_ID = "chatlab-figures"
_FIGURES_BLOCK = re.compile(
    rf'<script type="application/json" id="{FIGURES_ID}">(.*?)</script>', re.DOTALL)
_STATUS = {"ok": "finished", "stopped": "stopped: partial answer", "error": "failed"}

log = logging.getLogger(__name__)
_e = html.escape


# -- the figures (what the page shows, as data) ----------------------------------------------
def _run_figures(run: int, record: RunRecord, flags: Iterable[str]) -> dict[str, Any]:
    return {"run_id": record.id, "run": run, "status": record.status, "error": record.error,
            **run_figures(record).to_dict(), "flags": sorted(flags)}


def _flags_by_run(comparison: Comparison) -> dict[tuple[str, int], list[str]]:
    flags = flag_table(comparison)
    return {(row["target"], int(row["run"])): [name for name in FLAGS if row[name]]
            for row in flags.to_dict("records")}


def comparison_figures(comparison: Comparison) -> dict[str, Any]:
    """Every figure ``comparison_report`` shows, JSON-safe (see the module docstring):
    each run's ``RunFigures.to_dict`` (``ttft_s`` and ``ttft_ms``...), the summary rows in
    the compare page's units (named in each column), verdict numbers in their figure's
    ``unit``. Names of a blind comparison not yet voted on are left out."""
    flags = _flags_by_run(comparison)
    targets = []
    for target in comparison.targets:
        title = comparison.title(target)
        runs = [_run_figures(i, view.record, flags.get((title, i), []))
                for i, view in enumerate(target.runs, 1) if view.record is not None]
        costs = [r["cost"] for r in runs if r["cost"] is not None]
        targets.append({
            "label": target.label, "title": title,
            "provider": target.provider_id if comparison.revealed else None,
            "model": target.settings.model if comparison.revealed else None,
            "runs": runs,
            "cost": {"runs": len(runs), "priced_runs": len(costs),
                     "total": sum(costs) if costs else None,
                     "per_run": sum(costs) / len(costs) if costs else None},
        })
    race = [{"run_id": record.id, **asdict(race_figures(title, record))}
            for title, record in shown_runs(comparison)]
    judged = verdicts(comparison) if comparison.repeat > 1 else []
    return {
        "kind": "comparison", "comparison_id": comparison.id,
        "created_at": comparison.created_at, "repeat": comparison.repeat,
        "warmup": comparison.use_warmup, "blind": comparison.blind,
        "wall_s": comparison.wall_s, "prices": default_prices().label(),
        "currency": default_prices().currency,
        "vote": None if comparison.vote is None else comparison.vote.choice,
        "targets": targets,
        "summary": json_rows(summary(comparison)),
        "verdicts": [{
            "figure": v.figure.key, "unit": v.figure.unit,
            "first": v.first, "second": v.second, "pairs": v.pairs, "winner": v.winner,
            "advantage": v.advantage, "low": v.low, "high": v.high,
            "more_runs": v.more_runs, "conclusive": v.conclusive, "words": v.words,
        } for v in judged],
        "kept_flags": [],  # verdicts leave every flagged run out (the page's default)
        "race": race,
    }


def _checks_by_run(run: PromptSetRun, index: int) -> dict[str, list[CheckResult]]:
    return {r.record.id: r.checks for per_target in run.case_results(run.cases[index])
            for r in per_target}


def prompt_set_figures(run: PromptSetRun) -> dict[str, Any]:
    """Every figure ``prompt_set_report`` shows, JSON-safe: the grid (``evaluate.grid``)
    and per case its comparison's figures (``comparison_figures``) and every run's checks."""
    checks = [c for r in run.results() for c in r.checks]
    cases = []
    for i, case_run in enumerate(run.cases):
        by_run = _checks_by_run(run, i)
        cases.append({
            **case_run.case.to_dict(),
            "targets": [run.target_name(k) for k in range(len(case_run.comparison.targets))],
            "comparison": comparison_figures(case_run.comparison),
            "checks": {run_id: [c.to_dict() for c in found] for run_id, found in by_run.items()},
        })
    return {
        "kind": "prompt_set", "prompt_set_id": run.id, "source": run.source,
        "created_at": run.created_at, "ended_at": run.ended_at, "targets": run.targets,
        "repeat": run.repeat, "shared_settings": asdict(run.shared),
        "stopped": run.stopped, "complete": run.complete, "passed": run.passed,
        "checks_passed": sum(c.passed for c in checks), "checks": len(checks),
        "prices": default_prices().label(), "currency": default_prices().currency,
        "grid": json_rows(grid(run)),
        "cases": cases,
    }


def read_figures(document: str) -> dict[str, Any]:
    """The figures embedded in a report written here (``ValueError`` when there are none)."""
    found = _FIGURES_BLOCK.search(document)
    if found is None:
        raise ValueError(f"no <script id={FIGURES_ID!r}> block in this document")
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def _figures_block(figures: Mapping[str, Any]) -> str:
    text = json_text(figures, indent=1)
    # Inside <script> only "</script" would end the block: escape every "<" (and, for a
    # reader's safety, ">" and "&") the JSON way, which json.loads reads back unchanged.
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{FIGURES_ID}">\n{text}\n</script>'


# -- charts: Altair specs rendered to inline SVG ---------------------------------------------
_XMLNS = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')


def _svg(chart: alt.TopLevelMixin, what: str) -> str:
    """``chart`` as inline SVG (an HTML page needs no namespace declarations, so they are
    dropped: the file then names no URL at all); a short note if it could not be drawn."""
    try:
        with alt.data_transformers.disable_max_rows():  # a long answer has thousands of chunks
            spec = chart.to_dict()
        svg = vlc.vegalite_to_svg(spec)
    except Exception as exc:  # a report without one chart is still worth handing over
        log.exception("drawing the %s chart failed", what)
        return f'<p class="note">The {_e(what)} chart could not be drawn: {_e(str(exc))}</p>'
    head, _, rest = svg.partition(">")
    return (f'<figure class="chart" role="img" aria-label="{_e(what)}">'
            f'{_XMLNS.sub("", head)}>{rest}</figure>')


def _race_chart(comparison: Comparison) -> str:
    tracks = [record_track(title, record) for title, record in shown_runs(comparison)]
    if not any(t.answer for t in tracks):
        return ""
    chart = race_chart(tracks, [comparison.title(t) for t in comparison.targets])
    return _svg(chart.properties(width=640, height=260), "race")


def _strip_chart(points: pd.DataFrame, column: str, title: str, *, by: str,
                 targets: Sequence[str], colour: str | None = None) -> str:
    chart = strip_chart(points, column, title, by=by, colour=colour, targets=targets)
    return "" if chart is None else _svg(chart, f"{title} distribution")


def _comparison_distributions(figures: Mapping[str, Any]) -> str:
    points = pd.DataFrame(
        [{"target": t["title"], **_charted(r)}
         for t in figures["targets"] for r in t["runs"] if r["status"] == "ok"],
        columns=["target", *_CHARTED])
    titles = [t["title"] for t in figures["targets"]]
    charts = [_strip_chart(points, c, c, by="target", targets=titles) for c in _CHARTED]
    return "".join(c for c in charts if c)


_CHARTED = (TTFT.label, OUTPUT_TPS.label)


def _charted(run: Mapping[str, Any]) -> dict[str, float | None]:
    """A run's figures the distribution charts plot, in the tables' units."""
    return {f.label: f.shown(run[f.field]) for f in (TTFT, OUTPUT_TPS)}


# -- pieces of the page ----------------------------------------------------------------------
def _number(value: Any) -> str:
    """A figure as the Markdown exports write it (``cell_text``), escaped."""
    return _e(cell_text(value))


def _cost(value: Any) -> str:
    return _e(cell_text(value, cost=True, currency=default_prices().currency))


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
           *, costs: Iterable[str] = (), cls: str = "") -> str:
    if not rows:
        return ""
    columns = list(columns or rows[0])
    money = set(costs)
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(
            f"<td>{_cost(row.get(c)) if c in money else _number(row.get(c))}</td>"
            for c in columns) + "</tr>"
        for row in rows)
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(epoch))


def _swatch(title: str) -> str:
    """The target's colour (``chatlib.core.palette``), as in the page's columns and charts."""
    return f'<span class="swatch" style="background:{colour_for(title)}"></span>'


def _pre(text: str, cls: str = "prompt") -> str:
    return f'<pre class="{cls}">{_e(text)}</pre>'


# -- answers as Markdown, as the app shows them, with nothing that loads or runs -------------
class _MathML(HTMLParser):
    """latex2mathml's output rebuilt from a list of MathML elements and attributes whose
    values are plain words or numbers: nothing else passes (``\\href`` gives an ``href``,
    dropped; the ``xmlns`` URL too), and every text is escaped again."""

    TAGS = frozenset(
        "math mrow mi mn mo ms mtext mspace msub msup msubsup mfrac msqrt mroot mstyle merror "
        "mpadded mphantom mfenced menclose munder mover munderover mmultiscripts mprescripts "
        "none mtable mtr mtd mlabeledtr semantics annotation".split())
    ATTRIBUTES = frozenset(
        "display displaystyle mathvariant mathsize mathcolor mathbackground stretchy fence "
        "separator separators form lspace rspace minsize maxsize symmetric largeop "
        "movablelimits accent accentunder columnalign columnlines columnspacing columnspan "
        "rowalign rowlines rowspacing rowspan frame framespacing equalrows equalcolumns width "
        "height depth voffset linethickness scriptlevel notation open close align".split())
    VALUE = re.compile(r"[\w\s.#%+-]*")  # no ":", "(", quote or slash: no URL, no url()

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.TAGS:
            kept = "".join(f' {name}="{_e(value)}"' for name, value in attrs
                           if name in self.ATTRIBUTES and value is not None
                           and self.VALUE.fullmatch(value))
            self.out.append(f"<{tag}{kept}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.TAGS:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(_e(data, quote=False))


def _math(latex: str, options: Mapping[str, Any]) -> str:
    """``$…$`` or ``$$…$$`` as MathML, drawn by the browser with its own fonts (no script,
    no font download); the LaTeX as code when latex2mathml cannot read it."""
    display = "block" if options.get("display_mode") else "inline"
    try:
        mathml = latex_to_mathml(latex, display=display)
    except Exception:  # a model's malformed LaTeX is still worth showing
        fence = "$$" if display == "block" else "$"
        return f'<code class="math-source">{_e(fence + latex + fence)}</code>'
    parser = _MathML()
    parser.feed(mathml)
    parser.close()
    return "".join(parser.out)


def _link_open(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    env.setdefault("links", []).append(tokens[idx])
    return '<span class="link">'


def _link_close(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    opening = env["links"].pop()
    if opening.markup == "autolink":  # <https://...>: its text is the URL already
        return "</span>"
    url = _MARKDOWN.normalizeLinkText(opening.attrGet("href") or "")
    return f'</span> <span class="url">({escapeHtml(url)})</span>'


def _image(self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    url = _MARKDOWN.normalizeLinkText(str(token.attrGet("src") or ""))
    return (f'<span class="image">[image: {escapeHtml(alt)}]</span> '
            f'<span class="url">({escapeHtml(url)})</span>')


def _markdown() -> MarkdownIt:
    """CommonMark with tables, strikethrough and ``$``/``$$`` math, as the app's
    ``st.markdown`` draws an answer, but raw HTML shown as text (``html=False``), a link as
    its text with its URL beside it (nothing to click: a report that opens with no network
    does not send its reader anywhere either), an image as its alt text and URL, code as
    escaped ``<pre><code>``. markdown-it refuses ``javascript:`` and other unsafe URLs
    itself; they stay text."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    # No digit right after an opening or before a closing "$": "$5 and $10" is money.
    dollarmath_plugin(md, allow_labels=False, allow_space=False, allow_digits=False,
                      allow_blank_lines=False, double_inline=True, renderer=_math)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("link_close", _link_close)
    md.add_render_rule("image", _image)
    return md


_MARKDOWN = _markdown()


def _rendered(text: str, cls: str = "answer") -> str:
    """An answer or a thought, Markdown drawn as HTML (see ``_markdown``)."""
    return f'<div class="{cls} md">{_MARKDOWN.render(text, {})}</div>'


def _checks_list(checks: Sequence[CheckResult]) -> str:
    if not checks:
        return ""
    items = "".join(f'<li class="{"ok" if c.passed else "bad"}">{"✓" if c.passed else "✗"} '
                    f"{_e(c.name)}: {_e(c.why)}</li>" for c in checks)
    return f'<ul class="checks">{items}</ul>'


def _run_block(run: Mapping[str, Any], record: RunRecord,
               checks: Sequence[CheckResult] = ()) -> str:
    ttft = "–" if run["ttft_ms"] is None else f"{_number(run['ttft_ms'])} ms"
    e2e = "–" if run["e2e_s"] is None else f"{_number(run['e2e_s'])} s"
    line = (f'<p class="meta">run {run["run"]} · {_e(_STATUS.get(record.status, record.status))}'
            f" · TTFT {ttft} · E2E {e2e} · {_number(run['output_tokens'])} output tokens"
            + (f" · flags: {_e(', '.join(run['flags']))}" if run["flags"] else "") + "</p>")
    parts = [line, _checks_list(checks)]
    if record.reasoning:
        took = run["reasoning_s"]
        label = "Thinking" + ("" if took is None else f" ({_number(took)} s)")
        parts.append(f"<details class=\"thinking\"><summary>{label}</summary>"
                     f"{_rendered(record.reasoning, 'thought')}</details>")
    parts.append(_rendered(record.text) if record.text else '<p class="note">(no text)</p>')
    if record.error:
        parts.append(f'<p class="error">Error: {_e(record.error)}</p>')
    return "".join(parts)


def _answers(comparison: Comparison, figures: Mapping[str, Any],
             checks: Mapping[str, Sequence[CheckResult]] | None = None) -> str:
    """One column per target: its last counted run, the earlier ones folded under it."""
    cards, own = [], checks or {}
    for target, data in zip(comparison.targets, figures["targets"]):
        records = {r.id: r for r in target.records}
        runs = [(r, records[r["run_id"]]) for r in data["runs"]]
        parts = [f"<h3>{_swatch(data['title'])}{_e(data['title'])}</h3>"]
        if not runs:
            parts.append('<p class="note">(no run finished)</p>')
        else:
            last, record = runs[-1]
            parts.append(_run_block(last, record, own.get(record.id, ())))
            if len(runs) > 1:
                earlier = "".join(
                    f'<div class="earlier">{_run_block(r, rec, own.get(rec.id, ()))}</div>'
                    for r, rec in runs[:-1])
                parts.append(f"<details><summary>Earlier runs ({len(runs) - 1})</summary>"
                             f"{earlier}</details>")
        cards.append(f'<div class="card">{"".join(parts)}</div>')
    return (f'<div class="answers" style="--columns:{max(1, len(cards))}">'
            f"{''.join(cards)}</div>")


def _settings(comparison: Comparison) -> str:
    s = comparison.shared
    shared = [("max tokens", str(s.max_tokens)), ("temperature", f"{s.temperature:g}"),
              ("seed", "–" if s.seed is None else str(s.seed)),
              ("defeat prompt caches (a unique tag per request)", "yes" if s.nonce else "no"),
              ("runs per target", str(comparison.repeat)),
              ("warm-up run first (not counted)", "yes" if comparison.use_warmup else "no"),
              ("blind", "yes" if comparison.blind else "no")]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in shared)
    parts = [f"<table class=\"keys\">{rows}</table>"]
    if s.system_prompt:
        parts.append(f"<p>System prompt (shared):</p>{_pre(s.system_prompt, 'prompt')}")
    per_target = []
    for target in comparison.targets:
        own = ", ".join(f"{k} = {target.overrides[k]!r}" for k in sorted(target.overrides))
        per_target.append({
            "target": comparison.title(target),
            "model": target.settings.model if comparison.revealed else "(hidden until the vote)",
            "max tokens": target.settings.max_tokens,
            "temperature": target.settings.temperature,
            "own settings": own or "–",
            "earlier turns": len(target.history) // 2 if target.history else 0,
        })
    parts.append(_table(per_target))
    for target in comparison.targets:
        prompt = target.overrides.get("system_prompt")
        if prompt is not None:
            parts.append(f"<p>System prompt of {_e(comparison.title(target))} (its own):</p>"
                         f"{_pre(str(prompt), 'prompt')}")
    return "".join(parts)


def _verdicts(figures: Mapping[str, Any], h: int = 2) -> str:
    if figures["repeat"] < 2:
        return ""
    items = "".join(f'<li class="{"ok" if v["conclusive"] else "open"}">'
                    f'{"✅" if v["conclusive"] else "❔"} {_e(v["words"])}</li>'
                    for v in figures["verdicts"])
    flagged = [(t["title"], r) for t in figures["targets"] for r in t["runs"] if r["flags"]]
    lines = "".join(f"<li>{_e(title)} · run {r['run']}: "
                    f"{_e(', '.join(FLAGS[f] for f in r['flags']))}</li>" for title, r in flagged)
    left_out = [(t["title"], r) for t in figures["targets"] for r in t["runs"]
                if r["status"] != "ok"]
    parts = [f"<h{h}>Verdicts</h{h}>",
             f"<ul class=\"verdicts\">{items}</ul>" if items else
             '<p class="note">No pair of targets to judge.</p>',
             "<p class=\"note\">Flagged runs are left out of the verdicts (none kept in); "
             "failed and stopped runs always are.</p>",
             f"<h{h + 1}>Flagged runs</h{h + 1}>",
             f"<ul>{lines}</ul>" if lines else '<p class="note">None.</p>']
    if left_out:
        parts.append("<p class=\"note\">Not finished, so in no latency figure: " + ", ".join(
            f"{_e(title)} · run {r['run']} ({_e(_STATUS.get(r['status'], r['status']))})"
            for title, r in left_out) + ".</p>")
    return "".join(parts)


def _race(comparison: Comparison, figures: Mapping[str, Any], h: int = 2) -> str:
    chart = _race_chart(comparison)
    lines = []
    for f in figures["race"]:
        bits = []
        if f["to_n_s"] is not None:
            bits.append(f"first {f['n_chars']} answer characters at {_number(f['to_n_s'])} s")
        else:
            bits.append(f"answer of {f['answer_chars']} characters, under {f['n_chars']}")
        if f["stall_s"] is not None:
            bits.append(f"longest stall {_number(to_ms(f['stall_s']))} ms at "
                        f"{_number(f['stall_from_s'])} s")
        if f["thinking_from_s"] is not None:
            bits.append(f"thinking {_number(f['thinking_from_s'])}–"
                        f"{_number(f['thinking_to_s'])} s")
        lines.append(f"<li>{_swatch(f['target'])}<b>{_e(f['target'])}</b> "
                     f"({_e(_STATUS.get(f['status'], f['status']))}"
                     f"): {_e(' · '.join(bits))}</li>")
    if not chart and not lines:
        return ""
    last = (f" Each target's last of {figures['repeat']} runs." if figures["repeat"] > 1
            else "")
    return (f"<h{h}>Race</h{h}>" + chart +
            "<p class=\"note\">Answer characters received against seconds since each run's "
            "request was sent (t0), from the recorded chunk times (characters: a run's token "
            f"count is a total, not per chunk). Shaded: thinking; dashed: {RACE_CHARS} "
            f"characters. A stall is the longest gap between two chunks.{last}</p>"
            f"<ul>{''.join(lines)}</ul>")


def _costs(figures: Mapping[str, Any]) -> str:
    rows = [{"target": t["title"], "runs": t["cost"]["runs"],
             "priced runs": t["cost"]["priced_runs"], "est. cost, all runs": t["cost"]["total"],
             "est. cost per run": t["cost"]["per_run"]} for t in figures["targets"]]
    return (_table(rows, costs=("est. cost, all runs", "est. cost per run")) +
            f"<p class=\"note\">Costs: {_e(figures['prices'])}; every run is billed, finished "
            "or not; a model the table does not price has no figure (never zero).</p>")


_SUMMARY_NOTE = ("<p class=\"note\">Latency over finished runs only (stopped and failed runs "
                 "are counted apart): TTFT, TTFAT and TPOT in ms, E2E in s, p50/p90/p95 "
                 "(numpy, linear interpolation).</p>")


def _summary(figures: Mapping[str, Any]) -> str:
    """``compare_report.summary``'s rows turned on their side: one column per target (at
    most four), one row per figure, so the twenty figures stay readable."""
    rows = figures["summary"]
    if not rows:
        return ""
    head = "<th>figure</th>" + "".join(
        f"<th>{_swatch(str(r['target']))}{_e(str(r['target']))}</th>" for r in rows)
    body = "".join(
        f"<tr><th>{_e(name)}</th>" + "".join(
            f"<td>{_cost(r[name]) if name.startswith('est. cost') else _number(r[name])}</td>"
            for r in rows) + "</tr>"
        for name in rows[0] if name != "target")
    return (f'<table class="summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            f"</table>{_SUMMARY_NOTE}")


def _every_run(figures: Mapping[str, Any]) -> str:
    rows = [{"target": t["title"], "run": r["run"], "status": r["status"],
             **{f.label: f.shown(r[f.field]) for f in TABLE_FIGURES},
             "output tokens": r["output_tokens"], "est. cost": r["cost"],
             "flags": ", ".join(r["flags"]) or "–", "run id": r["run_id"]}
            for t in figures["targets"] for r in t["runs"]]
    if not rows:
        return ""
    return (f"<details><summary>Every run ({len(rows)})</summary>"
            f"{_table(rows, costs=('est. cost',), cls='wide')}</details>")


def _method(repeat: int, warmup: bool) -> str:
    flags = ", ".join(FLAGS.values())
    return (
        "<h2>Method</h2><p>Every target got the same prompt and the shared settings (a "
        "target's own settings are listed above); each run's chunks were timestamped in the "
        "thread that read its stream, never where a page rendered them. "
        f"Each target ran {repeat} time(s)"
        + (" after one warm-up run that is not counted" if warmup else "")
        + ". With several runs the targets run in rounds: every target starts round k "
        "together (embedded models, which share the CPU, one after another in a new random "
        "order each round), so run k of one target is paired with run k of another. A "
        "verdict is the difference of the medians over the paired runs with a 95 % interval "
        "from a paired bootstrap (2,000 resamples of rounds, seeded, so the same runs give "
        f"the same interval; at least {MIN_PAIRS} pairs); an interval that includes no "
        "difference is inconclusive, and the number of further paired runs that would likely "
        "settle it is estimated from the interval narrowing as 1/√n. A run is flagged when it "
        f"is one of these: {flags}. Flagged runs are left out of the verdicts; failed and "
        "stopped runs always are, as they are from every latency figure.</p>")


def _inline(text: str) -> str:
    out = _e(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def _definitions() -> str:
    """``chatlib.stats.summary.DEFINITIONS`` (markdown: paragraphs and one table) as HTML."""
    parts = []
    for block in DEFINITIONS.split("\n\n"):
        lines = block.strip().splitlines()
        if lines and lines[0].startswith("|"):
            cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines
                     if not re.fullmatch(r"\|?(\s*:?-+:?\s*\|)+\s*", line.strip())]
            head = "".join(f"<th>{_inline(c)}</th>" for c in cells[0])
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                           for row in cells[1:])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif lines:
            parts.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "<h2>How the numbers are defined</h2>" + "".join(parts)


_STYLE = """
:root{color-scheme:light;--line:#d8d8de;--soft:#f5f5f8;--ok:#1f8a3a;--bad:#c0392b}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:90rem;padding:0 1.5rem;color:#1b1b22;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid var(--line);
padding-bottom:.2rem}h3{margin:.3rem 0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
td,th{border:1px solid var(--line);padding:.25rem .55rem;text-align:left;vertical-align:top}
th{background:var(--soft)}table.wide{display:block;overflow-x:auto;max-width:100%}
table.wide td{white-space:nowrap}table.summary tbody th{font-weight:normal}
table.keys th{font-weight:normal}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--soft);padding:.6rem;
border-radius:4px;margin:.4rem 0;font-size:.88rem}
.result{font-size:1.15rem;font-weight:600;margin:.4rem 0}
ul.results{padding-left:1.2rem}ul.results li{margin:.25rem 0}
.md{overflow-wrap:anywhere}.md>:first-child{margin-top:0}.md>:last-child{margin-bottom:0}
.md p,.md ul,.md ol{margin:.45rem 0}.md table{display:block;overflow-x:auto;max-width:100%}
.md code{background:var(--soft);padding:0 .2em;border-radius:3px;font-size:.88em}
.md pre code{background:none;padding:0;font-size:inherit}
.md .link{text-decoration:underline dotted}.md .url,.md .image{color:#555;font-size:.85em}
.md .math.block{display:block;overflow-x:auto;overflow-y:hidden;margin:.4rem 0;
padding:.4rem 0}math{font-size:1.1em}
.thought{color:#555;font-style:italic}
.answers{display:grid;grid-template-columns:repeat(var(--columns),minmax(0,1fr));gap:1rem}
.card{border:1px solid var(--line);border-radius:6px;padding:.8rem;min-width:0}
.earlier{border-top:1px dashed var(--line);margin-top:.6rem}
.meta,.note{color:#555;font-size:.88rem;margin:.3rem 0}.error{color:var(--bad)}
ul.checks{margin:.3rem 0;padding-left:1.2rem;font-size:.88rem}
li.ok{color:var(--ok)}li.bad{color:var(--bad)}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}
figure.chart{margin:.5rem 0}figure.chart svg{max-width:100%;height:auto}
details>summary{cursor:pointer;color:#444}
.verdict-line{font-weight:600}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.4em;
vertical-align:baseline}
@media print{details{display:block}}
"""
# Nothing may load: no script runs, no image, font or frame comes from anywhere.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _document(title: str, body: Sequence[str], figures: Mapping[str, Any]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n" + _figures_block(figures) + "\n</body></html>\n")


def _vote_line(comparison: Comparison) -> str:
    vote = comparison.vote
    if vote is None:
        return ""
    verdict = "a tie" if vote.choice == TIE else f"{vote.choice} is better"
    return f" · the user judged {verdict}" + (" (voted blind)" if vote.blind else "")


def _result(comparison: Comparison) -> str:
    """Who won and why (``chatlib.compare.headline``), then how to read it."""
    repeat = comparison.repeat
    how = ("A winner is named only where the difference is clear: its 95 % interval over "
           "the paired runs does not reach zero (every verdict is under Verdicts below)."
           if repeat > 1 and len(comparison.targets) > 1
           else "Medians of each target's finished runs; every figure is under Figures below.")
    return f'<p class="result">{_e(result_line(comparison))}</p><p class="note">{_e(how)}</p>'


# -- the reports -----------------------------------------------------------------------------
def _decision(table: DecisionTable) -> str:
    """The decision table (``chatlib.quality.decision``): the pick in words, its reasons and
    one row per target."""
    decision = table.decision
    reasons = "".join(f"<li>{_e(reason)}</li>" for reason in decision.reasons)
    rows = [{str(k): v for k, v in row.items()} for row in table.frame().to_dict("records")]
    return (f"<h2>Decision</h2><p><b>{_e(decision.words)}</b></p>"
            + (f"<ul>{reasons}</ul>" if reasons else "") + _table(rows, cls="wide")
            + (f'<p class="note">Constraints: {_e("; ".join(table.constraints))}. '
               if table.constraints else '<p class="note">')
            + f"Rule: {_e(table.rule)}. Quality from the judge's verdicts on these answers, "
              "with its 95 % interval.</p>")


def comparison_report(comparison: Comparison, decision: DecisionTable | None = None) -> str:
    """The comparison as one self-contained HTML document (see the module docstring), with
    its ``decision`` table when a judge has read it."""
    figures = comparison_figures(comparison)
    if decision is not None:
        figures = {**figures, "decision": decision.to_dict()}
    wall = "" if comparison.wall_s is None else f" · wall time {comparison.wall_s:.2f} s"
    state = (" · interrupted (the server stopped while it ran)" if comparison.interrupted
             else " · stopped" if comparison.stopped else "")
    body = [
        f"<h1>Chat Lab comparison {_e(comparison.id[:8])}</h1>",
        f"<p class=\"meta\">{_e(_when(comparison.created_at))} · comparison "
        f"{_e(comparison.id)}{wall}{_e(state)}{_e(_vote_line(comparison))}</p>",
        "<h2>Result</h2>", _result(comparison),
        _decision(decision) if decision is not None else "",
        "<h2>Prompt and settings</h2>", _pre(comparison.prompt, "prompt"),
        _settings(comparison),
        "<h2>Answers</h2>", _answers(comparison, figures),
        "<h2>Figures</h2>", _summary(figures), _every_run(figures),
        _verdicts(figures),
        _race(comparison, figures),
    ]
    distributions = _comparison_distributions(figures)
    if distributions:
        body += ["<h2>Distributions</h2>", f'<div class="charts">{distributions}</div>',
                 "<p class=\"note\">Each dot is one finished run; the bar across is the "
                 "median (p50).</p>"]
    body += ["<h2>Costs</h2>", _costs(figures), _method(comparison.repeat,
                                                        comparison.use_warmup),
             _definitions()]
    return _document(f"Chat Lab comparison {comparison.id[:8]}", body, figures)


def _grid_table(figures: Mapping[str, Any]) -> str:
    return _table(figures["grid"], costs=("est. cost",))


def _set_distributions(figures: Mapping[str, Any]) -> str:
    # Named as the page lists them ("B · name"), so each has its letter's colour.
    rows: list[dict[str, Any]] = []
    titles: dict[str, None] = {}  # in order, once each
    for case in figures["cases"]:
        for k, (name, t) in enumerate(zip(case["targets"], case["comparison"]["targets"])):
            title = f"{chr(65 + k)} · {name}"
            titles[title] = None
            rows += [{"prompt": case["id"], "target": title, **_charted(r)}
                     for r in t["runs"] if r["status"] == "ok"]
    points = pd.DataFrame(rows, columns=["prompt", "target", *_CHARTED])
    charts = [_strip_chart(points, c, c, by="prompt", colour="target", targets=list(titles))
              for c in _CHARTED]
    return "".join(c for c in charts if c)


def prompt_set_report(run: PromptSetRun) -> str:
    """The prompt-set run as one self-contained HTML document: the grid and the verdict on
    top, the distributions over every case, then per case its prompt, checks, answers side
    by side, figures, verdicts and race (see the module docstring)."""
    figures = prompt_set_figures(run)
    s = run.shared
    word = "PASSED" if run.passed else "FAILED"
    missing = "" if run.complete else " (stopped: some runs are missing)"
    failures = [f"{r.case.id} · {r.target} · run {r.run}: {c.name}: {c.why}"
                for r in run.results() for c in r.checks if not c.passed]
    name = run.source or run.id[:8]
    body = [
        f"<h1>Chat Lab prompt set {_e(name)}</h1>",
        f"<p class=\"meta\">{_e(_when(run.created_at))} · prompt set {_e(run.id)}</p>",
        "<h2>Result</h2>",
        f"<p class=\"verdict-line\">{word}: {figures['checks_passed']} of {figures['checks']} "
        f"checks passed{_e(missing)}</p>",
        "<ul class=\"results\">" + "".join(
            f"<li>Prompt {_e(case_run.case.id)}: {_e(result_line(case_run.comparison))}</li>"
            for case_run in run.cases) + "</ul>",
        "<h2>Targets and settings</h2>",
        "<ul>" + "".join(f"<li>{chr(65 + i)} = {_e(t)}</li>" for i, t in enumerate(run.targets))
        + "</ul>",
        f"<p>{run.repeat} run(s) per prompt and target · max tokens {s.max_tokens} · "
        f"temperature {s.temperature:g}" + ("" if s.seed is None else f" · seed {s.seed}")
        + "</p>",
        (f"<p>System prompt (for every prompt without its own):</p>"
         f"{_pre(s.system_prompt, 'prompt')}" if s.system_prompt else ""),
        "<h2>Every prompt and target</h2>", _grid_table(figures),
        "<p class=\"note\">Checks passed over all runs (every run also gets <i>finished</i>); "
        "TTFT and tok/s: p50 over finished runs; est. cost: every run.</p>",
    ]
    if failures:
        body += ["<h3>Failed checks</h3>",
                 "<ul>" + "".join(f'<li class="bad">{_e(f)}</li>' for f in failures) + "</ul>"]
    distributions = _set_distributions(figures)
    if distributions:
        body += ["<h2>Distributions</h2>", f'<div class="charts">{distributions}</div>',
                 "<p class=\"note\">Each dot is one finished run, per prompt and target; the "
                 "bar across is the median (p50).</p>"]
    for i, (case_run, case) in enumerate(zip(run.cases, figures["cases"])):
        comparison, data = case_run.comparison, case["comparison"]
        wanted = [f"{k} {case[k]!r}" for k in ("contains", "regex", "max_ttft_ms", "max_e2e_ms")
                  if case[k] is not None]
        body += [
            f"<section class=\"case\"><h2>Prompt {_e(case['id'])}</h2>",
            _pre(case["prompt"], "prompt"),
            (f"<p>Its own system prompt:</p>{_pre(case['system_prompt'], 'prompt')}"
             if case["system_prompt"] is not None else ""),
            f"<p class=\"note\">Checks: finished{_e(''.join(', ' + w for w in wanted))} · "
            f"comparison {_e(comparison.id)}</p>",
            _answers(comparison, data, _checks_by_run(run, i)),
            "<h3>Figures</h3>", _summary(data), _every_run(data),
            _verdicts(data, 3), _race(comparison, data, 3),
            "</section>",
        ]
    costs = [r["cost"] for case in figures["cases"] for t in case["comparison"]["targets"]
             for r in t["runs"] if r["cost"] is not None]
    body += ["<h2>Costs</h2>",
             f"<p>Estimated cost of every run: {_cost(sum(costs) if costs else None)} "
             f"({len(costs)} priced runs); per prompt and target in the grid above.</p>",
             f"<p class=\"note\">Costs: {_e(figures['prices'])}.</p>",
             _method(run.repeat, False), _definitions()]
    return _document(f"Chat Lab prompt set {name}", body, figures)
