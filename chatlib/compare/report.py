"""What a comparison gives to hand over: the summary table, every run's figures, the JSON
and Markdown exports. Pure functions of a ``Comparison`` (live or reopened: they read only
its targets' records), so a report drawn from the URL equals the one drawn when it ended.

Each run's figures are ``chatlib.runs.figures.run_figures`` (the README's definitions, in
seconds; its cost from the dated price table): thinking and answer are timed apart, so TTFT
and TTFAT stand side by side, and throughput is split (all output tokens/s, and the answer's
own decode rate). The tables show them through ``TABLE_FIGURES`` (times in ms, E2E in s);
the JSON export writes every run's ``RunFigures.to_dict``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import pandas as pd

from chatlib.compare.comparison import TIE, Comparison
from chatlib.core.tables import json_rows, json_text, markdown_table
from chatlib.runs.figures import (ANSWER_TPS, E2E, OUTPUT_TPS, TABLE_FIGURES, TPOT, TTFAT, TTFT,
                                  run_figures)
from chatlib.runs.metrics import percentiles
from chatlib.runs.pricing import default_prices

__all__ = ["SUMMARY_PERCENTILES", "COST_COLUMN", "summary", "run_table", "to_dict", "export_json",
           "export_markdown"]

SUMMARY_PERCENTILES = (50, 90, 95)
COST_COLUMN = "est. cost, all runs"


def summary(comparison: Comparison) -> pd.DataFrame:
    """One row per target: run counts by status, then p50/p90/p95 of TTFT, TPOT and
    output tokens/s over its finished (ok) runs only, and the p50 of TTFAT and of the
    answer's decode rate beside them (they differ from TTFT and tok/s when the model
    thinks first); stopped and failed runs are counted apart and never enter the
    latency figures."""
    rows = []
    for target in comparison.targets:
        records = target.records
        figures = [run_figures(r) for r in records]
        ok = [f for r, f in zip(records, figures) if r.status == "ok"]
        row: dict[str, Any] = {
            "target": comparison.title(target),
            "ok": len(ok),
            "stopped": sum(r.status == "stopped" for r in records),
            "failed": sum(r.status == "error" for r in records),
        }
        for figure in (TTFT, TPOT, OUTPUT_TPS):
            values = [v for v in (figure.of(f) for f in ok) if v is not None]
            stats = percentiles(values, SUMMARY_PERCENTILES)
            for p in SUMMARY_PERCENTILES:
                row[f"{figure.label} p{p}"] = stats[f"p{p}"]
        for figure in (TTFAT, ANSWER_TPS, E2E):
            values = [v for v in (figure.of(f) for f in ok) if v is not None]
            row[f"{figure.label} p50"] = percentiles(values, (50,))["p50"]
        thought = [f.reasoning_tokens for f in ok if f.reasoning_tokens is not None]
        row["reasoning tokens p50"] = percentiles(thought, (50,))["p50"]
        sources = sorted({f.output_source for f in ok if f.output_source})
        row["tokens from"] = ", ".join(sources)
        known = [f.cost for f in figures if f.cost is not None]
        # Every run is billed, finished or not; no price for any run: no figure.
        row[COST_COLUMN] = sum(known) if known else None
        rows.append(row)
    return pd.DataFrame(rows)

def run_table(comparison: Comparison) -> pd.DataFrame:
    """Every counted run, one row each: what the charts plot."""
    rows = []
    for target in comparison.targets:
        for i, record in enumerate(target.records, 1):
            figures = run_figures(record)
            rows.append({
                "target": comparison.title(target),
                "run": i,
                "status": record.status,
                **{figure.label: figure.of(figures) for figure in TABLE_FIGURES},
                "output tokens": record.output_tokens,
                "reasoning tokens": record.reasoning_tokens,
            })
    return pd.DataFrame(rows)


def to_dict(comparison: Comparison) -> dict[str, Any]:
    """Everything a comparison holds: prompt, settings, every run with its answer,
    metrics and raw chunk timestamps (seconds since that run's t0), and the vote."""
    targets = []
    for target in comparison.targets:
        runs: list[dict[str, Any]] = []
        for pump in target.runs:
            record = pump.record
            if record is None:  # still in its reader: export what the page shows
                runs.append({"id": pump.run_id, "status": "running", "text": pump.text})
                continue
            figures = run_figures(record)
            runs.append({
                **record.to_dict(),
                "text": record.text,
                "cost_estimate": figures.cost,
                "metrics": figures.to_dict(),
            })
        targets.append({
            "label": target.label,
            "provider": target.provider_id,
            "provider_label": target.provider_label,
            "model": target.settings.model,
            "settings": target.settings.to_dict(),
            "runs": runs,
        })
    return {
        "comparison_id": comparison.id,
        "created_at": comparison.created_at,
        "prompt": comparison.prompt,
        "shared_settings": asdict(comparison.shared),
        "repeat": comparison.repeat,
        "warmup": comparison.use_warmup,
        "blind": comparison.blind,
        "wall_s": comparison.wall_s,
        "prices": default_prices().label(),
        "vote": None if comparison.vote is None else {
            "choice": comparison.vote.choice, "created_at": comparison.vote.created_at,
        },
        "targets": targets,
        "summary": json_rows(summary(comparison)),
    }


def export_json(comparison: Comparison) -> str:
    return json_text(to_dict(comparison))


def export_markdown(comparison: Comparison) -> str:
    s = comparison.shared
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(comparison.created_at))
    lines = [
        f"# Chat Lab comparison {comparison.id[:8]}",
        "",
        f"- Date: {when}",
        f"- Settings (same for every target): max tokens {s.max_tokens}, "
        f"temperature {s.temperature}" + (f", seed {s.seed}" if s.seed is not None else ""),
        f"- Runs per target: {comparison.repeat}" + (" (after one warm-up run, not counted)"
                                               if comparison.use_warmup else ""),
        f"- Blind: {'yes' if comparison.blind else 'no'}",
        "",
        "## Prompt",
        "",
        comparison.prompt,
        "",
    ]
    if s.system_prompt:
        lines += ["System prompt:", "", "> " + s.system_prompt.replace("\n", "\n> "), ""]
    table = markdown_table(summary(comparison), costs=(COST_COLUMN,),
                           currency=default_prices().currency)
    lines += ["## Figures", "", table, ""]
    lines += ["Times in ms (TTFT: first token of any kind; TTFAT: first answer token; TPOT) "
              "and s (E2E), p50/p90/p95 over finished runs; "
              f"costs: {default_prices().label()}.", ""]
    for target in comparison.targets:
        record = target.last_record
        lines += [f"## {comparison.title(target)}", ""]
        if record is None:
            lines += ["_(no run finished)_", ""]
            continue
        mark = {"stopped": " (stopped: partial answer)", "error": " (failed)"}
        lines += [f"Last run{mark.get(record.status, '')}:", ""]
        if record.reasoning:
            thought = record.metrics().reasoning_s
            lines += [f"Thinking ({thought:.1f} s):" if thought is not None else "Thinking:",
                      "", "> " + record.reasoning.replace("\n", "\n> "), ""]
        lines += [record.text or "_(no text)_", ""]
        if record.error:
            lines += [f"> Error: {record.error}", ""]
    vote = comparison.vote
    if vote is not None:
        verdict = "a tie" if vote.choice == TIE else f"**{vote.choice}** is better"
        lines += ["## Vote", "", f"The user judged {verdict}"
                  + (" (voted blind)." if vote.blind else "."), ""]
    return "\n".join(lines)

