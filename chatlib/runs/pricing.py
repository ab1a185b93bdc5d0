"""Cost estimates from a small, dated price table.

A cost is always an estimate: list prices per 1M tokens as of the table's date, times the
recorded token counts (which may themselves be estimates). A model the table does not know
has no cost (``None``), never zero; runs that cost nothing by nature (the embedded model, the
scripted demo, a replay) are priced at zero explicitly in the table.

Where the table comes from (``prices_path``): the file ``$CHATLAB_PRICES`` names; else a
table saved from the app (``save_prices``: the Compare page's *Prices* editor) in the data
dir; else the one shipped in ``chatlib/data/prices.json``. It is read again when its file
changes, so a save shows at once in every process that reads the same file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from chatlib.core.paths import data_dir

__all__ = ["Price", "PriceTable", "PRICES_PATH", "PRICES_ENV", "STALE_DAYS", "load_prices",
           "default_prices", "prices_path", "saved_prices_path", "save_prices"]

PRICES_PATH = Path(__file__).resolve().parent.parent / "data" / "prices.json"
PRICES_ENV = "CHATLAB_PRICES"
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
    source: str = ""  # where the figures were taken from, in words
    origin: str = ""  # the file it was read from

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
            where = Path(self.origin).name if self.origin else PRICES_PATH.name
            label += (f"; these prices are over {months} months old and may have changed "
                      f"(update {where}, or edit them under Prices on the Compare page)")
        return label

    def to_json(self) -> str:
        """The table in its file's format (``load_prices`` reads it back)."""
        return json.dumps({
            "as_of": self.as_of.isoformat(), "currency": self.currency,
            "unit": "per 1M tokens", "source": self.source,
            "prices": [{"provider": provider, "model": model, "input": price.input_per_m,
                        "output": price.output_per_m, **({"note": price.note}
                                                          if price.note else {})}
                       for (provider, model), price in sorted(self.prices.items())],
        }, indent=2, ensure_ascii=False) + "\n"


def load_prices(path: str | Path = PRICES_PATH) -> PriceTable:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    prices = {
        (str(p["provider"]), str(p["model"]).lower()): Price(
            float(p["input"]), float(p["output"]), str(p.get("note", ""))
        )
        for p in data["prices"]
    }
    return PriceTable(date.fromisoformat(data["as_of"]), str(data.get("currency", "USD")),
                      prices, str(data.get("source", "")), str(path))


def saved_prices_path() -> Path:
    """Where ``save_prices`` writes: ``$CHATLAB_PRICES``, else the data dir's prices.json."""
    return Path(os.environ.get(PRICES_ENV) or data_dir() / "prices.json")


def prices_path() -> Path:
    """The file the app's prices come from (see the module docstring)."""
    saved = saved_prices_path()
    return saved if os.environ.get(PRICES_ENV) or saved.is_file() else PRICES_PATH


def save_prices(table: PriceTable) -> Path:
    """Write ``table`` where the app reads its prices from next (atomically)."""
    path = saved_prices_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(table.to_json(), encoding="utf-8")
    tmp.replace(path)
    return path


@lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int) -> PriceTable:
    return load_prices(path)


def default_prices() -> PriceTable:
    """The app's price table, read again when its file changes."""
    path = prices_path()
    return _cached(str(path), path.stat().st_mtime_ns)
