"""The HTML report (``chatlib.reports.html``) of a real comparison and a real prompt-set run:
every figure it embeds is recomputed here from the runs the store kept (chunk offsets and
token counts, through ``RunRecord.metrics`` and numpy) and comes out the same, and the
figures shown in its tables are those numbers; it leads with the result in words; every
prompt is escaped preformatted text, every answer and thought is Markdown drawn as HTML
(tables, code, LaTeX as MathML) with the model's own HTML shown as text; nothing in it points
anywhere (no URL to load or follow, no ``src=``, no link, no handler); its charts are inline
SVG; it states the price date, the method and the definitions.

Scripted providers on a virtual per-thread clock (``ThreadClock``): the schedules, hence the
figures, are exact however loaded the machine is. No test asserts a wall-clock time.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from chatlib.reports import html as report_html
from chatlib.compare.analysis import MIN_PAIRS
from chatlib.compare.headline import result_line
from chatlib.compare.comparison import Comparison, SharedSettings, TargetSpec
from chatlib.compare.comparisons import Comparisons
from chatlib.evals.runner import run_prompt_set
from chatlib.runs.pricing import default_prices
from chatlib.evals.prompt_sets import PromptCase
from chatlib.providers.scripted import DEMO_SCRIPTS, Script, ScriptedProvider
from chatlib.runs.record import RunRecord
from chatlib.stats.summary import DEFINITIONS
from chatlib.store import ComparisonStore, RunStore
from chatlib.core.palette import TARGET_COLOURS, colour_for
from chatlib.core.tokens import FunctionCounter
from tests.clocks import HANG_GUARD_S, ThreadClock

CHARS = FunctionCounter("chars", len)
PROMPT = "<script>window.__xss='prompt'</script> Which city & why?"
ANSWER_A = ("<script>window.__xss='answer'</script> The capital of France is Paris, "
            "a city of \"light\" & cafés. " * 3)
ANSWER_B = "<img src=x onerror=\"window.__xss='b'\"> I think it is Lyon, after some thought."
THINKING_B = "<b>Paris</b> or Lyon? Lyon & its bouchons, perhaps."
REPEAT = 7  # round 1 is cold (no warm-up): 6 paired runs remain, enough for an interval


class PricedScripted(ScriptedProvider):
    """A scripted stream recorded as an OpenAI model's, so its runs have a non-zero price."""

    def __init__(self, script: Script, **kwargs) -> None:
        super().__init__(script, **kwargs)
        self.id, self.label = "openai", "Scripted as OpenAI"


def specs(clock: ThreadClock) -> list[TargetSpec]:
    a = Script.from_text(ANSWER_A, 7, first_delay_s=0.05, gap_s=0.01)
    b = Script.from_text(ANSWER_B, 5, first_delay_s=0.12, gap_s=0.02,
                         reasoning_chunks=tuple(THINKING_B[i:i + 6] for i in
                                                               range(0, len(THINKING_B), 6)))
    return [TargetSpec(PricedScripted(a, sleep=clock.sleep), "gpt-4o-mini", CHARS),
            TargetSpec(ScriptedProvider(b, sleep=clock.sleep), "lyon-thinker", CHARS,
                       overrides={"temperature": 0.2, "system_prompt": "Answer <briefly>."})]


def run_comparison(store: RunStore, *, repeat: int = REPEAT, blind: bool = False) -> Comparison:
    """A comparison of the two scripted targets, run and recorded into ``store``."""
    clock = ThreadClock()
    comparison = Comparisons(ComparisonStore(store)).start(
        PROMPT, specs(clock), SharedSettings(max_tokens=64, system_prompt="Be <exact>."),
        repeat=repeat, blind=blind, clock=clock)
    assert comparison.wait(HANG_GUARD_S)
    return comparison


def run_demo(store: RunStore, models: list[str], *, repeat: int = 6, warmup: bool = True,
             prompt: str = "Show me what you render.") -> Comparison:
    """A comparison of the offline demo models (``DEMO_SCRIPTS``, priced at zero) on the
    test's clock: with a warm-up, 6 runs per target are 6 paired runs."""
    clock = ThreadClock()
    targets = [TargetSpec(ScriptedProvider(DEMO_SCRIPTS[m], sleep=clock.sleep), m, CHARS)
               for m in models]
    comparison = Comparisons(ComparisonStore(store)).start(
        prompt, targets, SharedSettings(max_tokens=2000), repeat=repeat, warmup=warmup,
        clock=clock)
    assert comparison.wait(HANG_GUARD_S)
    return comparison


def answer_script(text: str) -> ScriptedProvider:
    return ScriptedProvider(Script.from_text(text, 9, first_delay_s=0.0, gap_s=0.0))


def write_report(comparison: Comparison, path: Path) -> str:
    path.write_text(report_html.comparison_report(comparison), encoding="utf-8")
    return path.read_text(encoding="utf-8")


def shown(value: float) -> str:
    """How the report writes a figure: 1 decimal from 10 up, else 3 significant digits."""
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


def p(values: list[float], q: int) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def stored(store: RunStore, run_ids: list[str]) -> list[RunRecord]:
    records = [store.get(run_id) for run_id in run_ids]
    assert all(r is not None for r in records)
    return records  # type: ignore[return-value]


class Elements(HTMLParser):
    """Every element of a page (tag and attributes), the text of each answer and thought
    block (``div.answer`` / ``div.thought``) and of each h2, in order."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.blocks: list[str] = []  # answers and thoughts, their text
        self.h2: list[str] = []
        self._depth = 0  # inside a block: how many divs deep
        self._h2: list[str] | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.elements.append((tag, found))
        classes = (found.get("class") or "").split()
        if tag == "div" and self._depth:
            self._depth += 1
        elif tag == "div" and {"answer", "thought"} & set(classes):
            self._depth = 1
            self.blocks.append("")
        if tag == "h2":
            self._h2 = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._depth:
            self._depth -= 1
        if tag == "h2" and self._h2 is not None:
            self.h2.append("".join(self._h2).strip())
            self._h2 = None

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.blocks[-1] += data
        if self._h2 is not None:
            self._h2.append(data)


def words(text: str) -> str:
    return " ".join(text.split())


def assert_nothing_loads_links_or_runs(page: str) -> None:
    """No element that loads or runs anything, no handler, no link, no URL in an attribute:
    the one script is the figures' JSON block."""
    elements = Elements(page).elements
    tags = [tag for tag, _ in elements]
    assert not {"img", "iframe", "object", "embed", "link", "a", "base", "form", "input",
                "video", "audio", "source", "frame", "mglyph"} & set(tags)
    scripts = [attrs for tag, attrs in elements if tag == "script"]
    assert scripts == [{"type": "application/json", "id": report_html.FIGURES_ID}]
    for tag, attrs in elements:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            assert name not in {"href", "src", "srcset", "action", "formaction", "xlink:href",
                                "data", "poster", "background", "xmlns"}, (tag, name, value)
            assert not re.search(r"javascript:|url\(|https?:", value or "", re.I), (tag, name)


@pytest.fixture
def comparison(store) -> Comparison:
    return run_comparison(store)


def test_every_figure_in_a_comparison_report_is_recomputed_from_the_stored_runs(
        comparison, store, tmp_path):
    page = write_report(comparison, tmp_path / "report.html")
    figures = report_html.read_figures(page)
    assert figures["kind"] == "comparison" and figures["comparison_id"] == comparison.id
    assert len(figures["targets"]) == 2

    for target, row in zip(figures["targets"], figures["summary"]):
        # The runs the store kept for this target, in order, are the ones the report lists.
        kept = ComparisonStore(store).runs(comparison.id)
        assert [r["run_id"] for r in target["runs"]] == [
            r.id for r in kept if r.label == target["label"]]
        records = stored(store, [r["run_id"] for r in target["runs"]])
        assert len(records) == REPEAT and {r.status for r in records} == {"ok"}
        for run, record in zip(target["runs"], records):
            m = record.metrics()
            offsets, thinking = record.chunk_offsets_s, record.reasoning_offsets_s
            # From the raw timestamps, by the README's definitions.
            ttft = min([offsets[0], *thinking[:1]])
            e2e = max([offsets[-1], *thinking[-1:]])
            assert run["ttft_ms"] == pytest.approx(ttft * 1000)
            assert run["ttfat_ms"] == pytest.approx(offsets[0] * 1000)
            assert run["e2e_s"] == pytest.approx(e2e)
            assert run["output_tps"] == pytest.approx(record.output_tokens / e2e)
            assert run["tpot_ms"] == pytest.approx(
                (e2e - ttft) / (record.output_tokens - 1) * 1000)
            assert run["ttft_ms"] == m.ttft_s * 1000 and run["output_tps"] == m.output_tps
            assert run["cost"] == pytest.approx(default_prices().cost(
                record.provider, record.model, record.input_tokens, record.output_tokens))
        # The summary row: percentiles of those per-run figures.
        ttfts = [r.metrics().ttft_s * 1000 for r in records]
        tps = [r.metrics().output_tps for r in records]
        for q in (50, 90, 95):
            assert row[f"TTFT ms p{q}"] == pytest.approx(p(ttfts, q))
            assert row[f"tok/s p{q}"] == pytest.approx(p(tps, q))
            # ...and the table on the page shows those numbers.
            assert f"<td>{shown(p(ttfts, q))}</td>" in page
            assert f"<td>{shown(p(tps, q))}</td>" in page
        assert row["TTFAT ms p50"] == pytest.approx(
            p([r.chunk_offsets_s[0] * 1000 for r in records], 50))
        assert row["E2E s p50"] == pytest.approx(p([r.metrics().e2e_s for r in records], 50))
        assert row["ok"] == REPEAT and row["stopped"] == row["failed"] == 0
        total = sum(r["cost"] for r in target["runs"])
        assert row["est. cost, all runs"] == pytest.approx(total)
        assert target["cost"]["total"] == pytest.approx(total)
        assert target["runs"][0]["flags"] == ["cold"]  # no warm-up: the first run is cold

    # A's runs are priced (as gpt-4o-mini), B's are free (scripted): both are shown.
    assert figures["targets"][0]["cost"]["total"] > 0
    assert figures["targets"][1]["cost"]["total"] == 0

    # The TTFT verdict, recomputed by its documented method: rounds 2..7 paired (round 1 is
    # cold), difference of medians, 2,000 bootstrap resamples of rounds (seed 0).
    a, b = (stored(store, [r["run_id"] for r in t["runs"]]) for t in figures["targets"])
    x = np.array([r.metrics().ttft_s for r in a[1:]])
    y = np.array([r.metrics().ttft_s for r in b[1:]])
    rounds = np.random.default_rng(0).integers(0, len(x), size=(2000, len(x)))
    boot = np.median(y[rounds], axis=1) - np.median(x[rounds], axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    ttft = next(v for v in figures["verdicts"] if v["figure"] == "ttft")
    assert ttft["pairs"] == REPEAT - 1 and ttft["unit"] == "s"
    assert ttft["winner"] == figures["targets"][0]["title"]  # A answers first
    assert ttft["advantage"] == pytest.approx(np.median(y) - np.median(x))
    assert (ttft["low"], ttft["high"]) == (pytest.approx(low), pytest.approx(high))
    assert ttft["conclusive"]
    keys = {v["figure"] for v in figures["verdicts"]}
    assert {"ttft", "ttfat", "tps", "e2e", "cost"} <= keys  # B thinks: TTFAT is judged too
    for verdict in figures["verdicts"]:
        assert html.escape(verdict["words"]) in page

    # The race: each target's last run, from its chunk offsets and texts.
    for race, target in zip(figures["race"], figures["targets"]):
        record = stored(store, [target["runs"][-1]["run_id"]])[0]
        assert race["run_id"] == record.id
        total, to_n = 0, None
        for t, text in zip(record.chunk_offsets_s, record.chunk_texts):
            total += len(text)
            if to_n is None and total >= race["n_chars"]:
                to_n = t
        arrivals = sorted(record.chunk_offsets_s + record.reasoning_offsets_s)
        gaps = [after - before for before, after in zip(arrivals, arrivals[1:])]
        assert race["to_n_s"] == to_n and race["answer_chars"] == len(record.text)
        assert race["stall_s"] == pytest.approx(max(gaps))
    assert figures["race"][0]["to_n_s"] is not None  # A's answer passes 100 characters
    assert figures["race"][1]["thinking_from_s"] is not None


def test_every_text_is_escaped_nothing_points_anywhere_and_the_charts_are_inline_svg(
        comparison, store, tmp_path):
    page = write_report(comparison, tmp_path / "report.html")
    # Each answer (and B's thought) as text, whole: its markup was shown, not obeyed.
    texts = {words(block) for block in Elements(page).blocks}
    for record in ComparisonStore(store).runs(comparison.id):
        assert words(record.text) in texts
        if record.reasoning:
            assert words(record.reasoning) in texts
    assert html.escape(PROMPT) in page  # the prompt: escaped, preformatted
    assert f'<pre class="prompt">{html.escape(PROMPT)}</pre>' in page
    for raw in ("<script>window", "<img src", "<b>Paris", "<briefly>", "<exact>"):
        assert raw not in page
    assert_nothing_loads_links_or_runs(page)
    assert html.escape("Answer <briefly>.") in page  # B's own system prompt
    assert "temperature = 0.2" in page  # and its other override
    # Thinking is apart, folded away; the answers sit side by side in a grid.
    assert re.search(r"<details class=\"thinking\"><summary>Thinking", page)
    assert '<div class="answers" style="--columns:2">' in page
    # Nothing is fetched: no URL at all, no src, no stylesheet or image link.
    assert not re.search(r"https?://", page)
    # (no src= attribute either: assert_nothing_loads_links_or_runs, above)
    assert "<link" not in page and "<img" not in page and "url(" not in page
    assert "default-src 'none'" in page  # and the page forbids fetching anything
    # The race chart and the two distributions, drawn.
    assert page.count("<svg") == 3
    assert page.count('<figure class="chart"') == 3
    assert re.search(r"<svg[^>]*viewBox=", page)
    # Costs with their price date; the method; the definitions.
    assert html.escape(default_prices().label()) in page
    assert default_prices().as_of.isoformat() in page
    assert "paired bootstrap" in page and "2,000 resamples" in page
    assert "first chunk with non-empty text − t0, thinking or answer" in page
    assert DEFINITIONS.endswith("Same definitions as vLLM's `benchmark_serving`.")
    assert html.escape("Same definitions as vLLM's ") + "<code>benchmark_serving</code>" in page
    assert "**" not in page.split(report_html.FIGURES_ID)[0]  # the markdown was converted


def test_each_target_has_its_one_colour_in_the_report_as_on_the_page(comparison, tmp_path):
    page = write_report(comparison, tmp_path / "report.html")
    a, b = colour_for("A"), colour_for("B")
    assert (a, b) == TARGET_COLOURS[:2]
    # The race and both dot plots draw A and B in their colours, and in no other.
    charts = re.findall(r'<figure class="chart".*?</figure>', page, re.DOTALL)
    assert len(charts) == 3
    for chart in charts:
        drawn = {c.upper() for c in re.findall(r"#[0-9a-fA-F]{6}\b", chart)}
        assert {a, b} <= drawn and not drawn & {"#4C78A8", "#F58518"}  # not tableau10's
    # Each answer card's heading carries its target's colour.
    cards = re.findall(r'<div class="card"><h3><span class="swatch" style="background:(#\w+)">'
                       r"</span>([^<]*)</h3>", page)
    assert [(colour, title.split(" · ")[0]) for colour, title in cards] == [(a, "A"), (b, "B")]


def test_a_reopened_comparison_reports_the_same_figures(comparison, store):
    comparisons = ComparisonStore(store)
    reopened = Comparison.reopen(comparisons.get(comparison.id), comparisons.runs(comparison.id))
    assert report_html.comparison_figures(reopened) == report_html.comparison_figures(comparison)


def test_a_blind_comparison_not_yet_voted_on_names_no_model(store, tmp_path):
    comparison = run_comparison(store, repeat=1, blind=True)
    assert not comparison.revealed
    page = write_report(comparison, tmp_path / "blind.html")
    figures = report_html.read_figures(page)
    assert [t["title"] for t in figures["targets"]] == ["A", "B"]
    assert all(t["model"] is None and t["provider"] is None for t in figures["targets"])
    for name in ("gpt-4o-mini", "lyon-thinker", "Scripted as OpenAI", "Scripted demo"):
        assert name not in page
    assert figures["verdicts"] == [] and "<h2>Verdicts</h2>" not in page  # one run each


def test_the_figures_block_cannot_be_broken_out_of(store):
    block = report_html._figures_block({"text": "</script><script>alert(1)</script> & <!--"})
    assert "</script><script>" not in block.removesuffix("</script>")
    assert report_html.read_figures(f"<p>x</p>{block}") == {
        "text": "</script><script>alert(1)</script> & <!--"}


# -- the result, first -----------------------------------------------------------------------
def result_paragraph(page: str) -> str:
    found = re.search(r'<h2>Result</h2>\s*<p class="result">(.*?)</p>', page, re.DOTALL)
    assert found is not None
    return html.unescape(found.group(1))


def test_the_report_leads_with_the_conclusive_winner(store, tmp_path):
    comparison = run_demo(store, ["demo-fast", "demo-markdown"])  # 6 runs each, warmed up
    page = write_report(comparison, tmp_path / "report.html")
    figures = report_html.read_figures(page)
    assert Elements(page).h2[:2] == ["Result", "Prompt and settings"]
    assert page.index("<h2>Result</h2>") < page.index('<pre class="prompt">')
    line = result_paragraph(page)
    assert line == result_line(comparison)
    # The verdicts it rests on: conclusive, A (demo-fast) ahead on each.
    ttft = next(v for v in figures["verdicts"] if v["figure"] == "ttft")
    assert ttft["conclusive"] and ttft["pairs"] == 6 >= MIN_PAIRS
    fast = figures["targets"][0]["title"]
    assert fast == "A · Scripted demo · demo-fast"
    assert all(v["winner"] == fast for v in figures["verdicts"] if v["conclusive"])
    # demo-fast's first chunk comes at 50 ms, demo-markdown's at 150 ms: 100 ms, exactly.
    assert line.startswith(f"{fast}: first token 100 ms sooner, ")
    tps = [np.median([r["output_tps"] for r in t["runs"]]) for t in figures["targets"]]
    assert f"{tps[0] / tps[1]:.1f}× the tok/s" in line
    assert line.endswith("; 6 paired runs.")
    assert "cost" not in line and "$" not in line  # both demos are free: no cost clause
    assert "<" not in line and "**" not in line  # plain text, for the page and slides too


def test_with_one_run_each_the_report_says_it_cannot_separate_them(store, tmp_path):
    comparison = run_demo(store, ["demo-fast", "demo-markdown"], repeat=1, warmup=False)
    page = write_report(comparison, tmp_path / "report.html")
    assert Elements(page).h2[0] == "Result"
    line = result_paragraph(page)
    assert line.startswith("One run each cannot separate them: ")
    # The figures side by side, with no winner named and no cost for free models.
    assert ("A · Scripted demo · demo-fast: first token 50 ms" in line
            and "B · Scripted demo · demo-markdown: first token 150 ms" in line)
    assert "sooner" not in line and "×" not in line and "cost" not in line
    # Repeats warm up by default on the Compare page: MIN_PAIRS runs give as many pairs.
    assert f"{MIN_PAIRS} runs per target give a verdict" in line


def test_a_priced_target_against_a_free_one_says_at_no_cost(comparison, tmp_path):
    line = result_paragraph(write_report(comparison, tmp_path / "report.html"))
    assert "B · Scripted demo · lyon-thinker: at no cost" in line
    assert line.startswith("A · Scripted as OpenAI · gpt-4o-mini: first token 70 ms sooner")


# -- answers as Markdown ----------------------------------------------------------------------
def test_answers_are_drawn_as_markdown_tables_code_and_math(store, tmp_path):
    comparison = run_demo(store, ["demo-fast", "demo-markdown"], repeat=1, warmup=False)
    page = write_report(comparison, tmp_path / "report.html")
    answers = page.split('<div class="answers"')[1].split("<h2>")[0]
    assert answers.count('<div class="answer md">') == 2
    assert answers.count("<table>") == 2 and "<th>Provider</th>" in answers
    assert "<td>Embedded SmolLM2</td>" in answers
    assert answers.count('<pre><code class="language-python">def ttft(') == 2
    assert answers.count('<math display="inline">') == 2  # $\text{tok/s} = ...$
    assert answers.count('<math display="block">') == 2  # $$TPOT = ...$$
    assert "<mfrac>" in answers and "<strong>Chat Lab</strong>" in answers
    assert "<ol>" in answers
    # No Markdown or LaTeX source is left showing.
    for source in ("|---|", "```", "$$", "\\frac", "**"):
        assert source not in answers
    assert_nothing_loads_links_or_runs(page)


MARKDOWN_XSS = "\n\n".join([
    '<img src=x onerror="window.__xss=1">',
    "[click me](javascript:alert(1))",
    "```html\n<script>window.__xss=2</script>\n```",
    r"Math $\href{javascript:alert(3)}{math link}$ and $$\href{https://example.com/x}{y}$$",
    "[a page](https://example.com/page?a=1&b=2) and <https://example.com/auto>",
    "![a picture](https://example.com/pixel.png)",
    "| cell | link |\n|---|---|\n| <img src=x onerror=\"window.__xss=4\"> | [t](javascript:x) |",
    "[ref][r]\n\n[r]: javascript:window.__xss=5",
    r"$\frac{$ is not LaTeX; costs $5 and $10 are money.",
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=6">',
])


def test_a_models_html_links_and_latex_in_markdown_stay_inert(store, tmp_path):
    targets = [TargetSpec(answer_script(MARKDOWN_XSS), "xss", CHARS),
               TargetSpec(answer_script("Plain."), "plain", CHARS)]
    comparison = Comparisons(ComparisonStore(store)).start(
        "x", targets, SharedSettings(max_tokens=4000))
    assert comparison.wait(HANG_GUARD_S)
    page = write_report(comparison, tmp_path / "report.html")
    answer = page.split('<div class="answer md">')[1].split('<div class="card">')[0]
    # Raw HTML is text; a script in a code fence is escaped code.
    assert '&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;' in answer
    assert ('<pre><code class="language-html">&lt;script&gt;window.__xss=2&lt;/script&gt;\n'
            "</code></pre>") in answer
    # A javascript: link is refused by markdown-it and stays text; a real one is its text
    # with its URL beside it, as text: nothing to click, nothing to load.
    assert "[click me](javascript:alert(1))" in answer and "[ref][r]" in answer
    assert ('<span class="link">a page</span> '
            '<span class="url">(https://example.com/page?a=1&amp;b=2)</span>') in answer
    assert '<span class="link">https://example.com/auto</span>' in answer
    assert ('<span class="image">[image: a picture]</span> '
            '<span class="url">(https://example.com/pixel.png)</span>') in answer
    # \href becomes MathML without its link; broken LaTeX shows as code; money is not math.
    assert answer.count("<math") == 2 and "math link" not in answer
    assert "<mi>m</mi><mi>a</mi><mi>t</mi><mi>h</mi>" in answer  # the link text, as math
    assert '<code class="math-source">$\\frac{$</code>' in answer
    assert "costs $5 and $10 are money." in answer
    assert "<table>" in answer and "&lt;img src=x onerror=&quot;window.__xss=4&quot;&gt;" in answer
    for raw in ("<img", "<script>window", "<mglyph", "<style>", "href=", "javascript:alert(3)"):
        assert raw not in answer
    # The URLs shown as text are the only ones: no attribute names one.
    assert_nothing_loads_links_or_runs(page)
    assert "default-src 'none'" in page


# -- a prompt-set run --------------------------------------------------------------------------
def test_a_prompt_set_report_is_recomputed_from_the_store_and_escaped(store, tmp_path):
    paris = Script.from_text("The capital of France is <b>Paris</b>.", 4, gap_s=0.001)
    lyon = Script.from_text("It is Lyon, <i>surely</i>.", 4, gap_s=0.001,
                            reasoning_chunks=("Hmm, ", "<think> Lyon?"))
    targets = [("scripted:paris", TargetSpec(ScriptedProvider(paris), "paris", CHARS)),
               ("scripted:lyon", TargetSpec(ScriptedProvider(lyon), "lyon", CHARS))]
    cases = [PromptCase("xss", PROMPT, contains="Paris"),
             PromptCase("plain", "Name a city.", system_prompt="Say <one> word.")]
    run = run_prompt_set(cases, targets, store=store, repeat=5,
                         shared=SharedSettings(max_tokens=64), source="capitals.csv")
    (tmp_path / "set.html").write_text(report_html.prompt_set_report(run), encoding="utf-8")
    page = (tmp_path / "set.html").read_text(encoding="utf-8")
    figures = report_html.read_figures(page)
    texts = {words(block) for block in Elements(page).blocks}
    assert figures["kind"] == "prompt_set" and figures["prompt_set_id"] == run.id
    assert (figures["checks_passed"], figures["checks"]) == (25, 30)  # lyon fails "Paris" 5×
    assert "FAILED: 25 of 30 checks passed" in page

    cells = iter(figures["grid"])
    for case in figures["cases"]:
        assert case["targets"] == ["scripted:paris", "scripted:lyon"]
        for name, target in zip(case["targets"], case["comparison"]["targets"]):
            cell = next(cells)
            assert (cell["prompt"], cell["target"]) == (case["id"], name)
            records = stored(store, [r["run_id"] for r in target["runs"]])
            assert len(records) == 5 and all(r.group_id == case["comparison"]["comparison_id"]
                                             for r in records)
            ttfts = [r.metrics().ttft_s * 1000 for r in records]
            assert cell["TTFT ms p50"] == pytest.approx(p(ttfts, 50))
            assert cell["tok/s p50"] == pytest.approx(p([r.metrics().output_tps
                                                         for r in records], 50))
            assert f"<td>{shown(p(ttfts, 50))}</td>" in page
            for run_figures, record in zip(target["runs"], records):
                assert run_figures["ttft_ms"] == pytest.approx(record.metrics().ttft_s * 1000)
                assert words(record.text) in texts
                if record.reasoning:
                    assert words(record.reasoning) in texts
                checks = case["checks"][record.id]
                assert [c["name"] for c in checks] == (
                    ["finished", "contains"] if case["contains"] else ["finished"])
        assert len(case["comparison"]["verdicts"]) > 0  # repeat 5: verdicts for each case
        for verdict in case["comparison"]["verdicts"]:
            assert html.escape(verdict["words"]) in page
    assert html.escape("'Paris' not in the answer") in page  # a failed check, shown

    for raw in ("<script>window", "<b>Paris", "<i>surely", "<think>", "<one>"):
        assert raw not in page
    assert html.escape(PROMPT) in page and html.escape("Say <one> word.") in page
    assert not re.search(r"https?://", page) and not re.search(r"\bsrc\s*=", page)
    assert_nothing_loads_links_or_runs(page)
    # The result leads: the checks, then each prompt's comparison in a line.
    assert Elements(page).h2[0] == "Result"
    result = page.split("<h2>Result</h2>")[1].split("<h2>")[0]
    assert "FAILED: 25 of 30 checks passed" in result
    for case_run in run.cases:
        assert html.escape(f"Prompt {case_run.case.id}: {result_line(case_run.comparison)}",
                           quote=False) in result
    # Two distributions over every case, one race per case.
    assert page.count("<svg") == 4
    assert html.escape(default_prices().label()) in page
    assert "first chunk with non-empty text − t0, thinking or answer" in page


def test_the_public_names():
    assert set(report_html.__all__) == {
        "FIGURES_ID", "comparison_report", "prompt_set_report", "comparison_figures",
        "prompt_set_figures", "read_figures"}
