"""One prompt, several targets (provider + model + settings), streamed at the same time.

A ``Comparison`` owns everything the compare page shows and exports: its targets, the shared
settings applied identically to each, every run's ``StreamPump`` (so timestamps are taken in
reader threads, never where the UI renders), the summary table and the vote.

Scheduling, so that the figures are fair::

    lanes = targets grouped by what they must not share (all embedded models: one CPU)
    lane thread: [warm-up per target] then run 1..N, round-robin over its targets
    every lane starts on the same signal; a lane waits only for its own runs

A remote or scripted target has a lane of its own, so a slow or failing target never delays
another. Embedded (llama.cpp) targets share one lane: run side by side they would fight for
the same cores (one ``Llama`` even serialises its streams with a lock), and the second's TTFT
would include the first's whole answer. Each counted run is recorded through ``on_done``
(the run store) with ``page="compare"``, ``group_id`` = the comparison id and its label;
warm-up runs are not recorded.
"""

from __future__ import annotations

import json
import math
import random
import string
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from chatlib.conversation import fit_to_budget
from chatlib.metrics import percentiles, run_metrics
from chatlib.pricing import PriceTable, default_prices
from chatlib.providers.base import Provider
from chatlib.providers.local import LocalProvider
from chatlib.pump import StreamPump
from chatlib.record import RunRecord
from chatlib.tokens import TokenCounter
from chatlib.types import Message, Settings

__all__ = [
    "SharedSettings",
    "TargetSpec",
    "Target",
    "LiveStats",
    "Vote",
    "Comparison",
    "TIE",
    "MAX_TARGETS",
    "SUMMARY_PERCENTILES",
    "serial_key",
    "run_cost",
    "format_cost",
]

MAX_TARGETS = 4
TIE = "tie"
SUMMARY_PERCENTILES = (50, 90, 95)
# The prompt is sent alone, so no budget applies; fit_to_budget still counts its tokens.
_NO_BUDGET = 10**9


def serial_key(provider: Provider) -> str | None:
    """Targets with the same key run one after another (see the module docstring)."""
    return "embedded" if isinstance(provider, LocalProvider) else None


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


@dataclass(frozen=True)
class SharedSettings:
    """The settings every target gets, identically."""

    system_prompt: str = ""
    max_tokens: int = 256
    temperature: float = 0.7
    seed: int | None = None

    def for_model(self, model: str, extra: dict[str, Any] | None = None) -> Settings:
        return Settings(
            model=model,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            system_prompt=self.system_prompt,
            seed=self.seed,
            extra=dict(extra or {}),
        )


@dataclass(frozen=True)
class TargetSpec:
    """What the user picked for one target."""

    provider: Provider
    model: str
    counter: TokenCounter
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveStats:
    """A target's figures while its answer streams. Times come from the reader thread;
    ``tokens`` is the target's counter run over the text so far (``token_source`` says
    which kind of count), so it may differ from the final, provider-reported count."""

    ttft_s: float | None
    last_s: float | None  # offset of the latest chunk
    chunks: int
    tokens: int
    token_source: str

    @property
    def tokens_per_s(self) -> float | None:
        """Tokens so far / time of the latest chunk: the live form of output tokens/s."""
        if not self.tokens or not self.last_s:
            return None
        return self.tokens / self.last_s


class Target:
    """One column of a comparison: its label, what it runs and the runs it made."""

    def __init__(self, label: str, spec: TargetSpec, shared: SharedSettings, prompt: str) -> None:
        self.label = label
        self.provider = spec.provider
        self.counter = spec.counter
        self.settings = shared.for_model(spec.model, spec.extra)
        fit = fit_to_budget(
            [Message("user", prompt)], _NO_BUDGET, spec.counter, shared.system_prompt
        )
        self.messages = fit.messages
        self.input_tokens = fit.tokens
        self.runs: list[StreamPump] = []  # counted runs, in order
        self.warmup: StreamPump | None = None
        self.current: StreamPump | None = None  # the run streaming now, or the last one
        self.total_runs = 0

    @property
    def name(self) -> str:
        return f"{self.provider.label} · {self.settings.model}"

    @property
    def records(self) -> list[RunRecord]:
        """Finished counted runs (a run still in its reader thread is not listed yet)."""
        return [p.record for p in self.runs if p.record is not None]

    @property
    def completed(self) -> int:
        return sum(1 for p in self.runs if p.done)

    @property
    def last_record(self) -> RunRecord | None:
        return self.runs[-1].record if self.runs else None


@dataclass(frozen=True)
class Vote:
    """The user's verdict on a comparison: a label ("A", ...) or ``TIE``."""

    comparison_id: str
    choice: str
    blind: bool
    prompt: str
    targets: list[dict[str, Any]]  # label, provider, model, run_ids: the revealed mapping
    created_at: float = field(default_factory=time.time)


class Comparison:
    """See the module docstring. ``start()``, then read ``targets``/``live()``; ``stop()``
    stops every run and keeps each partial answer; ``wait()`` until ``done``."""

    def __init__(
        self,
        prompt: str,
        specs: Sequence[TargetSpec],
        shared: SharedSettings,
        *,
        repeat: int = 1,
        warmup: bool = False,
        blind: bool = False,
        on_done: Callable[[RunRecord], None] | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 1 <= len(specs) <= MAX_TARGETS:
            raise ValueError(f"a comparison has 1 to {MAX_TARGETS} targets, not {len(specs)}")
        if repeat < 1:
            raise ValueError("repeat must be at least 1")
        self.id = uuid.uuid4().hex
        self.created_at = time.time()
        self.prompt = prompt
        self.shared = shared
        self.repeat = repeat
        self.use_warmup = warmup
        self.blind = blind
        self.vote: Vote | None = None
        self._on_done = on_done
        self._clock = clock  # every run's pump timestamps on it (tests pass a virtual one)
        order = list(specs)
        if blind:  # so the order the user picked in does not give the labels away
            (rng or random.Random()).shuffle(order)
        self.targets = [
            Target(letter, spec, shared, prompt)
            for letter, spec in zip(string.ascii_uppercase, order)
        ]
        self._lock = threading.Lock()
        self._go = threading.Event()
        self._stopping = False
        self._lanes: list[threading.Thread] = []
        self.started_at: float | None = None  # monotonic
        self.finished_at: float | None = None
        self._lanes_left = 0

    # -- running -------------------------------------------------------------------------
    def lanes(self) -> list[list[Target]]:
        """Targets grouped into lanes (each lane runs its targets one after another)."""
        shared_lanes: dict[str, list[Target]] = {}
        lanes: list[list[Target]] = []
        for target in self.targets:
            key = serial_key(target.provider)
            if key is None:
                lanes.append([target])
            elif key in shared_lanes:
                shared_lanes[key].append(target)
            else:
                shared_lanes[key] = [target]
                lanes.append(shared_lanes[key])
        return lanes

    def queued_behind(self, target: Target) -> list[Target]:
        """The targets sharing ``target``'s lane (empty when it runs alone)."""
        lane = next(lane for lane in self.lanes() if target in lane)
        return [t for t in lane if t is not target]

    def start(self) -> Comparison:
        lanes = self.lanes()
        for target in self.targets:
            target.total_runs = self.repeat
        self._lanes_left = len(lanes)
        for lane in lanes:
            jobs: list[tuple[Target, bool]] = []
            if self.use_warmup:
                jobs += [(t, True) for t in lane]
            jobs += [(t, False) for _ in range(self.repeat) for t in lane]
            thread = threading.Thread(
                target=self._run_lane, args=(jobs,), name="chatlib-compare-lane", daemon=True
            )
            self._lanes.append(thread)
            thread.start()
        # Every lane is waiting on the same event: their first requests leave together.
        self.started_at = time.monotonic()
        self._go.set()
        return self

    def _run_lane(self, jobs: list[tuple[Target, bool]]) -> None:
        self._go.wait()
        try:
            for target, warm in jobs:
                with self._lock:
                    if self._stopping:
                        return
                    pump = self._new_pump(target, warm)
                    if warm:
                        target.warmup = pump
                    else:
                        target.runs.append(pump)
                    target.current = pump
                    pump.start()
                pump.wait()
        finally:
            with self._lock:
                self._lanes_left -= 1
                if self._lanes_left == 0:
                    self.finished_at = time.monotonic()

    def _new_pump(self, target: Target, warm: bool) -> StreamPump:
        return StreamPump(
            target.provider,
            target.messages,
            target.settings,
            counter=target.counter,
            input_tokens=target.input_tokens,
            input_source=target.counter.source,
            on_done=None if warm else self._on_done,
            record_fields={"page": "compare", "group_id": self.id, "label": target.label},
            clock=self._clock,
        )

    def stop(self) -> None:
        """Stop every run now; each keeps the text it received. Safe to call twice; a
        finished comparison is left as it is."""
        with self._lock:
            if self.done:
                return
            self._stopping = True
            pumps = [t.current for t in self.targets if t.current is not None]
        for pump in pumps:
            pump.stop()

    @property
    def stopped(self) -> bool:
        return self._stopping

    @property
    def done(self) -> bool:
        return self.started_at is not None and self.finished_at is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every lane to finish; True when done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._lanes:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return self.done

    @property
    def wall_s(self) -> float | None:
        """From the common start to the end of the last lane."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def live(self, target: Target) -> LiveStats:
        """The figures of the run streaming now (or the last one) for ``target``."""
        pump = target.current
        if pump is None:
            return LiveStats(None, None, 0, 0, target.counter.source)
        first, last, chunks = pump.arrivals()
        text = pump.text
        tokens = target.counter.count(text) if text else 0
        return LiveStats(first, last, chunks, tokens, target.counter.source)

    # -- results -------------------------------------------------------------------------
    @property
    def revealed(self) -> bool:
        """Whether names may be shown: always, except a blind comparison not yet voted on
        (a stopped one cannot be voted on, so it is revealed)."""
        return not self.blind or self.vote is not None or self._stopping

    def title(self, target: Target) -> str:
        return f"{target.label} · {target.name}" if self.revealed else target.label

    def summary(self) -> pd.DataFrame:
        """One row per target: run counts by status, then p50/p90/p95 of TTFT, TPOT and
        output tokens/s over its finished (ok) runs only; stopped and failed runs are
        counted apart and never enter the latency figures."""
        rows = []
        for target in self.targets:
            records = target.records
            ok = [r for r in records if r.status == "ok"]
            metrics = [run_metrics(r.chunk_offsets_s, r.output_tokens) for r in ok]
            row: dict[str, Any] = {
                "target": self.title(target),
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
            e2e = percentiles([m.e2e_s for m in metrics if m.e2e_s is not None], (50,))
            row["E2E s p50"] = e2e["p50"]
            sources = sorted({r.output_source for r in ok if r.output_source})
            row["tokens from"] = ", ".join(sources)
            costs = [run_cost(r) for r in records]
            known = [c for c in costs if c is not None]
            # Every run is billed, finished or not; no price for any run: no figure.
            row["est. cost, all runs"] = sum(known) if known else None
            rows.append(row)
        return pd.DataFrame(rows)

    def run_table(self) -> pd.DataFrame:
        """Every counted run, one row each: what the charts plot."""
        rows = []
        for target in self.targets:
            for i, record in enumerate(target.records, 1):
                m = run_metrics(record.chunk_offsets_s, record.output_tokens)
                rows.append({
                    "target": self.title(target),
                    "run": i,
                    "status": record.status,
                    "TTFT ms": None if m.ttft_s is None else m.ttft_s * 1000,
                    "TPOT ms": None if m.tpot_s is None else m.tpot_s * 1000,
                    "tok/s": m.output_tps,
                    "E2E s": m.e2e_s,
                    "output tokens": record.output_tokens,
                })
        return pd.DataFrame(rows)

    def choices(self) -> list[str]:
        return [t.label for t in self.targets] + [TIE]

    def cast_vote(self, choice: str) -> Vote:
        """Record the user's verdict (a label or ``TIE``); names are revealed after it.
        Store it with ``RunStore.add_vote``."""
        if choice not in self.choices():
            raise ValueError(f"vote for one of {self.choices()}, not {choice!r}")
        self.vote = Vote(
            comparison_id=self.id,
            choice=choice,
            blind=self.blind,
            prompt=self.prompt,
            targets=[
                {
                    "label": t.label,
                    "provider": t.provider.id,
                    "model": t.settings.model,
                    "run_ids": [p.run_id for p in t.runs],
                }
                for t in self.targets
            ],
        )
        return self.vote

    def to_dict(self) -> dict[str, Any]:
        """Everything a comparison holds: prompt, settings, every run with its answer,
        metrics and raw chunk timestamps (seconds since that run's t0), and the vote."""
        targets = []
        for target in self.targets:
            runs: list[dict[str, Any]] = []
            for pump in target.runs:
                record = pump.record
                if record is None:  # still in its reader: export what the page shows
                    runs.append({"id": pump.run_id, "status": "running", "text": pump.text})
                    continue
                m = run_metrics(record.chunk_offsets_s, record.output_tokens)
                runs.append({
                    **record.to_dict(),
                    "text": record.text,
                    "cost_estimate": run_cost(record),
                    "metrics": {
                        "ttft_s": m.ttft_s, "e2e_s": m.e2e_s, "tpot_s": m.tpot_s,
                        "output_tps": m.output_tps, "decode_tps": m.decode_tps,
                    },
                })
            targets.append({
                "label": target.label,
                "provider": target.provider.id,
                "provider_label": target.provider.label,
                "model": target.settings.model,
                "settings": target.settings.to_dict(),
                "runs": runs,
            })
        return {
            "comparison_id": self.id,
            "created_at": self.created_at,
            "prompt": self.prompt,
            "shared_settings": {
                "system_prompt": self.shared.system_prompt,
                "max_tokens": self.shared.max_tokens,
                "temperature": self.shared.temperature,
                "seed": self.shared.seed,
            },
            "repeat": self.repeat,
            "warmup": self.use_warmup,
            "blind": self.blind,
            "wall_s": self.wall_s,
            "prices": default_prices().label(),
            "vote": None if self.vote is None else {
                "choice": self.vote.choice, "created_at": self.vote.created_at,
            },
            "targets": targets,
            "summary": _records(self.summary()),
        }

    def export_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def export_markdown(self) -> str:
        s = self.shared
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created_at))
        lines = [
            f"# Chat Lab comparison {self.id[:8]}",
            "",
            f"- Date: {when}",
            f"- Settings (same for every target): max tokens {s.max_tokens}, "
            f"temperature {s.temperature}" + (f", seed {s.seed}" if s.seed is not None else ""),
            f"- Runs per target: {self.repeat}" + (" (after one warm-up run, not counted)"
                                                   if self.use_warmup else ""),
            f"- Blind: {'yes' if self.blind else 'no'}",
            "",
            "## Prompt",
            "",
            self.prompt,
            "",
        ]
        if s.system_prompt:
            lines += ["System prompt:", "", "> " + s.system_prompt.replace("\n", "\n> "), ""]
        lines += ["## Figures", "", _markdown_table(self.summary()), ""]
        lines += ["Times in ms (TTFT, TPOT) and s (E2E), p50/p90/p95 over finished runs; "
                  f"costs: {default_prices().label()}.", ""]
        for target in self.targets:
            record = target.last_record
            lines += [f"## {self.title(target)}", ""]
            if record is None:
                lines += ["_(no run finished)_", ""]
                continue
            mark = {"stopped": " (stopped: partial answer)", "error": " (failed)"}
            lines += [f"Last run{mark.get(record.status, '')}:", ""]
            lines += [record.text or "_(no text)_", ""]
            if record.error:
                lines += [f"> Error: {record.error}", ""]
        if self.vote is not None:
            verdict = "a tie" if self.vote.choice == TIE else f"**{self.vote.choice}** is better"
            lines += ["## Vote", "", f"The user judged {verdict}"
                      + (" (voted blind)." if self.vote.blind else "."), ""]
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
