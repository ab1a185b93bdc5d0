"""The chat page's sidebar: provider and model, system prompt, budget and sampling."""

from __future__ import annotations

import streamlit as st

from chatlib.chat.answers import AnswerRequest
from chatlib.core.errors import ProviderError
from chatlib.core.types import Settings
from ui.inputs import bounded_int
from ui.limits import rate_limit_input
from ui.providers import pick_provider
from ui.resources import run_store

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and clearly."
EMPTY_PROMPT = "Nothing to send: the prompt is empty or only spaces. Type a question."


def settings_sidebar() -> AnswerRequest | ProviderError:
    """Draw the settings; return what to send, or the error that prevents sending."""
    sb = st.sidebar
    pick = pick_provider(sb, key="")
    system_prompt = sb.text_area("System prompt", DEFAULT_SYSTEM_PROMPT, key="system_prompt")
    budget = bounded_int(
        sb, "Token budget for the context sent", 64, 1_000_000, 2048, step=256, key="budget",
        help="The system prompt and the newest messages that fit are sent; older ones are "
        "left out.",
    )
    max_tokens = bounded_int(sb, "Max output tokens", 1, 32_000, 256, step=64, key="max_tokens")
    temperature = sb.slider("Temperature", 0.0, 2.0, 0.7, 0.05, key="temperature")
    rate_limit_input(sb)
    if isinstance(pick, ProviderError):
        return pick
    settings = Settings(
        model=pick.model,
        temperature=float(temperature),
        max_tokens=int(max_tokens),
        system_prompt=system_prompt,
        extra=pick.extra,
    )
    return AnswerRequest(pick.provider, settings, pick.counter, int(budget),
                         on_done=run_store().add)
