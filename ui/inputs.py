"""Number fields that say which value is used.

``st.number_input`` with ``min_value``/``max_value`` turns a value typed out of range red in
the browser and never sends it: the app goes on with the previous value and nobody is told.
These fields have no bounds in the browser; the value is clamped here, and a warning under
the field names the range and the value actually used.

They are float fields shown without decimals, though they hold whole numbers: the browser
reads an int-typed ``st.number_input`` with ``parseInt`` ("1e9" is 1) and drops, without
telling Python, an integer beyond 2**53. A float field is read with ``parseFloat``; the
fraction or the size it lets through is rounded and clamped here, and said.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

__all__ = ["bounded_int", "clamp", "whole_in_range", "first_value"]

T = TypeVar("T")

# From here on JavaScript's toFixed, so the field, writes a number as "1e+21": so do we.
_PLAIN_UP_TO = 1e21


def first_value(key: str, default: T) -> T | None:
    """The value to create the widget ``key`` with: ``default``, unless session state holds
    its value already (its own, or a chat's setting put back by ``ui.chats``), which the
    widget shows anyway. Given both, Streamlit logs a warning for the widget (the
    "created with a default value but also had its value set via the Session State API"
    one); keyed widgets keep their identity whatever value they are given."""
    return None if key in st.session_state else default


def clamp(value: int, low: int, high: int) -> int:
    return min(high, max(low, value))


def _nearest_whole(value: float) -> int:
    # Half away from zero, as the field's "%.0f" (JavaScript's toFixed) shows it: 2.5 is "3".
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def whole_in_range(value: float | None, low: int, high: int, default: int) -> int:
    """The whole number in ``[low, high]`` nearest to what a field holds (``default`` when
    it holds nothing, or no finite number)."""
    if value is None or not math.isfinite(value):
        return clamp(default, low, high)
    return clamp(_nearest_whole(value), low, high)


def _shown(value: float) -> str:
    if abs(value) >= _PLAIN_UP_TO:
        return f"{value:g}"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.15g}"


def bounded_int(
    box: DeltaGenerator,
    label: str,
    low: int,
    high: int,
    default: int,
    *,
    key: str,
    step: int = 1,
    help: str | None = None,  # noqa: A002 - Streamlit's own name for it
    unit: str = "",
    on_change: Callable[[], None] | None = None,
) -> int:
    """A field for a whole number; out of range, the nearest bound is used, and a fraction
    is rounded: either is said under the field."""
    typed = box.number_input(label, value=first_value(key, float(default)), step=float(step),
                             format="%.0f", key=key, help=help, on_change=on_change)
    used = whole_in_range(typed, low, high, default)
    if typed is None or not math.isfinite(typed):
        return used
    if not low <= _nearest_whole(typed) <= high:
        box.warning(
            f"{label}: {_shown(typed)} is out of range ({low:,} to {high:,}{unit}); "
            f"using {used:,}.", icon="↔️")
    elif used != typed:
        box.warning(f"{label}: {_shown(typed)} is not a whole number; using {used:,}.",
                    icon="↔️")
    return used
