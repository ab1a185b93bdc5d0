"""What a comparison gives to hand over: the summary table, every run's figures, the JSON
and Markdown exports, and the cost estimates. Pure functions of a ``Comparison`` (live or
reopened: they read only its targets' records), so a report drawn from the URL equals the
one drawn when it ended.

Figures are ``chatlib.metrics``' (the README's definitions): thinking and answer are timed
apart, so TTFT and TTFAT stand side by side, and throughput is split (all output tokens/s,
and the answer's own decode rate).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from typing import Any

import pandas as pd

from chatlib.compare import TIE, Comparison
from chatlib.metrics import percentiles
from chatlib.pricing import PriceTable, default_prices
from chatlib.record import RunRecord

__all__ = ["SUMMARY_PERCENTILES", "summary", "run_table", "to_dict", "export_json",
           "export_markdown", "run_cost", "format_cost"]

SUMMARY_PERCENTILES = (50, 90, 95)


def run_cost(record: RunRecord, prices: PriceTable | None = None) -> float | None:
    """Estimated cost of one run from the dated price table (``None``: the table has no
    price for that model, or a token count is unknown; never a silent zero)."""
    table = prices or default_prices()
    return table.cost(record.provider, record.model, record.input_tokens, record.output_tokens)


def format_cost(cost: float | None, currency: str = "USD") -> str | None:
    """"≈ $0.00042" for the UI; ``None`` when there is no estimate."""
    if cost is None:
        return None
    sign = "$" if currency == "USD" else f"{currency} "
    if cost == 0:
        return f"{sign}0"
    # Two significant digits however small, never scientific notation.
    decimals = max(4, 1 - math.floor(math.log10(cost)))
    return f"≈ {sign}{cost:.{decimals}f}"


def summary(comparison: Comparison) -> pd.DataFrame:
    """One row per target: run counts by status, then p50/p90/p95 of TTFT, TPOT and
    output tokens/s over its finished (ok) runs only, and the p50 of TTFAT and of the
    answer's decode rate beside them (they differ from TTFT and tok/s when the model
    thinks first); stopped and failed runs are counted apart and never enter the
    latency figures."""
    rows = []
    for target in comparison.targets:
        records = target.records
        ok = [r for r in records if r.status == "ok"]
        metrics = [r.metrics() for r in ok]
        row: dict[str, Any] = {
            "target": comparison.title(target),
            "ok": len(ok),
            "stopped": sum(r.status == "stopped" for r in records),
            "failed": sum(r.status == "error" for r in records),
        }
        series = {
            "TTFT ms": [m.ttft_s * 1000 for m in metrics if m.ttft_s is not None],
            "TPOT ms": [m.tpot_s * 1000 for m in metrics if m.tpot_s is not None],
            "tok/s": [m.output_tps for m in metrics if m.output_tps is not None],
        }
        for name, values in series.items():
            stats = percentiles(values, SUMMARY_PERCENTILES)
            for p in SUMMARY_PERCENTILES:
                row[f"{name} p{p}"] = stats[f"p{p}"]
        for name, values in {
            "TTFAT ms p50": [m.ttfat_s * 1000 for m in metrics if m.ttfat_s is not None],
            "answer tok/s p50": [m.answer_decode_tps for m in metrics
                                 if m.answer_decode_tps is not None],
            "E2E s p50": [m.e2e_s for m in metrics if m.e2e_s is not None],
        }.items():
            row[name] = percentiles(values, (50,))["p50"]
        thought = [r.reasoning_tokens for r in ok if r.reasoning_tokens is not None]
        row["reasoning tokens p50"] = percentiles(thought, (50,))["p50"]
        sources = sorted({r.output_source for r in ok if r.output_source})
        row["tokens from"] = ", ".join(sources)
        costs = [run_cost(r) for r in records]
        known = [c for c in costs if c is not None]
        # Every run is billed, finished or not; no price for any run: no figure.
        row["est. cost, all runs"] = sum(known) if known else None
        rows.append(row)
    return pd.DataFrame(rows)

def run_table(comparison: Comparison) -> pd.DataFrame:
    """Every counted run, one row each: what the charts plot."""
    rows = []
    for target in comparison.targets:
        for i, record in enumerate(target.records, 1):
            m = record.metrics()
            rows.append({
                "target": comparison.title(target),
                "run": i,
                "status": record.status,
                "TTFT ms": None if m.ttft_s is None else m.ttft_s * 1000,
                "TTFAT ms": None if m.ttfat_s is None else m.ttfat_s * 1000,
                "TPOT ms": None if m.tpot_s is None else m.tpot_s * 1000,
                "tok/s": m.output_tps,
                "E2E s": m.e2e_s,
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
            m = record.metrics()
            runs.append({
                **record.to_dict(),
                "text": record.text,
                "cost_estimate": run_cost(record),
                "metrics": {
                    "ttft_s": m.ttft_s, "e2e_s": m.e2e_s, "tpot_s": m.tpot_s,
                    "output_tps": m.output_tps, "decode_tps": m.decode_tps,
                    "ttfat_s": m.ttfat_s, "reasoning_s": m.reasoning_s,
                    "answer_tokens": m.answer_tokens, "answer_decode_tps": m.answer_decode_tps,
                },
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
        "summary": _records(summary(comparison)),
    }

def export_json(comparison: Comparison) -> str:
    return json.dumps(to_dict(comparison), indent=2)

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
    lines += ["## Figures", "", _markdown_table(summary(comparison)), ""]
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


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-safe dicts (NaN becomes None)."""
    return [
        {str(k): (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _markdown_table(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return "–"
        if isinstance(v, float):
            return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])
