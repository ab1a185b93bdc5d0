"""Run a prompt set (``chatlib.prompt_sets``) against targets × repeats, keep it, and report
it: the results grid (prompt × target), JSON, Markdown and a self-contained HTML page; and
the command line for CI::

    python -m chatlib.evaluate PROMPTS --target PROVIDER:MODEL [--target ...] --repeat N
        [--max-tokens M] [--temperature T] [--seed S] [--system-prompt TEXT]
        [--json out.json] [--markdown out.md] [--html report.html]

Exit status: 0 when every check of every run passed, 1 when one failed (or a run is
missing), 2 for bad input (a one-line message), 130 when interrupted.

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

import argparse
import json
import math
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from chatlib.compare import MAX_TARGETS, Comparison, SharedSettings, TargetSpec
from chatlib.compare_report import format_cost, run_cost, summary
from chatlib.comparisons import Comparisons
from chatlib.errors import ChatLabError, ProviderError
from chatlib.pricing import default_prices
from chatlib.prompt_sets import CheckResult, PromptCase, check_run, load_prompt_set
from chatlib.providers.named import resolve_provider
from chatlib.record import RunRecord
from chatlib.store import (
    ComparisonStore,
    PromptSetStore,
    RunStore,
    StoredPromptCase,
    StoredPromptSet,
)

__all__ = [
    "EXIT_PASSED", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "GRID_COLUMNS",
    "CaseRun", "RunResult", "PromptSetRun", "parse_target", "resolve_targets", "run_prompt_set",
    "open_prompt_set", "grid", "to_dict", "export_json", "export_markdown", "html_report", "main",
]

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
GRID_COLUMNS = ("prompt", "target", "checks passed", "TTFT ms p50", "tok/s p50", "est. cost")


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
def _value(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


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
                "TTFT ms p50": _value(row["TTFT ms p50"]),
                "tok/s p50": _value(row["tok/s p50"]),
                "est. cost": _value(row["est. cost, all runs"]),
            })
    return pd.DataFrame(rows, columns=list(GRID_COLUMNS))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _value(v) for k, v in row.items()} for row in frame.to_dict("records")]


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
                m = r.record.metrics()
                runs.append({
                    "run_id": r.record.id, "run": r.run, "status": r.record.status,
                    "error": r.record.error, "text": r.record.text,
                    "ttft_ms": None if m.ttft_s is None else m.ttft_s * 1000,
                    "e2e_ms": None if m.e2e_s is None else m.e2e_s * 1000,
                    "output_tps": m.output_tps, "output_tokens": r.record.output_tokens,
                    "cost_estimate": run_cost(r.record), "passed": r.passed,
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
        "grid": _records(grid(run)),
        "cases": cases,
    }


def export_json(run: PromptSetRun) -> str:
    return json.dumps(to_dict(run), indent=2)


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The grid as text cells: "–" for no figure, costs as ``format_cost`` writes them."""
    def cell(column: str, v: Any) -> str:
        v = _value(v)
        if v is None:
            return "–"
        if column == "est. cost":
            return format_cost(v) or "–"
        if isinstance(v, float):
            return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"
        return str(v)

    return pd.DataFrame({c: [cell(c, v) for v in frame[c]] for c in frame.columns},
                        columns=frame.columns)


def _verdict(run: PromptSetRun) -> str:
    checks = [c for r in run.results() for c in r.checks]
    passed = sum(c.passed for c in checks)
    word = "PASSED" if run.passed else "FAILED"
    missing = "" if run.complete else " (stopped: some runs are missing)"
    return f"{word}: {passed} of {len(checks)} checks passed{missing}"


def _failures(run: PromptSetRun) -> list[str]:
    return [f"{r.case.id} · {r.target} · run {r.run}: {c.name}: {c.why}"
            for r in run.results() for c in r.checks if not c.passed]


def export_markdown(run: PromptSetRun) -> str:
    s = run.shared
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created_at))
    shown = _shown(grid(run))

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        f"# Chat Lab prompt set {run.source or run.id[:8]}", "",
        f"- Date: {when}", f"- Run id: {run.id}",
        f"- Targets: {', '.join(run.targets)}",
        f"- Runs per prompt and target: {run.repeat}",
        f"- Settings (same for every target): max tokens {s.max_tokens}, temperature "
        f"{s.temperature}" + (f", seed {s.seed}" if s.seed is not None else ""),
        f"- Result: **{_verdict(run)}**", "",
        "| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns),
        *("| " + " | ".join(esc(v) for v in row) + " |"
          for row in shown.itertuples(index=False)),
        "", f"TTFT and tok/s: p50 over finished runs; costs: {default_prices().label()}.", "",
    ]
    failures = _failures(run)
    if failures:
        lines += ["## Failed checks", "", *(f"- {esc(f)}" for f in failures), ""]
    return "\n".join(lines)


def html_report(run: PromptSetRun) -> str:
    """A self-contained HTML page (no script runs, no network resource): the grid, the
    charts, every answer with its check results, the method and the definitions
    (``chatlib.report_html.prompt_set_report``). Every text from the file or a model is
    escaped."""
    from chatlib.report_html import prompt_set_report  # it imports this module

    return prompt_set_report(run)


# -- the command line ------------------------------------------------------------------------
_PROG = "chatlib.evaluate"  # what its messages start with


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block: CI logs stay short
        self.exit(EXIT_BAD_INPUT, f"{_PROG}: error: {message} (see --help)\n")


def _number(kind: type, low: float, high: float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not between {low:g} and {high:g}")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m chatlib.evaluate",
        description="Run a prompt set (CSV or JSONL) against targets, check every answer and "
                    "store it all in the app's run store. Exit status: 0 every check passed, "
                    "1 a check failed, 2 bad input.")
    parser.add_argument("prompts", help="a .csv or .jsonl file of prompts and checks")
    parser.add_argument("--target", action="append", required=True, metavar="PROVIDER:MODEL",
                        help="a target (repeat for up to 4): local, scripted or a preset id "
                             "(openai, anthropic, ollama, ...), then : and the model")
    parser.add_argument("--repeat", type=_number(int, 1, 1000), default=1, metavar="N",
                        help="runs per prompt and target (default 1)")
    defaults = SharedSettings()
    parser.add_argument("--max-tokens", type=_number(int, 1, 32_000), metavar="M",
                        default=defaults.max_tokens,
                        help=f"the cap on each answer (default {defaults.max_tokens})")
    parser.add_argument("--temperature", type=_number(float, 0, 2), metavar="T",
                        default=defaults.temperature,
                        help=f"0 to 2 (default {defaults.temperature})")
    parser.add_argument("--seed", type=_number(int, 0, 2**31 - 1), default=None, metavar="S",
                        help="sent to providers that take one")
    parser.add_argument("--system-prompt", default=defaults.system_prompt, metavar="TEXT",
                        help="for every prompt without its own system_prompt")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write everything as JSON")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write a Markdown summary")
    parser.add_argument("--html", type=Path, metavar="FILE",
                        help="write an HTML report: the grid and every answer")
    return parser


def _problem(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return exc.user_message
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    prog = _PROG
    try:
        cases = load_prompt_set(args.prompts)
        targets = resolve_targets(args.target)
        store = RunStore()
    except (ValueError, OSError, ChatLabError) as exc:
        print(f"{prog}: error: {_problem(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    shared = SharedSettings(system_prompt=args.system_prompt, max_tokens=args.max_tokens,
                            temperature=args.temperature, seed=args.seed)

    def progress(case_run: CaseRun) -> None:
        n = len(case_run.comparison.targets) * args.repeat
        print(f"{prog}: {case_run.case.id}: {n} run(s) done", file=sys.stderr, flush=True)

    try:
        run = run_prompt_set(cases, targets, store=store, repeat=args.repeat, shared=shared,
                             source=Path(args.prompts).name, on_case=progress)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; what ran is stored", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ChatLabError as exc:  # e.g. a tokenizer that cannot load: nothing to check
        print(f"{prog}: error: {_problem(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(_shown(grid(run)).to_string(index=False))
    for failure in _failures(run):
        print(f"FAIL {failure}")
    try:
        for path, write in ((args.json, export_json), (args.markdown, export_markdown),
                            (args.html, html_report)):
            if path is not None:
                path.write_text(write(run), encoding="utf-8")
    except OSError as exc:
        print(f"{prog}: error: {_problem(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{_verdict(run)} (prompt set {run.id}, stored in {store.location})")
    return EXIT_PASSED if run.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
