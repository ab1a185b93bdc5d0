"""The chat page's settings in the sidebar: provider and model, temperature and max output
tokens in view; the rest (system prompt, token budget, the provider's engineering settings,
the paid-request limit when a paid provider is chosen) folded under "Advanced"."""

from __future__ import annotations

from streamlit.delta_generator import DeltaGenerator

from chatlib.chat.answers import AnswerRequest
from chatlib.core.errors import ProviderError, RateLimitError
from chatlib.core.types import Settings
from ui.inputs import bounded_int, first_value
from ui.limits import rate_limit_input
from ui.providers import pick_provider
from ui.resources import run_store

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and clearly."
EMPTY_PROMPT = "Nothing to send: the prompt is empty or only spaces. Type a question."


def settings_sidebar(box: DeltaGenerator,
                     advanced: DeltaGenerator) -> AnswerRequest | ProviderError:
    """Draw the settings, the essentials in ``box`` and the rest in ``advanced``; return
    what to send, or the error that prevents sending."""
    general = advanced.container()  # above the provider's own settings
    pick = pick_provider(box, key="", advanced=advanced)
    # A chat opened from the list puts its settings in session state (ui.chats): these
    # widgets then start from them, not from a default as well.
    temperature = box.slider("Temperature", 0.0, 2.0, first_value("temperature", 0.7), 0.05,
                             key="temperature")
    max_tokens = bounded_int(box, "Max output tokens", 1, 32_000, 256, step=64,
                             key="max_tokens")
    system_prompt = general.text_area(
        "System prompt", first_value("system_prompt", DEFAULT_SYSTEM_PROMPT),
        key="system_prompt")
    budget = bounded_int(
        general, "Token budget for the context sent", 64, 1_000_000, 2048, step=256,
        key="budget",
        help="The system prompt and the newest messages that fit are sent; older ones are "
        "left out.",
    )
    # Only a paid provider is limited: an offline model shows no such setting. A request
    # refused by the limit keeps the field in view, to raise it.
    if isinstance(pick, RateLimitError) or (
            not isinstance(pick, ProviderError) and pick.provider.paid):
        rate_limit_input(advanced)
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
