"""One run's figures as one typed object, in seconds: what the compare page, prompt sets,
every export and the HTML report read of a run, so a run reads the same in each.

``run_figures(record)`` gathers the timing figures (``chatlib.runs.metrics``, the README's
definitions, from the stored chunk offsets), the token counts with their sources and the
estimated cost from the dated price table. The run store keeps the same timing figures per
run (computed by the same ``run_metrics`` when a run is added), which the Stats page reads.

Times stay in seconds until a person reads them: a table turns them into milliseconds through
``TABLE_FIGURES`` (its label says the unit) and a JSON export writes each in both units
(``RunFigures.to_dict``: ``ttft_s`` and ``ttft_ms``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from chatlib.core.types import TokenSource
from chatlib.runs.pricing import PriceTable, default_prices
from chatlib.runs.record import RunRecord

__all__ = ["RunFigures", "run_figures", "run_cost", "to_ms", "TableFigure", "TABLE_FIGURES",
           "TTFT", "TTFAT", "TPOT", "E2E", "OUTPUT_TPS", "ANSWER_TPS"]

MS_PER_S = 1000.0


def to_ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds, for a person; ``None`` stays ``None``."""
    return None if seconds is None else seconds * MS_PER_S


def run_cost(record: RunRecord, prices: PriceTable | None = None) -> float | None:
    """Estimated cost of one run from the dated price table (``None``: the table has no
    price for that model, or a token count is unknown; never a silent zero)."""
    table = prices or default_prices()
    return table.cost(record.provider, record.model, record.input_tokens, record.output_tokens)


@dataclass(frozen=True)
class RunFigures:
    """A run's figures: times in seconds since t0, rates in tokens per second, tokens with
    where their count came from, and the cost (in the price table's currency)."""

    ttft_s: float | None  # first chunk of any kind, thinking or answer
    ttfat_s: float | None  # first answer chunk
    reasoning_s: float | None  # first thinking chunk to first answer chunk
    e2e_s: float | None  # last chunk of any kind
    tpot_s: float | None  # (E2E − TTFT) / (streamed tokens − 1)
    output_tps: float | None  # output tokens / E2E
    decode_tps: float | None  # (streamed tokens − 1) / (E2E − TTFT)
    answer_decode_tps: float | None  # (answer tokens − 1) / answer window
    input_tokens: int | None
    input_source: TokenSource | None
    output_tokens: int | None  # thinking included
    output_source: TokenSource | None
    reasoning_tokens: int | None
    reasoning_source: TokenSource | None
    answer_tokens: int | None  # output − reasoning
    cost: float | None  # estimated from the dated price table; None: not priced

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field as it is, and each time also in ms (``ttft_ms``...), the
        unit the tables show, so an export is read in either without arithmetic."""
        data = asdict(self)
        data.update({name[:-2] + "_ms": to_ms(data[name]) for name in _TIMES})
        return data


_TIMES = tuple(f.name for f in fields(RunFigures) if f.name.endswith("_s"))


def run_figures(record: RunRecord, prices: PriceTable | None = None) -> RunFigures:
    """``record``'s figures (see ``RunFigures``); the cost from ``prices`` (default: the
    dated table shipped with the app)."""
    m = record.metrics()
    return RunFigures(
        ttft_s=m.ttft_s, ttfat_s=m.ttfat_s, reasoning_s=m.reasoning_s, e2e_s=m.e2e_s,
        tpot_s=m.tpot_s, output_tps=m.output_tps, decode_tps=m.decode_tps,
        answer_decode_tps=m.answer_decode_tps,
        input_tokens=record.input_tokens, input_source=record.input_source,
        output_tokens=record.output_tokens, output_source=record.output_source,
        reasoning_tokens=record.reasoning_tokens, reasoning_source=record.reasoning_source,
        answer_tokens=m.answer_tokens, cost=run_cost(record, prices),
    )


@dataclass(frozen=True)
class TableFigure:
    """A per-run figure as a table column: its label with the unit shown, the
    ``RunFigures`` field it comes from, and the factor from that field's unit."""

    label: str  # "TTFT ms"
    field: str  # "ttft_s"
    scale: float = 1.0  # MS_PER_S: seconds shown as ms

    def shown(self, value: float | None) -> float | None:
        """A value of ``field`` (seconds, tok/s) in this column's unit."""
        return None if value is None else value * self.scale

    def of(self, figures: RunFigures) -> float | None:
        """This column's value for one run."""
        return self.shown(getattr(figures, self.field))


TTFT = TableFigure("TTFT ms", "ttft_s", MS_PER_S)
TTFAT = TableFigure("TTFAT ms", "ttfat_s", MS_PER_S)
TPOT = TableFigure("TPOT ms", "tpot_s", MS_PER_S)
E2E = TableFigure("E2E s", "e2e_s")
OUTPUT_TPS = TableFigure("tok/s", "output_tps")
ANSWER_TPS = TableFigure("answer tok/s", "answer_decode_tps")
# Every run's row in a table (the compare page's run table, the HTML report's), in order.
TABLE_FIGURES: tuple[TableFigure, ...] = (TTFT, TTFAT, TPOT, E2E, OUTPUT_TPS, ANSWER_TPS)
