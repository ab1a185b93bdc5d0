"""Cost estimates from a small, dated price table (``chatlib/data/prices.json``).

A cost is always an estimate: list prices per 1M tokens as of the table's date, times the
recorded token counts (which may themselves be estimates). A model the table does not know
has no cost (``None``), never zero; runs that cost nothing by nature (the embedded model, the
scripted demo, a replay) are priced at zero explicitly in the table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

__all__ = ["Price", "PriceTable", "PRICES_PATH", "STALE_DAYS", "load_prices", "default_prices"]

PRICES_PATH = Path(__file__).resolve().parent.parent / "data" / "prices.json"
STALE_DAYS = 180  # older than this, a price table says it may be out of date
# A dated snapshot of a model id ("gpt-4o-2024-08-06", "claude-sonnet-4-20250514") or its
# moving alias ("claude-3-7-sonnet-latest") has the price of the base id.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclass(frozen=True)
class Price:
    input_per_m: float  # per 1M input tokens
    output_per_m: float  # per 1M output tokens
    note: str = ""

    def cost(self, input_tokens: float | None, output_tokens: float | None) -> float | None:
        """The estimated cost of these counts; ``None`` when either is unknown."""
        if input_tokens is None or output_tokens is None:
            return None
        return (input_tokens * self.input_per_m + output_tokens * self.output_per_m) / 1e6


@dataclass(frozen=True)
class PriceTable:
    as_of: date
    currency: str
    prices: dict[tuple[str, str], Price]  # (provider, model id or "*") -> price
    source: str = ""

    def price(self, provider: str, model: str) -> Price | None:
        """The price of ``provider``'s ``model``, or ``None`` when the table does not know it."""
        known = self.prices.get((provider, model.lower()))
        if known is not None:
            return known
        base = _SNAPSHOT.sub("", model.lower())
        if base != model.lower() and (provider, base) in self.prices:
            return self.prices[(provider, base)]
        return self.prices.get((provider, "*"))

    def cost(
        self, provider: str, model: str, input_tokens: float | None, output_tokens: float | None
    ) -> float | None:
        price = self.price(provider, model)
        return None if price is None else price.cost(input_tokens, output_tokens)

    def age_days(self, today: date | None = None) -> int:
        return ((today or date.today()) - self.as_of).days

    def label(self, today: date | None = None) -> str:
        """How the UI names the figures: an estimate, and from when; a table older than
        ``STALE_DAYS`` says so in words (prices change; a fresh one needs no day count)."""
        label = f"estimate from list prices as of {self.as_of.isoformat()}, {self.currency}"
        months = self.age_days(today) // 30
        if self.age_days(today) > STALE_DAYS:
            label += (f"; these prices are over {months} months old and may have changed "
                      f"(update {PRICES_PATH.name})")
        return label


def load_prices(path: str | Path = PRICES_PATH) -> PriceTable:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    prices = {
        (str(p["provider"]), str(p["model"]).lower()): Price(
            float(p["input"]), float(p["output"]), str(p.get("note", ""))
        )
        for p in data["prices"]
    }
    return PriceTable(date.fromisoformat(data["as_of"]), str(data.get("currency", "USD")),
                      prices, str(data.get("source", "")))


@lru_cache(maxsize=1)
def default_prices() -> PriceTable:
    return load_prices()
