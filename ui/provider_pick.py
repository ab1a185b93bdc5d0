"""What a provider picker returns: the provider, the model asked of it, its token counter and
its own settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chatlib.core.tokens import TokenCounter
from chatlib.providers.base import Provider

__all__ = ["ProviderPick"]


@dataclass(frozen=True)
class ProviderPick:
    provider: Provider
    model: str
    counter: TokenCounter
    extra: dict[str, Any]  # provider-specific settings (Settings.extra)
