"""The price table in the sidebar: where the prices come from and how old they are, and an
editor to update them (``chatlib.runs.pricing.save_prices``): a row per provider and model,
list prices per 1M tokens, and the date they were checked. With sign-in set up, only an
admin saves (the table is the server's, every user's costs read it)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chatlib.runs.pricing import Price, PriceTable, default_prices, save_prices
from ui.auth import is_admin, sign_in_configured

__all__ = ["price_editor"]

_COLUMNS = ["provider", "model", "input per 1M", "output per 1M", "note"]


def _rows(table: PriceTable) -> pd.DataFrame:
    return pd.DataFrame(
        [[provider, model, p.input_per_m, p.output_per_m, p.note]
         for (provider, model), p in sorted(table.prices.items())], columns=_COLUMNS)


def _text(value: object) -> str:
    """A cell as text: an empty cell (None, or NaN in a pandas column) is ""."""
    return "" if value is None or pd.isna(value) else str(value).strip()


def edited_table(frame: pd.DataFrame, as_of: date, table: PriceTable) -> PriceTable:
    """The table the editor holds; ``ValueError`` saying which row is wrong."""
    prices: dict[tuple[str, str], Price] = {}
    for number, row in enumerate(frame.itertuples(index=False), start=1):
        provider, model = _text(row[0]), _text(row[1]).lower()
        if not provider and not model:
            continue  # an empty row the editor added
        if not provider or not model:
            raise ValueError(f"Row {number}: give both a provider and a model ('*' for all).")
        try:
            given, taken = float(row[2]), float(row[3])
        except (TypeError, ValueError):
            raise ValueError(f"Row {number}: prices are numbers per 1M tokens.") from None
        if not (given >= 0 and taken >= 0):  # also refuses NaN
            raise ValueError(f"Row {number}: a price cannot be negative or empty.")
        if (provider, model) in prices:
            raise ValueError(f"Row {number}: {provider} · {model} is listed twice.")
        prices[(provider, model)] = Price(given, taken, _text(row[4]))
    return PriceTable(as_of, table.currency, prices,
                      f"Edited in Chat Lab on {date.today().isoformat()} (prices as of "
                      f"{as_of.isoformat()}); before: {table.source}".strip())


def price_editor(box: DeltaGenerator) -> None:
    table = default_prices()
    with box.expander("Prices"):
        st.caption(f"Costs are an {table.label()}. Read from `{table.origin}`."
                   + (f" Source: {table.source}" if table.source else ""))
        may_save = not sign_in_configured() or is_admin()
        frame = st.data_editor(_rows(table), num_rows="dynamic" if may_save else "fixed",
                               disabled=not may_save, hide_index=True, key="prices_editor")
        as_of = st.date_input("Prices checked on", table.as_of, key="prices_as_of",
                              disabled=not may_save)
        if not may_save:
            st.caption("Only an admin can change the prices of this server.")
            return
        if st.button("Save prices", icon="💾", key="prices_save"):
            try:
                path = save_prices(edited_table(frame, as_of, table))
            except ValueError as exc:
                st.error(str(exc), icon="⚠️")
            except OSError as exc:
                st.error(f"Could not write the prices: {exc.strerror or exc}", icon="⚠️")
            else:
                st.success(f"Saved to `{path}`: every cost now reads it.", icon="💾")
