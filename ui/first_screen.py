"""What an empty chat shows: what Chat Lab is, which model will answer, and three prompts
to try, each a button that sends it (for the person who has never seen the app)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from chatlib.chat.answers import AnswerRequest
from chatlib.core.errors import ProviderError
from ui.plain_text import markdown_literal

__all__ = ["EXAMPLE_PROMPTS", "show_first_screen"]

EXAMPLE_PROMPTS = (
    "What is a token, in two sentences?",
    "Write a haiku about waiting.",
    "Three tips for a clear demo.",
)


def show_first_screen(request: AnswerRequest | ProviderError,
                      send: Callable[[str], None]) -> None:
    """The empty chat's screen; ``send(prompt)`` (a button's callback) asks a prompt."""
    st.markdown(
        "Ask a model and watch its answer stream, timed as it arrives: how long the first "
        "token took and how many tokens a second follow. **Compare** asks several models "
        "the same prompt side by side; **Stats** keeps the figures of every answer.")
    if isinstance(request, ProviderError):
        st.info(f"Choose a model in the sidebar first: {request.user_message}", icon="🔑")
    else:
        provider = request.provider
        terms = "no key needed" if not provider.needs_key else "with your key"
        if not provider.paid:
            terms += ", free"
        st.markdown(f"**Answering:** {markdown_literal(provider.label)} · "
                    f"{markdown_literal(request.settings.model)} ({terms}). Change it in the "
                    "sidebar.")
    st.caption("Try one:")
    for column, prompt in zip(st.columns(len(EXAMPLE_PROMPTS)), EXAMPLE_PROMPTS):
        column.button(prompt, on_click=send, args=(prompt,), width="stretch",
                      disabled=isinstance(request, ProviderError))
