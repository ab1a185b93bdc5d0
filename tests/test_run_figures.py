"""One run reads the same everywhere: its TTFT, E2E, TPOT, output tok/s (and cost) in the
Stats tables, the compare summary and its JSON and Markdown exports, the prompt-set grid and
its JSON and Markdown exports, the runs export, and the figures the HTML reports embed and
show, all equal ``run_figures`` of that run, which equals the README's definitions over the
script's schedule.

The run is scripted on a virtual per-thread clock (``ThreadClock``): first chunk at 0.25 s,
then one every 0.05 s, one token per chunk, so its figures are known exactly however
loaded the machine is. No test asserts a wall-clock time.
"""

from __future__ import annotations

import html
import json
import time
import uuid

import pytest

from chatlib.compare import report as compare_report
from chatlib.compare.comparison import Comparison, SharedSettings, TargetSpec
from chatlib.compare.comparisons import Comparisons
from chatlib.core.tables import cell_text
from chatlib.core.tokens import FunctionCounter
from chatlib.evals import runner
from chatlib.evals.prompt_sets import PromptCase
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.reports import html as report_html
from chatlib.runs.figures import RunFigures, run_figures
from chatlib.runs.record import RunRecord
from chatlib.stats import export as stats_export
from chatlib.stats.summary import RunFilter, latency_table, load_stats
from chatlib.store import ComparisonStore, RunStore
from tests.clocks import HANG_GUARD_S, ThreadClock

CHUNKS = 9
FIRST_S, GAP_S = 0.25, 0.05
TTFT_S, E2E_S = FIRST_S, FIRST_S + GAP_S * (CHUNKS - 1)  # 0.25 s, 0.65 s
TPOT_S = (E2E_S - TTFT_S) / (CHUNKS - 1)  # 50 ms
TPS = CHUNKS / E2E_S  # one token per chunk (the script reports usage)


class PricedScripted(ScriptedProvider):
    """A scripted stream recorded as an OpenAI model's, so the run has a non-zero price."""

    def __init__(self, script: Script, **kwargs) -> None:
        super().__init__(script, **kwargs)
        self.id, self.label = "openai", "Scripted as OpenAI"


@pytest.fixture
def comparison(store: RunStore) -> Comparison:
    clock = ThreadClock()
    script = Script(tuple(f"w{i} " for i in range(CHUNKS)), first_delay_s=FIRST_S, gap_s=GAP_S)
    spec = TargetSpec(PricedScripted(script, sleep=clock.sleep), "gpt-4o-mini",
                      FunctionCounter("chars", len))
    started = Comparisons(ComparisonStore(store)).start(
        "Count to nine.", [spec], SharedSettings(max_tokens=64), clock=clock)
    assert started.wait(HANG_GUARD_S)
    return started


def the_run(comparison: Comparison) -> RunRecord:
    (record,) = comparison.targets[0].records
    assert record.status == "ok" and record.output_tokens == CHUNKS
    return record


def prompt_set_of(comparison: Comparison) -> runner.PromptSetRun:
    """A prompt-set run whose one case is this comparison (the grid and its exports are
    pure functions of it)."""
    return runner.PromptSetRun(
        uuid.uuid4().hex, time.time(), "one.csv", ["scripted:as-openai"], 1,
        comparison.shared, [runner.CaseRun(PromptCase("one", comparison.prompt), comparison)],
        ended_at=time.time())


def markdown_row(text: str, header_start: str, row_start: str) -> dict[str, str]:
    """The cells of the table row starting with ``row_start``, keyed by the header's."""
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith(header_start))
    row = next(line for line in lines if line.startswith(row_start))
    names = [c.strip() for c in header.strip("|").split(" | ")]
    cells = [c.strip() for c in row.strip("|").split(" | ")]
    return dict(zip(names, cells))


def test_run_figures_follow_the_definitions(comparison):
    figures = run_figures(the_run(comparison))
    assert figures.ttft_s == pytest.approx(TTFT_S) and figures.ttfat_s == figures.ttft_s
    assert figures.e2e_s == pytest.approx(E2E_S)
    assert figures.tpot_s == pytest.approx(TPOT_S)
    assert figures.output_tps == pytest.approx(TPS)
    assert figures.output_source == "usage" and figures.cost is not None and figures.cost > 0
    data = figures.to_dict()
    assert data["ttft_ms"] == figures.ttft_s * 1000 and data["e2e_ms"] == figures.e2e_s * 1000
    assert data["tpot_ms"] == figures.tpot_s * 1000 and data["reasoning_ms"] is None


def test_one_run_reads_the_same_in_stats_compare_prompt_sets_exports_and_html(
        comparison, store):
    record = the_run(comparison)
    f = run_figures(record)
    assert isinstance(f, RunFigures)
    ttft_ms, tpot_ms, e2e_ms = f.ttft_s * 1000, f.tpot_s * 1000, f.e2e_s * 1000

    # Stats: the store keeps the run's figures; one run, so every percentile is that run's.
    latency = latency_table(load_stats(store, RunFilter())).set_index("metric")
    for metric, value in (("TTFT (ms)", ttft_ms), ("TPOT (ms)", tpot_ms),
                          ("E2E latency (ms)", e2e_ms), ("Output tok/s per request", f.output_tps)):
        assert latency.loc[metric, "runs"] == 1
        assert latency.loc[metric, "p50"] == pytest.approx(value, rel=1e-12)
        assert latency.loc[metric, "mean"] == pytest.approx(value, rel=1e-12)
    # ...and the runs export holds the same stored figures, in seconds.
    (exported,) = json.loads(stats_export.export_json(store, RunFilter()))["runs"]
    assert {k: exported[k] for k in ("ttft_s", "e2e_s", "tpot_s", "output_tps")} == {
        "ttft_s": f.ttft_s, "e2e_s": f.e2e_s, "tpot_s": f.tpot_s, "output_tps": f.output_tps}

    # Compare: the summary (a table for a person: ms, E2E in s) ...
    (row,) = compare_report.summary(comparison).to_dict("records")
    assert (row["TTFT ms p50"], row["TPOT ms p50"], row["tok/s p50"], row["E2E s p50"]) == (
        ttft_ms, tpot_ms, f.output_tps, f.e2e_s)
    assert row["est. cost, all runs"] == f.cost
    # ... its JSON: the run's own figures and the same summary row ...
    data = json.loads(compare_report.export_json(comparison))
    (run,) = data["targets"][0]["runs"]
    assert run["metrics"] == f.to_dict() and run["cost_estimate"] == f.cost
    assert data["summary"][0]["TTFT ms p50"] == ttft_ms
    assert data["summary"][0]["E2E s p50"] == f.e2e_s
    # ... and its Markdown, every cell written by the one cell formatter.
    title = comparison.title(comparison.targets[0])
    cells = markdown_row(compare_report.export_markdown(comparison), "| target |",
                         f"| {title} |")
    assert cells["TTFT ms p50"] == cell_text(ttft_ms) == "250.0"
    assert cells["TPOT ms p50"] == cell_text(tpot_ms) == "50.0"
    assert cells["tok/s p50"] == cell_text(f.output_tps) == "13.8"
    assert cells["E2E s p50"] == cell_text(f.e2e_s) == "0.65"
    assert cells["est. cost, all runs"] == cell_text(f.cost, cost=True)

    # The prompt-set grid, its JSON and its Markdown.
    prompt_set = prompt_set_of(comparison)
    (cell,) = runner.grid(prompt_set).to_dict("records")
    assert (cell["TTFT ms p50"], cell["tok/s p50"], cell["est. cost"]) == (
        ttft_ms, f.output_tps, f.cost)
    set_data = json.loads(runner.export_json(prompt_set))
    assert set_data["grid"][0]["TTFT ms p50"] == ttft_ms
    (set_run,) = set_data["cases"][0]["targets"][0]["runs"]
    assert {k: set_run[k] for k in f.to_dict()} == f.to_dict()
    assert (set_run["ttft_ms"], set_run["e2e_ms"]) == (ttft_ms, e2e_ms)
    grid_cells = markdown_row(runner.export_markdown(prompt_set), "| prompt |", "| one |")
    assert grid_cells["TTFT ms p50"] == "250.0" and grid_cells["tok/s p50"] == "13.8"
    assert grid_cells["est. cost"] == cell_text(f.cost, cost=True)

    # The HTML reports: the embedded figures, and the tables drawn from them.
    page = report_html.comparison_report(comparison)
    embedded = report_html.read_figures(page)
    (html_run,) = embedded["targets"][0]["runs"]
    assert {k: html_run[k] for k in f.to_dict()} == f.to_dict()
    assert embedded["summary"][0] == data["summary"][0]
    for shown in ("250.0", "50.0", "13.8", "0.65", html.escape(cell_text(f.cost, cost=True))):
        assert f"<td>{shown}</td>" in page
    set_page = report_html.prompt_set_report(prompt_set)
    set_embedded = report_html.read_figures(set_page)
    assert set_embedded["grid"] == set_data["grid"]
    (set_html_run,) = set_embedded["cases"][0]["comparison"]["targets"][0]["runs"]
    assert {k: set_html_run[k] for k in f.to_dict()} == f.to_dict()
