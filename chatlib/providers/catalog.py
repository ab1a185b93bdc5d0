"""The cloud and server providers the app offers: presets (base URL, default models, where
the key comes from), key and base-URL resolution, and building a provider from a choice.

Keys come from, first match wins: what the user typed in the sidebar (this session only),
``st.secrets`` (passed in as a plain dict: ``OPENAI_API_KEY = "..."`` at the top level or
``[openai] api_key = "..."``), then the environment. A key is only ever attached to the
preset it belongs to: ``OPENAI_API_KEY`` never goes to a local or custom server, where the
SDK would otherwise pick it up from the environment on its own.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlparse

from chatlib.errors import ConfigError
from chatlib.providers.anthropic_provider import (
    ANTHROPIC_DEFAULT_BASE_URL,
    ANTHROPIC_DEFAULT_MODELS,
    AnthropicProvider,
)
from chatlib.providers.http_stream import RetryPolicy
from chatlib.providers.openai_provider import OPENAI_DEFAULT_MODELS, OpenAIProvider
from chatlib.tokens import TokenCounter, counter_for

__all__ = [
    "Preset",
    "PRESETS",
    "OPENAI_COMPATIBLE",
    "KeyChoice",
    "resolve_key",
    "default_base_url",
    "is_local_url",
    "is_paid",
    "build_provider",
    "counter_for_model",
    "looks_like_openai_model",
]


@dataclass(frozen=True)
class Preset:
    """One way to reach a model API. ``id`` is the provider id runs are stored under."""

    id: str
    label: str
    api: Literal["openai", "anthropic"]
    base_url: str  # "" = the user types it (custom)
    default_models: tuple[str, ...] = ()
    key_names: tuple[str, ...] = ()  # env vars / secrets holding its key
    base_url_name: str | None = None  # env var / secret overriding base_url
    needs_key: bool = False
    paid: bool | None = False  # None: decided by the base URL (custom)
    max_tokens_field: str = "max_tokens"
    secrets_section: str | None = None  # [section] api_key / base_url in secrets.toml


PRESETS: dict[str, Preset] = {
    p.id: p
    for p in (
        Preset("openai", "OpenAI", "openai", "https://api.openai.com/v1", OPENAI_DEFAULT_MODELS,
               ("OPENAI_API_KEY",), "OPENAI_BASE_URL", needs_key=True, paid=True,
               max_tokens_field="max_completion_tokens", secrets_section="openai"),
        Preset("ollama", "Ollama", "openai", "http://localhost:11434/v1",
               ("llama3.2", "qwen3", "gemma3")),
        Preset("vllm", "vLLM", "openai", "http://localhost:8000/v1"),
        Preset("llamacpp", "llama.cpp server", "openai", "http://localhost:8080/v1"),
        Preset("lmstudio", "LM Studio", "openai", "http://localhost:1234/v1"),
        Preset("gemini", "Gemini (OpenAI endpoint)", "openai",
               "https://generativelanguage.googleapis.com/v1beta/openai",
               ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"),
               ("GEMINI_API_KEY", "GOOGLE_API_KEY"), needs_key=True, paid=True,
               secrets_section="gemini"),
        Preset("openai-compatible", "Custom base URL", "openai", "", paid=None,
               secrets_section="openai_compatible"),
        Preset("anthropic", "Anthropic", "anthropic", ANTHROPIC_DEFAULT_BASE_URL,
               ANTHROPIC_DEFAULT_MODELS, ("ANTHROPIC_API_KEY",), "ANTHROPIC_BASE_URL",
               needs_key=True, paid=True, secrets_section="anthropic"),
    )
}
# The presets reached through the OpenAI SDK other than OpenAI itself, in menu order.
OPENAI_COMPATIBLE = ("ollama", "vllm", "llamacpp", "lmstudio", "gemini", "openai-compatible")


@dataclass(frozen=True)
class KeyChoice:
    """A key and where it came from; ``repr`` never shows the key."""

    value: str | None
    source: str | None  # "typed in this session", "secrets: NAME", "environment: NAME"

    def __repr__(self) -> str:
        return f"KeyChoice(value={'set' if self.value else None}, source={self.source!r})"

    def describe(self) -> str:
        """Where the key came from, for the sidebar (never the key itself)."""
        if not self.value:
            return "No key set."
        if self.source == "typed in this session":
            return "Key typed in this session."
        where, _, name = (self.source or "").partition(": ")
        return f"Key from {'secrets.toml' if where == 'secrets' else 'the environment'} ({name})."


def _from_secrets(
    secrets: Mapping[str, Any], preset: Preset, names: tuple[str, ...], field: str
) -> tuple[str, str] | None:
    """(value, where) from top-level ``NAME = ...`` or ``[section] field = ...``."""
    for name in names:
        value = secrets.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip(), f"secrets: {name}"
    section = secrets.get(preset.secrets_section) if preset.secrets_section else None
    if isinstance(section, Mapping):
        value = section.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip(), f"secrets: [{preset.secrets_section}] {field}"
    return None


def resolve_key(
    preset: Preset,
    typed: str | None = None,
    secrets: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> KeyChoice:
    """The key to use for ``preset``: typed, else secrets, else the environment."""
    if typed and typed.strip():
        return KeyChoice(typed.strip(), "typed in this session")
    found = _from_secrets(secrets or {}, preset, preset.key_names, "api_key")
    if found:
        return KeyChoice(*found)
    env = os.environ if env is None else env
    for name in preset.key_names:
        if env.get(name, "").strip():
            return KeyChoice(env[name].strip(), f"environment: {name}")
    return KeyChoice(None, None)


def default_base_url(
    preset: Preset, secrets: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The preset's base URL, unless secrets or the environment override it."""
    env = os.environ if env is None else env
    names = (preset.base_url_name,) if preset.base_url_name else ()
    found = _from_secrets(secrets or {}, preset, names, "base_url")
    if found:
        return found[0]
    for name in names:
        if env.get(name, "").strip():
            return env[name].strip()
    return preset.base_url


def is_local_url(url: str) -> bool:
    """Loopback, private-network and ``.local`` hosts: a server of one's own, not a bill."""
    host = (urlparse(url).hostname or "").lower()
    if host in ("localhost", "host.docker.internal") or host.endswith((".local", ".localhost")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def is_paid(preset: Preset, base_url: str) -> bool:
    return preset.paid if preset.paid is not None else not is_local_url(base_url)


def _check_url(url: str, preset: Preset) -> str:
    url = url.strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        example = preset.base_url or "http://localhost:8000/v1"
        raise ConfigError(
            f"The base URL for {preset.label} must look like {example} (got {url or 'nothing'}).")
    return url


def build_provider(
    preset: Preset,
    *,
    base_url: str,
    key: KeyChoice,
    connect_timeout_s: float = 10.0,
    read_timeout_s: float = 120.0,
    retry: RetryPolicy | None = None,
) -> OpenAIProvider | AnthropicProvider:
    """The provider for a preset, or ``ConfigError`` saying what to fix (before any request)."""
    url = _check_url(base_url, preset)
    if preset.needs_key and not key.value:
        names = " or ".join(preset.key_names)
        raise ConfigError(
            f"No {preset.label} API key. Set {names} in the environment, add it to "
            ".streamlit/secrets.toml, or paste a key in the sidebar (kept for this session only).")
    label = preset.label if preset.id != "openai-compatible" else f"The server at {url}"
    if preset.api == "anthropic":
        return AnthropicProvider(api_key=key.value, base_url=url, label=label,
                                 connect_timeout_s=connect_timeout_s,
                                 read_timeout_s=read_timeout_s, retry=retry)
    return OpenAIProvider(
        api_key=key.value, base_url=url, provider_id=preset.id, label=label,
        default_models=preset.default_models, paid=is_paid(preset, url),
        needs_key=preset.needs_key, max_tokens_field=preset.max_tokens_field,
        connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s, retry=retry,
    )


_OPENAI_MODEL = re.compile(r"^(gpt-|o\d|chatgpt-|text-davinci)", re.IGNORECASE)


def looks_like_openai_model(model: str) -> bool:
    return bool(_OPENAI_MODEL.match(model))


def counter_for_model(preset: Preset, model: str) -> TokenCounter:
    """tiktoken (labelled "tokenizer") for OpenAI's models wherever they are served; a
    labelled estimate for every other model (no local tokenizer for it)."""
    if preset.id == "openai" or looks_like_openai_model(model):
        return counter_for("openai", model)
    return counter_for(preset.id, model)
