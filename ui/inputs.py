"""Number fields that say which value is used.

``st.number_input`` with ``min_value``/``max_value`` turns a value typed out of range red in
the browser and never sends it: the app goes on with the previous value and nobody is told.
These fields have no bounds in the browser; the value is clamped here, and a warning under
the field names the range and the value actually used.
"""

from __future__ import annotations

from collections.abc import Callable

from streamlit.delta_generator import DeltaGenerator

__all__ = ["bounded_int", "clamp"]


def clamp(value: int, low: int, high: int) -> int:
    return min(high, max(low, value))


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
    """An integer field; out of range, the nearest bound is used and said."""
    typed = box.number_input(label, value=default, step=step, key=key, help=help,
                             on_change=on_change)
    value = int(typed) if typed is not None else default
    used = clamp(value, low, high)
    if used != value:
        box.warning(
            f"{label}: {value:,} is out of range ({low:,} to {high:,}{unit}); "
            f"using {used:,}.", icon="↔️")
    return used
