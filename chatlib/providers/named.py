"""Providers named by a short string, as the HTTP API and the evaluation CLI take them:
``local`` (the embedded model), ``scripted`` (the offline demo, plus ``$CHATLAB_SCRIPTS``),
a preset id (``openai``, ``anthropic``, ``ollama``, ...) or the id of any other registered
kind's providers (``chatlib.providers.kinds``: each kind resolves its own names).

A preset is reached at its configured base URL with its configured key (secrets are not
read here: the environment only), so a caller naming a provider cannot point a key at
another server.
"""

from __future__ import annotations

from chatlib.core.errors import ConfigError
from chatlib.core.tokens import TokenCounter
from chatlib.providers.base import Provider
from chatlib.providers.kinds import kind_of, provider_kinds

__all__ = ["provider_names", "resolve_provider"]


def provider_names() -> list[str]:
    """Every name ``resolve_provider`` accepts, in the kinds' order."""
    return [name for kind in provider_kinds() if kind.resolve is not None
            for name in kind.provider_ids]


def resolve_provider(name: str, model: str | None) -> tuple[Provider, str, TokenCounter]:
    """The provider ``name`` names, the model to ask it for (``model``, else its default)
    and the counter for that model. Raises ``ConfigError`` (a ``ProviderError``: its
    ``user_message`` says what is wrong) for an unknown provider or model, a missing key or
    model file; nothing has been sent by then. ``ValueError`` / ``OSError`` come through
    from a malformed or missing ``$CHATLAB_SCRIPTS`` file."""
    kind = kind_of(name)
    if kind is None or kind.resolve is None:
        raise ConfigError(f"Unknown provider {name!r}: one of {', '.join(provider_names())}.")
    return kind.resolve(name, model)
