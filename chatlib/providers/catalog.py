"""The cloud and server providers the app offers: presets (base URL, default models, where
the key comes from), key and base-URL resolution, and building a provider from a choice.

Keys come from, first match wins: what the user typed in the sidebar (this session only),
``st.secrets`` (passed in as a plain dict: ``OPENAI_API_KEY = "..."`` at the top level or
``[openai] api_key = "..."``), then the environment. A key is only ever sent to the server
it was given for: a typed key to the preset *and* the exact base URL it was typed for, a
stored key to its preset's configured base URL. ``OPENAI_API_KEY`` never goes to a local or
custom server, where the SDK would otherwise pick it up from the environment on its own.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlparse

from chatlib.core.errors import ConfigError, MissingKeyError
from chatlib.providers.anthropic_provider import (
    ANTHROPIC_DEFAULT_BASE_URL,
    ANTHROPIC_DEFAULT_MODELS,
    AnthropicProvider,
)
from chatlib.providers.base_url import base_url_problem
from chatlib.providers.http_stream import RetryPolicy
from chatlib.providers.openai_provider import OPENAI_DEFAULT_MODELS, OpenAIProvider
from chatlib.core.tokens import TokenCounter, counter_for

__all__ = [
    "Preset",
    "PRESETS",
    "OPENAI_COMPATIBLE",
    "KeyChoice",
    "resolve_key",
    "key_problem",
    "normalize_url",
    "default_base_url",
    "is_local_url",
    "is_paid",
    "build_provider",
    "max_tokens_field_for",
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
    secrets_section: str | None = None  # [section] api_key / base_url in secrets.toml


PRESETS: dict[str, Preset] = {
    p.id: p
    for p in (
        Preset("openai", "OpenAI", "openai", "https://api.openai.com/v1", OPENAI_DEFAULT_MODELS,
               ("OPENAI_API_KEY",), "OPENAI_BASE_URL", needs_key=True,
               secrets_section="openai"),
        Preset("ollama", "Ollama", "openai", "http://localhost:11434/v1",
               ("llama3.2", "qwen3", "gemma3")),
        Preset("vllm", "vLLM", "openai", "http://localhost:8000/v1"),
        Preset("llamacpp", "llama.cpp server", "openai", "http://localhost:8080/v1"),
        Preset("lmstudio", "LM Studio", "openai", "http://localhost:1234/v1"),
        Preset("gemini", "Gemini (OpenAI endpoint)", "openai",
               "https://generativelanguage.googleapis.com/v1beta/openai",
               ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"),
               ("GEMINI_API_KEY", "GOOGLE_API_KEY"), needs_key=True,
               secrets_section="gemini"),
        Preset("openai-compatible", "Custom base URL", "openai", "",
               secrets_section="openai_compatible"),
        Preset("anthropic", "Anthropic", "anthropic", ANTHROPIC_DEFAULT_BASE_URL,
               ANTHROPIC_DEFAULT_MODELS, ("ANTHROPIC_API_KEY",), "ANTHROPIC_BASE_URL",
               needs_key=True, secrets_section="anthropic"),
    )
}
# The presets reached through the OpenAI SDK other than OpenAI itself, in menu order.
OPENAI_COMPATIBLE = ("ollama", "vllm", "llamacpp", "lmstudio", "gemini", "openai-compatible")


def normalize_url(url: str) -> str:
    """The form a base URL is compared and stored in (keys are bound to it)."""
    return url.strip().rstrip("/")


@dataclass(frozen=True)
class KeyChoice:
    """A key and where it came from; ``repr`` never shows the key. ``withheld`` names a
    stored key that exists but is not sent here, because it belongs to another base URL."""

    value: str | None
    source: str | None  # "typed in this session", "secrets: NAME", "environment: NAME"
    withheld: str | None = None  # "the environment (OPENAI_API_KEY), for https://…"

    def __repr__(self) -> str:
        return (f"KeyChoice(value={'set' if self.value else None}, source={self.source!r}, "
                f"withheld={self.withheld!r})")

    def describe(self) -> str:
        """Where the key came from, for the sidebar (never the key itself)."""
        if not self.value:
            if self.withheld:
                return (f"No key for this base URL: the key in {self.withheld} only. Type a "
                        "key here to use one with this URL.")
            return "No key set."
        if self.source == "typed in this session":
            return "Key typed in this session for this base URL."
        return f"Key from {_where(self.source)}."


def _where(source: str | None) -> str:
    where, _, name = (source or "").partition(": ")
    return f"{'secrets.toml' if where == 'secrets' else 'the environment'} ({name})"


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
    base_url: str,
    typed: str | None = None,
    secrets: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> KeyChoice:
    """The key to send to ``base_url`` for ``preset``.

    ``typed`` is the key the user typed for this preset at exactly this base URL (the UI
    keeps typed keys bound to both). A key from secrets or the environment is sent only to
    the base URL configured with it (``default_base_url``): pointing the preset elsewhere
    in the sidebar must not hand that server the key."""
    if typed and typed.strip():
        return KeyChoice(typed.strip(), "typed in this session")
    env = os.environ if env is None else env
    found = _from_secrets(secrets or {}, preset, preset.key_names, "api_key")
    if not found:
        found = next(((env[n].strip(), f"environment: {n}") for n in preset.key_names
                      if env.get(n, "").strip()), None)
    if not found:
        return KeyChoice(None, None)
    home = normalize_url(default_base_url(preset, secrets, env))
    if normalize_url(base_url) != home:
        return KeyChoice(None, None, withheld=f"{_where(found[1])} is for {home}")
    return KeyChoice(*found)


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an API key, or ``None``. Keys are plain printable ASCII (an
    HTTP header could not carry anything else); the key itself is never quoted."""
    for position, char in enumerate(key, 1):
        if not (char.isascii() and char.isprintable()) or char.isspace():
            kind = "a space" if char.isspace() else "a character that is not plain ASCII"
            return (f"API keys are plain ASCII letters, digits and punctuation; this one has "
                    f"{kind} at position {position}. Paste the key again.")
    return None


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


def _host(url: str) -> str:
    """The URL's host, lower-case; "" for a URL that does not parse (``http://[::1``)."""
    try:
        return (urlparse(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def is_local_url(url: str) -> bool:
    """Loopback, private-network and ``.local`` hosts: a server of one's own, not a bill."""
    host = _host(url)
    if host in ("localhost", "host.docker.internal") or host.endswith((".local", ".localhost")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def is_paid(base_url: str) -> bool:
    """A request that may cost money: any server but one on this machine or network, whatever
    the preset (OpenAI's preset pointed at a local llama.cpp server is free)."""
    return not is_local_url(base_url)


def _check_url(url: str, preset: Preset) -> str:
    url = normalize_url(url)
    problem = base_url_problem(url)
    if problem:
        example = preset.base_url or "http://localhost:8000/v1"
        shown = url if len(url) <= 80 else url[:79] + "…"  # a 2,000-character URL is noise
        raise ConfigError(f"The base URL for {preset.label} must look like {example} "
                          f"(got {shown or 'nothing'}). {problem}")
    return url


def max_tokens_field_for(base_url: str) -> str:
    """The request field that caps the answer's length at ``base_url``, whatever the preset.

    OpenAI's own API (``api.openai.com``, or a regional ``*.api.openai.com``) gets
    ``max_completion_tokens``: its reasoning models refuse ``max_tokens``. Every other server
    gets ``max_tokens``, even under the OpenAI preset with a custom base URL: compatible servers
    know that name, and some silently ignore the newer one (llama-cpp-python's server does, so
    the cap would not apply at all)."""
    host = _host(base_url)
    if host == "api.openai.com" or host.endswith(".api.openai.com"):
        return "max_completion_tokens"
    return "max_tokens"


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
        raise MissingKeyError(
            f"No {preset.label} API key. Set {names} in the environment, add it to "
            ".streamlit/secrets.toml, or paste a key in the sidebar (kept for this session only)."
            + (f" (The key in {key.withheld}.)" if key.withheld else ""),
            provider_label=preset.label, key_names=preset.key_names)
    problem = key_problem(key.value) if key.value else None
    if problem:
        where = "typed" if key.source == "typed in this session" else f"in {_where(key.source)}"
        raise ConfigError(f"The {preset.label} API key {where} cannot be used. {problem}")
    label = preset.label if preset.id != "openai-compatible" else f"The server at {url}"
    if preset.api == "anthropic":
        return AnthropicProvider(api_key=key.value, base_url=url, label=label, paid=is_paid(url),
                                 connect_timeout_s=connect_timeout_s,
                                 read_timeout_s=read_timeout_s, retry=retry)
    return OpenAIProvider(
        api_key=key.value, base_url=url, provider_id=preset.id, label=label,
        default_models=preset.default_models, paid=is_paid(url),
        needs_key=preset.needs_key, max_tokens_field=max_tokens_field_for(url),
        connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s, retry=retry,
    )


# OpenAI's model ids, a fine-tune of one ("ft:gpt-4o-mini:org::id") included.
_OPENAI_MODEL = re.compile(r"^(ft:)?(gpt-|o\d|chatgpt-|text-davinci)", re.IGNORECASE)


def looks_like_openai_model(model: str) -> bool:
    return bool(_OPENAI_MODEL.match(model))


def counter_for_model(preset: Preset, model: str) -> TokenCounter:
    """tiktoken (labelled "tokenizer") for OpenAI's models wherever they are served; a
    labelled estimate for every other model, even under the OpenAI preset (a SmolLM2 behind
    a llama.cpp server is not counted by OpenAI's tokenizer)."""
    if looks_like_openai_model(model):
        return counter_for("openai", model)
    return counter_for(preset.id if preset.id != "openai" else "openai-other", model)
