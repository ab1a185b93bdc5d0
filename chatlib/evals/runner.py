"""Run a prompt set (``chatlib.evals.prompt_sets``) against targets × repeats, keep it, and
report it: the results grid (prompt × target), JSON and Markdown. The HTML page is
``chatlib.reports.html.prompt_set_report``; the command line for CI is
``chatlib.cli.evaluate``.

Each case is one ``Comparison`` (``Comparisons.start``: its targets in parallel lanes,
embedded models one after another, the row and every counted run stored with
``page="compare"`` and ``group_id`` = its id, so the Stats page counts them); the cases run
one after another, so no case's runs share the machine or a rate limit with another's. The
prompt-set run itself (file name, targets, repeat, settings, and per case its comparison id)
is stored by ``PromptSetStore`` and reopens with ``open_prompt_set``. The figures are
``compare_report.summary``'s (TTFT p50 over finished runs, output tok/s p50, cost of every
run), so they equal the compare page's for the same comparison.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import pandas as pd

from chatlib.compare.comparison import MAX_TARGETS, Comparison, SharedSettings, TargetSpec
from chatlib.compare.report import COST_COLUMN, summary
from chatlib.compare.comparisons import Comparisons
from chatlib.core.tables import cell_text, json_rows, json_text, markdown_table, plain
from chatlib.runs.figures import OUTPUT_TPS, TTFT, run_figures
from chatlib.runs.pricing import default_prices
from chatlib.evals.prompt_sets import CheckResult, PromptCase, check_run
from chatlib.providers.named import resolve_provider
from chatlib.runs.record import RunRecord
from chatlib.store import (
    ComparisonStore,
    PromptSetStore,
    RunStore,
    StoredPromptCase,
    StoredPromptSet,
)

__all__ = [
    "GRID_COLUMNS",
    "CaseRun", "RunResult", "PromptSetRun", "parse_target", "resolve_targets", "run_prompt_set",
    "open_prompt_set", "grid", "to_dict", "export_json", "export_markdown", "shown_grid",
    "verdict_line", "failed_checks",
]
# The summary's columns (``compare.report.summary``), in its units: TTFT in ms, tok/s.
_TTFT_P50, _TPS_P50, _COST = f"{TTFT.label} p50", f"{OUTPUT_TPS.label} p50", "est. cost"
GRID_COLUMNS = ("prompt", "target", "checks passed", _TTFT_P50, _TPS_P50, _COST)


@dataclass
class CaseRun:
    """One case and the comparison that ran it (live, or reopened from the store)."""

    case: PromptCase
    comparison: Comparison


@dataclass(frozen=True)
class RunResult:
    """One counted run of one case on one target, with its checks."""

    case: PromptCase
    target: str  # "provider:model"
    run: int  # 1..repeat
    record: RunRecord
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass
class PromptSetRun:
    """A prompt set run against ``targets`` (names in label order: A, B, ...), ``repeat``
    times each; ``cases`` fill in as they run."""

    id: str
    created_at: float
    source: str
    targets: list[str]
    repeat: int
    shared: SharedSettings
    cases: list[CaseRun] = field(default_factory=list)
    ended_at: float | None = None
    stopped: bool = False

    def stored(self) -> StoredPromptSet:
        return StoredPromptSet(
            id=self.id, created_at=self.created_at, source=self.source,
            targets=tuple(self.targets), repeat=self.repeat, settings=asdict(self.shared),
            cases=tuple(StoredPromptCase(i, c.case.to_dict(), c.comparison.id)
                        for i, c in enumerate(self.cases)),
            ended_at=self.ended_at, stopped=self.stopped)

    def target_name(self, index: int) -> str:
        return self.targets[index] if index < len(self.targets) else f"target {index + 1}"

    def case_results(self, case_run: CaseRun) -> list[list[RunResult]]:
        """The counted runs of one case, per target (label order), each with its checks."""
        return [
            [RunResult(case_run.case, self.target_name(i), k, record,
                       check_run(case_run.case, record))
             for k, record in enumerate(target.records, 1)]
            for i, target in enumerate(case_run.comparison.targets)
        ]

    def results(self) -> list[RunResult]:
        """Every counted run: by case, then target, then run."""
        return [r for c in self.cases for per_target in self.case_results(c) for r in per_target]

    @property
    def complete(self) -> bool:
        """Not stopped, and every case ran ``repeat`` times on every target."""
        return not self.stopped and all(
            len(target.records) == self.repeat for c in self.cases
            for target in c.comparison.targets)

    @property
    def passed(self) -> bool:
        return self.complete and all(r.passed for r in self.results())


def parse_target(text: str) -> tuple[str, str | None]:
    """``"PROVIDER:MODEL"`` split at the first colon (a model name may hold more); a bare
    ``"PROVIDER"`` means its default model."""
    provider, colon, model = text.strip().partition(":")
    if not provider or (colon and not model.strip()):
        raise ValueError(f"target {text!r}: expected PROVIDER:MODEL, e.g. scripted:demo-fast")
    return provider, model.strip() or None


def resolve_targets(texts: Sequence[str]) -> list[tuple[str, TargetSpec]]:
    """A name (``"provider:model"``) and a ``TargetSpec`` for each target text, resolved as
    the HTTP API resolves its ``provider``/``model`` (``chatlib.providers.named``).
    ``ValueError`` for a malformed or repeated target or too many; ``ConfigError`` for an
    unknown provider or model, or a missing key."""
    if not 1 <= len(texts) <= MAX_TARGETS:
        raise ValueError(f"give 1 to {MAX_TARGETS} targets, not {len(texts)}")
    targets: list[tuple[str, TargetSpec]] = []
    for text in texts:
        provider_name, model = parse_target(text)
        provider, chosen, counter = resolve_provider(provider_name, model)
        name = f"{provider_name}:{chosen}"
        if any(name == known for known, _ in targets):
            raise ValueError(f"target {name} is given twice")
        targets.append((name, TargetSpec(provider, chosen, counter)))
    return targets


def run_prompt_set(
    cases: Sequence[PromptCase],
    targets: Sequence[tuple[str, TargetSpec]],
    *,
    store: RunStore,
    repeat: int = 1,
    shared: SharedSettings | None = None,
    source: str = "",
    on_case: Callable[[CaseRun], None] | None = None,
    on_start: Callable[[PromptSetRun], None] | None = None,
    stop: threading.Event | None = None,
) -> PromptSetRun:
    """Run every case against every target ``repeat`` times (see the module docstring) and
    store it all; ``on_start`` gets the run once it is stored (a page shows its progress),
    ``on_case`` hears each case as it ends. A case's ``system_prompt`` replaces the shared
    one. An interrupt (``KeyboardInterrupt``) stops the case running, keeps what ran (the row
    marked stopped) and is raised again; ``stop`` set ends it before the next case (the
    caller stops the running case's comparison)."""
    if not cases:
        raise ValueError("a prompt set needs at least one prompt")
    if not 1 <= len(targets) <= MAX_TARGETS:
        raise ValueError(f"give 1 to {MAX_TARGETS} targets, not {len(targets)}")
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    shared = shared or SharedSettings()
    specs = [spec for _, spec in targets]
    comparisons = Comparisons(ComparisonStore(store))
    sets = PromptSetStore(store)
    run = PromptSetRun(uuid.uuid4().hex, time.time(), source, [n for n, _ in targets], repeat,
                       shared)
    sets.create(run.stored())
    if on_start is not None:
        on_start(run)
    try:
        for seq, case in enumerate(cases):
            if stop is not None and stop.is_set():
                run.stopped = True
                break
            settings = shared
            if case.system_prompt is not None:
                settings = replace(shared, system_prompt=case.system_prompt)
            comparison = comparisons.start(case.prompt, specs, settings, repeat=repeat)
            case_run = CaseRun(case, comparison)
            run.cases.append(case_run)
            sets.add_case(run.id, StoredPromptCase(seq, case.to_dict(), comparison.id))
            try:
                comparison.wait()
            except BaseException:
                comparison.stop()
                comparison.wait(30)
                raise
            if on_case is not None:
                on_case(case_run)
    except BaseException:
        run.stopped = True
        raise
    finally:
        run.ended_at = time.time()
        sets.finish(run.id, ended_at=run.ended_at, stopped=run.stopped)
    return run


def open_prompt_set(store: RunStore, prompt_set_id: str) -> PromptSetRun | None:
    """The stored prompt-set run of that id with its cases' comparisons (live while this
    process has them, else reopened from the store); ``None`` when there is none."""
    stored = PromptSetStore(store).get(prompt_set_id)
    if stored is None:
        return None
    comparisons = Comparisons(ComparisonStore(store))
    names = {f.name for f in fields(SharedSettings)}
    run = PromptSetRun(
        stored.id, stored.created_at, stored.source, list(stored.targets), stored.repeat,
        SharedSettings(**{k: v for k, v in stored.settings.items() if k in names}),
        ended_at=stored.ended_at, stopped=stored.stopped or stored.ended_at is None)
    for case in stored.cases:
        comparison = comparisons.open(case.comparison_id)
        if comparison is None:  # its comparison is gone from the store: no longer whole
            run.stopped = True
            continue
        run.cases.append(CaseRun(PromptCase.from_dict(case.case), comparison))
    return run


# -- the grid and its exports --------------------------------------------------------------
def grid(run: PromptSetRun) -> pd.DataFrame:
    """One row per prompt × target: checks passed over all its runs ("k/n"; ``finished``
    counts as one per run), then ``compare_report.summary``'s TTFT p50 (ms) and output
    tok/s p50 over its finished runs and the estimated cost of all its runs."""
    rows = []
    for case_run in run.cases:
        comparison = case_run.comparison
        figures = summary(comparison)
        per_target = run.case_results(case_run)
        for i, results in enumerate(per_target):
            checks = [c for r in results for c in r.checks]
            row = figures.iloc[i]
            rows.append({
                "prompt": case_run.case.id,
                "target": run.target_name(i),
                "checks passed": f"{sum(c.passed for c in checks)}/{len(checks)}",
                _TTFT_P50: plain(row[_TTFT_P50]),
                _TPS_P50: plain(row[_TPS_P50]),
                _COST: plain(row[COST_COLUMN]),
            })
    return pd.DataFrame(rows, columns=list(GRID_COLUMNS))


def to_dict(run: PromptSetRun) -> dict[str, Any]:
    """Everything the run holds: settings, the grid, and per case and target every run's
    answer, figures and check results."""
    cases = []
    for case_run in run.cases:
        targets = []
        per_target = run.case_results(case_run)
        for i, (target, mine) in enumerate(zip(case_run.comparison.targets, per_target)):
            name = run.target_name(i)
            runs = []
            for r in mine:
                figures = run_figures(r.record)
                runs.append({
                    "run_id": r.record.id, "run": r.run, "status": r.record.status,
                    "error": r.record.error, "text": r.record.text, **figures.to_dict(),
                    "cost_estimate": figures.cost, "passed": r.passed,
                    "checks": [c.to_dict() for c in r.checks],
                })
            checks = [c for r in mine for c in r.checks]
            targets.append({"target": name, "label": target.label,
                            "passed": sum(c.passed for c in checks), "checks": len(checks),
                            "runs": runs})
        cases.append({**case_run.case.to_dict(), "comparison_id": case_run.comparison.id,
                      "targets": targets})
    checks = [c for r in run.results() for c in r.checks]
    return {
        "prompt_set_id": run.id, "created_at": run.created_at, "ended_at": run.ended_at,
        "source": run.source, "targets": run.targets, "repeat": run.repeat,
        "shared_settings": asdict(run.shared), "stopped": run.stopped,
        "complete": run.complete, "passed": run.passed,
        "checks_passed": sum(c.passed for c in checks), "checks": len(checks),
        "prices": default_prices().label(),
        "grid": json_rows(grid(run)),
        "cases": cases,
    }


def export_json(run: PromptSetRun) -> str:
    return json_text(to_dict(run))


def shown_grid(frame: pd.DataFrame) -> pd.DataFrame:
    """The grid as text cells, as ``cell_text`` writes them (costs as estimates)."""
    currency = default_prices().currency
    return pd.DataFrame({c: [cell_text(v, cost=c == _COST, currency=currency) for v in frame[c]]
                         for c in frame.columns}, columns=frame.columns)


def verdict_line(run: PromptSetRun) -> str:
    checks = [c for r in run.results() for c in r.checks]
    passed = sum(c.passed for c in checks)
    word = "PASSED" if run.passed else "FAILED"
    missing = "" if run.complete else " (stopped: some runs are missing)"
    return f"{word}: {passed} of {len(checks)} checks passed{missing}"


def failed_checks(run: PromptSetRun) -> list[str]:
    return [f"{r.case.id} · {r.target} · run {r.run}: {c.name}: {c.why}"
            for r in run.results() for c in r.checks if not c.passed]


def export_markdown(run: PromptSetRun) -> str:
    s = run.shared
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created_at))
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        f"# Chat Lab prompt set {run.source or run.id[:8]}", "",
        f"- Date: {when}", f"- Run id: {run.id}",
        f"- Targets: {', '.join(run.targets)}",
        f"- Runs per prompt and target: {run.repeat}",
        f"- Settings (same for every target): max tokens {s.max_tokens}, temperature "
        f"{s.temperature}" + (f", seed {s.seed}" if s.seed is not None else ""),
        f"- Result: **{verdict_line(run)}**", "",
        markdown_table(grid(run), costs=(_COST,), currency=default_prices().currency),
        "", f"TTFT and tok/s: p50 over finished runs; costs: {default_prices().label()}.", "",
    ]
    failures = failed_checks(run)
    if failures:
        lines += ["## Failed checks", "", *(f"- {esc(f)}" for f in failures), ""]
    return "\n".join(lines)
