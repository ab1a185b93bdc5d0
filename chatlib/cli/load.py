"""The command line that runs a load sweep, for CI::

    python -m chatlib.cli.load --target PROVIDER:MODEL [--target ...]
        (--concurrency 1,2,4,8 | --rate 1,2,5 [--poisson] | --sweep [--max-level 256])
        [--seconds 10] [--requests N] [--input-tokens 128] [--output-tokens 64]
        [--prompts FILE] [--slo "p99 ttft <= 200ms" ...] [--require LEVEL] [--workers N]
        [--yes] [--ray ADDRESS] [--json out.json] [--markdown out.md] [--html report.html]

It prints each level as it ends, then the knee of every target in words. Exit status: 0 when
every target held every SLO at ``--require`` (or, without it, when the run completed); 1
when a target missed an SLO at that level (a client-bound level counts as not shown to
hold); 2 for bad input, or a paid target without ``--requests`` or without ``--yes`` (the
estimate is printed first); 130 when interrupted. The run is ``chatlib.load.run``'s and is
stored like one from the Load page (open it there with ``?load=<id>``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chatlib.cli.common import EXIT_BAD_INPUT, OneLineParser, problem
from chatlib.core.errors import ChatLabError
from chatlib.evals.prompt_sets import load_prompt_set
from chatlib.evals.runner import resolve_targets
from chatlib.load.estimate import estimate_target
from chatlib.load.generator import workers_for
from chatlib.load.levels import LevelResult
from chatlib.load.report import export_json, export_markdown, level_table, summary_words
from chatlib.load.run import LoadRun
from chatlib.load.spec import SWEEP_MAX, LoadSpec, Schedule, Workload, parse_slo
from chatlib.reports.load_html import load_report
from chatlib.store import RunStore
from chatlib.store.loads import LoadStore

__all__ = ["EXIT_PASSED", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "main"]

EXIT_PASSED, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
_PROG = "chatlib.cli.load"


def _levels(kind: type) -> Callable[[str], tuple[Any, ...]]:
    def parse(text: str) -> tuple[Any, ...]:
        try:
            values = tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected numbers like 1,2,4") from None
        if not values or any(v <= 0 for v in values):
            raise argparse.ArgumentTypeError(f"{text!r}: levels must be above zero")
        return values
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        name=_PROG,
        prog="python -m chatlib.cli.load",
        description="Run a load sweep against targets and find each one's knee. Exit status: "
                    "0 held, 1 an SLO missed at --require, 2 bad input.")
    parser.add_argument("--target", action="append", required=True, metavar="PROVIDER:MODEL",
                        help="a target (repeat for up to 4), as in chatlib.cli.evaluate")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--concurrency", type=_levels(int), metavar="N,N,...",
                     help="levels of concurrent streams")
    how.add_argument("--rate", type=_levels(float), metavar="R,R,...",
                     help="levels of requests per second")
    how.add_argument("--sweep", action="store_true",
                     help="concurrency from 1, doubled until an SLO fails, then bisected")
    parser.add_argument("--poisson", action="store_true", help="Poisson arrivals (--rate)")
    parser.add_argument("--max-level", type=int, default=SWEEP_MAX, metavar="N",
                        help=f"the sweep's highest concurrency (default {SWEEP_MAX})")
    parser.add_argument("--seconds", type=float, default=10.0, help="each level's length")
    parser.add_argument("--requests", type=int, default=None, metavar="N",
                        help="at most N requests per level (needed for a paid target)")
    parser.add_argument("--input-tokens", type=int, default=128, metavar="N",
                        help="synthetic prompts of N tokens (default 128)")
    parser.add_argument("--output-tokens", type=int, default=64, metavar="N",
                        help="each request's max output tokens (default 64)")
    parser.add_argument("--prompts", type=Path, metavar="FILE",
                        help="send a prompt set's prompts (CSV or JSONL) instead")
    parser.add_argument("--slo", action="append", default=[], metavar="'p99 ttft <= 200ms'",
                        help="a service-level objective (repeat); metrics ttft, itl, tpot, e2e")
    parser.add_argument("--require", type=float, default=None, metavar="LEVEL",
                        help="fail (exit 1) unless every target holds every SLO at LEVEL")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="processes reading the streams (default: one per 100 streams)")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="spread the workers over a Ray cluster (an address, 'auto' for "
                             "RAY_ADDRESS, or 'local' for a new instance on this machine); "
                             "needs `pip install ray`")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--yes", action="store_true",
                        help="confirm the estimated requests and cost against paid APIs")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="everything, with every request's chunk timestamps")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="the table and knees")
    parser.add_argument("--html", type=Path, metavar="FILE", help="the report to hand over")
    return parser


def _spec(args: argparse.Namespace, names: Sequence[str]) -> LoadSpec:
    if args.sweep:
        schedule = Schedule("sweep", max_level=args.max_level)
    elif args.rate:
        schedule = Schedule("rate", args.rate, poisson=args.poisson)
    else:
        schedule = Schedule("concurrency", args.concurrency)
    prompts: tuple[str, ...] = ()
    if args.prompts is not None:
        prompts = tuple(case.prompt for case in load_prompt_set(args.prompts))
    workload = Workload(args.input_tokens, args.output_tokens, prompts,
                        args.prompts.name if args.prompts else "")
    return LoadSpec(tuple(zip("ABCD", names)), workload, schedule,
                    tuple(parse_slo(text) for text in args.slo), args.seconds, args.requests,
                    args.seed)


def _level_line(run: LoadRun, result: LevelResult) -> str:
    ttft = result.percentiles["ttft"]["p99"]
    parts = [f"{result.label} at {run.spec.schedule.level_text(result.level)}:",
             f"{result.ok}/{result.requests} ok, {result.requests_per_s:.2f} req/s",
             "TTFT p99 " + ("–" if ttft is None else f"{ttft * 1000:.0f} ms")]
    if result.meets_slos is not None:
        parts.append("SLOs met" if result.meets_slos else "SLOs missed")
    if result.client_bound:
        parts.append(f"CLIENT-BOUND ({result.client_bound_why})")
    return " ".join(parts)


def _held_at(run: LoadRun, label: str, level: float) -> bool:
    """``label`` was shown to hold every SLO at ``level``: that level held (a sweep: its
    knee is at or above it). A client-bound level shows nothing."""
    if run.spec.schedule.mode == "sweep":
        knee = next(k for k in run.knees() if k.label == label)
        return knee.level is not None and knee.level >= level
    return any(r.label == label and r.level == level and r.meets_slos and not r.client_bound
               for r in run.results)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    prog = _PROG
    try:
        targets = resolve_targets(args.target)
        spec = _spec(args, [name for name, _ in targets])
        if args.require is not None and not spec.slos:
            raise ValueError("--require needs at least one --slo")
        store = LoadStore(RunStore())
    except (ValueError, OSError, ChatLabError) as exc:
        print(f"{prog}: error: {problem(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    workers = args.workers or workers_for(int(max(spec.schedule.levels or (args.max_level,))))
    paid = [(label, spec_) for (label, _), (_, spec_) in zip(spec.targets, targets)
            if spec_.provider.paid]
    for label, target in paid:
        estimate = estimate_target(spec, label, target.provider.id, target.model,
                                   warmups=workers)
        if not estimate.bounded:
            print(f"{prog}: error: {label} is a paid API: give --requests to cap each level",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        cost = ("unpriced" if estimate.cost is None
                else f"about {estimate.cost:.4f} {estimate.currency}")
        print(f"{prog}: {label} ({target.provider.label} · {target.model}): at most "
              f"{estimate.requests} requests, {estimate.input_tokens} input and "
              f"{estimate.output_tokens} output tokens, {cost}", file=sys.stderr)
    if paid and not args.yes:
        print(f"{prog}: error: paid APIs above: run again with --yes to send", file=sys.stderr)
        return EXIT_BAD_INPUT
    pool = None
    if args.ray:
        try:
            from chatlib.load.ray_pool import RayPool
        except ImportError:
            print(f"{prog}: error: --ray needs Ray: pip install ray", file=sys.stderr)
            return EXIT_BAD_INPUT
        pool = RayPool(workers, args.ray)
    run = LoadRun(spec, [t for _, t in targets], store=store, workers=workers,
                  pool=pool).start()
    print(f"{prog}: load {run.id}", file=sys.stderr, flush=True)
    shown = 0
    try:
        while not run.wait(0.5):
            for result in run.results[shown:]:
                print(_level_line(run, result), flush=True)
            shown = len(run.results)
    except KeyboardInterrupt:
        run.stop()
        run.wait(60)
        print(f"{prog}: interrupted; the levels measured are stored", file=sys.stderr)
        return EXIT_INTERRUPTED
    for result in run.results[shown:]:
        print(_level_line(run, result))
    if run.failure:
        print(f"{prog}: error: {run.failure}", file=sys.stderr)
    print()
    print(level_table(run).to_string(index=False))
    print()
    for words in summary_words(run):
        print(words)
    for label, _ in spec.targets:  # what it cost, after: every request, from the price table
        costs = [r.cost for r in run.results if r.label == label]
        spent = ("unpriced" if any(c is None for c in costs)
                 else f"{sum(c for c in costs if c is not None):.4f}")
        print(f"{label}: {sum(r.requests for r in run.results if r.label == label)} requests, "
              f"cost {spent}")
    try:
        if args.json:
            records = store.runs(run.id, [r.seq for r in run.results])
            args.json.write_text(export_json(run, records), encoding="utf-8")
        if args.markdown:
            args.markdown.write_text(export_markdown(run), encoding="utf-8")
        if args.html:
            args.html.write_text(load_report(run), encoding="utf-8")
    except OSError as exc:
        print(f"{prog}: error: {problem(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.require is not None:
        missed = [label for label, _ in spec.targets if not _held_at(run, label, args.require)]
        for label in missed:
            print(f"FAIL {label} does not hold {', '.join(s.text for s in spec.slos)} at "
                  f"{spec.schedule.level_text(args.require)}")
        if missed:
            return EXIT_FAILED
    return EXIT_FAILED if run.failure else EXIT_PASSED


if __name__ == "__main__":
    raise SystemExit(main())
