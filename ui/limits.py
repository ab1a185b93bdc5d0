"""The session's limit on requests to paid providers: the sidebar setting and the limiter.

The setting is copied into a plain session key when changed, so it holds on pages that do
not draw the widget (Streamlit drops the state of widgets a page does not draw)."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chatlib.providers.ratelimit import DEFAULT_PAID_PER_MINUTE, RateLimiter
from ui.inputs import bounded_int, whole_in_range

_LIMITER = "_chatlab_rate_limiter"
SETTING_KEY = "_chatlab_paid_per_minute"
WIDGET_KEY = "paid_rpm"


def session_limiter() -> RateLimiter:
    """This session's limiter, at the per-minute limit the user set."""
    limiter = st.session_state.get(_LIMITER)
    if limiter is None:
        limiter = st.session_state[_LIMITER] = RateLimiter()
    limiter.per_minute = int(st.session_state.get(SETTING_KEY, DEFAULT_PAID_PER_MINUTE))
    return limiter


_LOW, _HIGH = 0, 1000


def _remember() -> None:
    # The value the field's warning says is used (a float field: 2.5 is 3, 1e9 is the top).
    st.session_state[SETTING_KEY] = whole_in_range(st.session_state[WIDGET_KEY], _LOW, _HIGH, 0)


def rate_limit_input(box: DeltaGenerator) -> None:
    bounded_int(
        box, "Paid requests per minute (0 = no limit)", _LOW, _HIGH,
        int(st.session_state.get(SETTING_KEY, DEFAULT_PAID_PER_MINUTE)), key=WIDGET_KEY,
        on_change=_remember,
        help="A limit per browser session on requests to paid APIs (OpenAI, Anthropic, Gemini, "
        "remote servers), so a demo cannot run up a bill. Servers on this machine or a "
        "private network are never limited.",
    )
