"""The command line that runs a prompt set for CI::

    python -m chatlib.cli.evaluate PROMPTS --target PROVIDER:MODEL [--target ...] --repeat N
        [--max-tokens M] [--temperature T] [--seed S] [--system-prompt TEXT]
        [--json out.json] [--markdown out.md] [--html report.html]

Exit status: 0 when every check of every run passed, 1 when one failed (or a run is
missing), 2 for bad input (a one-line message), 130 when interrupted. The run itself is
``chatlib.evals.runner``'s; the HTML page ``chatlib.reports.html``'s.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chatlib.compare.comparison import SharedSettings
from chatlib.cli.common import EXIT_BAD_INPUT, OneLineParser, problem
from chatlib.core.errors import ChatLabError
from chatlib.evals.prompt_sets import load_prompt_set
from chatlib.evals.runner import (
    CaseRun,
    export_json,
    export_markdown,
    failed_checks,
    grid,
    resolve_targets,
    run_prompt_set,
    shown_grid,
    verdict_line,
)
from chatlib.reports.html import prompt_set_report
from chatlib.store import RunStore

__all__ = ["EXIT_PASSED", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "main"]

EXIT_PASSED, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


_PROG = "chatlib.cli.evaluate"  # what its messages start with


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
    parser = OneLineParser(
        name=_PROG,
        prog="python -m chatlib.cli.evaluate",
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    prog = _PROG
    try:
        cases = load_prompt_set(args.prompts)
        targets = resolve_targets(args.target)
        store = RunStore()
    except (ValueError, OSError, ChatLabError) as exc:
        print(f"{prog}: error: {problem(exc)}", file=sys.stderr)
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
        print(f"{prog}: error: {problem(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(shown_grid(grid(run)).to_string(index=False))
    for failure in failed_checks(run):
        print(f"FAIL {failure}")
    try:
        for path, write in ((args.json, export_json), (args.markdown, export_markdown),
                            (args.html, prompt_set_report)):
            if path is not None:
                path.write_text(write(run), encoding="utf-8")
    except OSError as exc:
        print(f"{prog}: error: {problem(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{verdict_line(run)} (prompt set {run.id}, stored in {store.location})")
    return EXIT_PASSED if run.passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
