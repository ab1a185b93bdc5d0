"""Providers named by a short string, as the HTTP API and the evaluation CLI take them:
``local`` (the embedded model), ``scripted`` (the offline demo, plus ``$CHATLAB_SCRIPTS``)
or a preset id (``openai``, ``anthropic``, ``ollama``, ...).

A preset is reached at its configured base URL with its configured key (secrets are not
read here: the environment only), so a caller naming a provider cannot point a key at
another server.
"""

from __future__ import annotations

from chatlib.errors import ConfigError
from chatlib.providers.base import Provider
from chatlib.providers.catalog import (
    PRESETS,
    build_provider,
    counter_for_model,
    default_base_url,
    resolve_key,
)
from chatlib.providers.local import default_gguf_path, shared_local_provider
from chatlib.providers.scripted import ScriptedProvider
from chatlib.tokens import TokenCounter, counter_for

__all__ = ["provider_names", "resolve_provider"]


def provider_names() -> list[str]:
    """Every name ``resolve_provider`` accepts."""
    return ["local", "scripted", *PRESETS]


def resolve_provider(name: str, model: str | None) -> tuple[Provider, str, TokenCounter]:
    """The provider ``name`` names, the model to ask it for (``model``, else its default)
    and the counter for that model. Raises ``ConfigError`` (a ``ProviderError``: its
    ``user_message`` says what is wrong) for an unknown provider or model, a missing key or
    model file; nothing has been sent by then. ``ValueError`` / ``OSError`` come through
    from a malformed or missing ``$CHATLAB_SCRIPTS`` file."""
    if name == "local":
        path = default_gguf_path()
        local = shared_local_provider(str(path or ""))
        if model not in (None, local.model_name):
            raise ConfigError(f"Unknown model {model!r} for provider 'local' "
                              f"(it has {local.model_name!r}).")
        return local, local.model_name, local.counter
    if name == "scripted":
        scripted = ScriptedProvider()
        chosen = model or scripted.models()[0]
        if chosen not in scripted.models():
            raise ConfigError(f"Unknown model {chosen!r} for provider 'scripted'.")
        return scripted, chosen, counter_for("scripted", chosen)
    preset = PRESETS.get(name)
    if preset is None:
        raise ConfigError(f"Unknown provider {name!r}: one of {', '.join(provider_names())}.")
    base_url = default_base_url(preset)
    provider = build_provider(preset, base_url=base_url, key=resolve_key(preset, base_url))
    chosen = model or (preset.default_models[0] if preset.default_models else "")
    if not chosen:
        raise ConfigError(f"Provider {name!r} needs a model.")
    return provider, chosen, counter_for_model(preset, chosen)
