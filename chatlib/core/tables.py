"""How figures leave the app, for a file or for a person: JSON-safe values (NaN and numpy
scalars made plain), the one JSON writer every export uses, a table cell as a person reads it
(one number format, costs as estimates) and Markdown tables.

The comparison and prompt-set exports, the runs export, a chat's export and the HTML report
all write through these, so a figure is written the same way in each. Units are not chosen
here: values arrive in the unit their column names (``chatlib.runs.figures``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NO_FIGURE", "plain", "json_rows", "json_text", "cell_text", "format_cost",
           "markdown_table"]

NO_FIGURE = "–"  # what a cell shows for an unknown figure (never 0)


def plain(value: Any) -> Any:
    """A JSON-safe scalar: ``None``, NaN and infinities become ``None``, numpy scalars
    Python ones; anything else is returned as it is."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as JSON-safe dicts (``plain`` cells, string keys)."""
    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist() if getattr(value, "ndim", 0) else plain(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_text(data: Any, *, indent: int | None = 2) -> str:
    """``data`` as JSON text, UTF-8 characters kept. NaN is refused (it is not JSON):
    frames go through ``json_rows`` first, so an unknown figure is ``null``."""
    return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False,
                      default=_json_default)


def format_cost(cost: float | None, currency: str = "USD") -> str | None:
    """"≈ $0.00042" for a person; ``None`` when there is no estimate."""
    if cost is None:
        return None
    sign = "$" if currency == "USD" else f"{currency} "
    if cost == 0:
        return f"{sign}0"
    # Two significant digits however small, never scientific notation.
    decimals = max(4, 1 - math.floor(math.log10(cost)))
    return f"≈ {sign}{cost:.{decimals}f}"


def cell_text(value: Any, *, cost: bool = False, currency: str = "USD") -> str:
    """One table cell as a person reads it: ``NO_FIGURE`` for no figure, a cost as
    ``format_cost`` writes it, a float with 1 decimal from 10 up and 3 significant digits
    below, anything else as text (not escaped: the caller's format does that)."""
    value = plain(value)
    if value is None:
        return NO_FIGURE
    if cost and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_cost(value, currency) or NO_FIGURE
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return str(value)


def markdown_table(frame: pd.DataFrame, *, costs: Collection[str] = (),
                   currency: str = "USD") -> str:
    """``frame`` as a Markdown table, every cell by ``cell_text`` (the columns in
    ``costs`` as costs), pipes escaped and line breaks made spaces."""
    def md(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    columns = [str(c) for c in frame.columns]
    head = "| " + " | ".join(md(c) for c in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(md(cell_text(v, cost=c in costs, currency=currency))
                              for c, v in zip(columns, row)) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])
