"""Sidebar widgets for the cloud and server providers (OpenAI, OpenAI-compatible servers,
Anthropic): server preset, base URL, API key, model. Used by ``ui.providers.pick_provider``
for the chat sidebar and each compare target.

Keys typed here live in this session's ``st.session_state`` only, bound to the preset and the
exact base URL they were typed for (shared by both pages, so a key typed once serves every
target at that URL and no other server); they are never stored, exported, logged or shown.
The key field is emptied as soon as a key is taken, so the key is never sent back to the
browser (neither as the field's value nor as its default); it says that a key is set. SDK
clients are kept per session and per configuration, so a connection is reused between
requests (a new TLS handshake would add its time to every TTFT).
"""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chatlib.core.errors import ConfigError, ProviderError, RateLimitError
from chatlib.providers.base import Provider
from chatlib.providers.base_url import base_url_problem
from chatlib.providers.catalog import (
    OPENAI_COMPATIBLE,
    PRESETS,
    Preset,
    build_provider,
    counter_for_model,
    default_base_url,
    is_local_url,
    key_problem,
    normalize_url,
    resolve_key,
)
from chatlib.providers.ratelimit import RateLimitedProvider
from chatlib.core.tokens import TokenCounter
from ui.inputs import bounded_int
from ui.limits import session_limiter

_TYPED_KEYS = "_chatlab_typed_keys"  # (preset id, base URL) -> key typed in this session
_KEY_PROBLEMS = "_chatlab_key_problems"  # (preset id, base URL) -> why a typed key was refused
_CLIENTS = "_chatlab_clients"  # widget prefix -> (config fingerprint, provider)
_SERVER_MODELS = "_chatlab_server_models"  # config fingerprint -> list or error text


def secrets_dict() -> dict[str, Any]:
    """``st.secrets`` as a plain dict; empty when there is no secrets.toml."""
    try:
        return st.secrets.to_dict()
    except Exception:  # StreamlitSecretNotFoundError, or a file that does not parse
        return {}


def _fingerprint(*parts: object) -> str:
    # The key is part of the configuration but must not sit in session state as a dict
    # key in clear, so configurations are told apart by a hash.
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _take_typed_key(widget: str, preset_id: str, base_url: str) -> None:
    """The key field's on_change: keep the key server-side, bound to the preset and the base
    URL the field was drawn for, and empty the field so the key is not sent back."""
    typed = str(st.session_state.get(widget) or "").strip()
    st.session_state[widget] = ""
    if not typed:
        return
    slot = (preset_id, normalize_url(base_url))
    problems: dict[tuple[str, str], str] = st.session_state.setdefault(_KEY_PROBLEMS, {})
    problem = key_problem(typed)
    if problem:
        problems[slot] = problem
        return
    problems.pop(slot, None)
    st.session_state.setdefault(_TYPED_KEYS, {})[slot] = typed


def _forget_typed_key(preset_id: str, base_url: str) -> None:
    st.session_state.get(_TYPED_KEYS, {}).pop((preset_id, base_url), None)


def pick_cloud(
    box: DeltaGenerator, key: str, kind: str, advanced: DeltaGenerator | None = None
) -> tuple[Provider, str, TokenCounter] | ProviderError:
    """Draw the widgets for ``kind`` (the read timeout in ``advanced``, else in ``box``) and
    return (provider, model, counter) or what is wrong."""
    if kind == "openai-compatible":
        preset_id = box.selectbox(
            "Server", OPENAI_COMPATIBLE, format_func=lambda p: PRESETS[p].label,
            key=f"{key}server",
        )
        preset = PRESETS[preset_id]
    else:
        preset = PRESETS[kind]
    secrets = secrets_dict()
    base_url = box.text_input(
        "Base URL", default_base_url(preset, secrets), key=f"{key}base_url_{preset.id}",
        placeholder="http://host:port/v1", help="Where the API is served; the preset's address "
        "or your own (a gateway, another host or port).",
    ).strip()
    # Said under the field as soon as it is typed (build_provider refuses it too, so nothing
    # is sent); an empty field is still being filled in, its placeholder shows the form.
    url_problem = base_url_problem(base_url) if base_url else None
    if url_problem:
        box.error(url_problem, icon="⚠️")
    typed = _key_field(box, key, preset, base_url)
    choice = resolve_key(preset, base_url, typed, secrets)
    if preset.needs_key or choice.value or choice.withheld:
        box.caption(choice.describe())
    # In the page's own place for engineering settings (the chat sidebar's Advanced); never
    # an expander of its own: the compare page draws this inside one, and they cannot nest.
    read_timeout = float(bounded_int(
        box if advanced is None else advanced, "Read timeout (s)", 1, 600, 120,
        key=f"{key}read_timeout", unit=" s",
        help="How long to wait for the next bytes (the first token included) before giving "
        "up. Failures before the first token are retried up to 3 times.",
    ))
    try:
        fingerprint, provider = _provider(key, preset, base_url, choice, read_timeout)
    except ProviderError as exc:
        _model_field(box, key, preset, list(preset.default_models))  # still choosable
        return exc
    options = _model_options(box, key, fingerprint, provider, preset)
    model = _model_field(box, key, preset, options)
    if not model:
        return ConfigError("Choose a model in the sidebar, or type its id under it.")
    counter = counter_for_model(preset, model)
    if provider.paid:
        limiter = session_limiter()
        wait = limiter.wait_s()
        if wait > 0:  # said before sending, so a refused request is never a stored run
            return RateLimitError(limiter.message(wait))
        provider = RateLimitedProvider(provider, limiter)
    return provider, model, counter


def restored_model(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The model field (a free-text id: always valid) that shows the model of a chat kept
    with ``settings`` again, for the chat sidebar (no key prefix)."""
    preset = settings.get("server", kind) if kind == "openai-compatible" else kind
    if kind == "openai-compatible" and preset not in OPENAI_COMPATIBLE:
        return {}
    return {f"model_id_{preset}": settings["model"]}


def _key_field(box: DeltaGenerator, key: str, preset: Preset, base_url: str) -> str | None:
    """The key field (always empty) and the key typed for this preset at this base URL."""
    widget = f"{key}api_key_{preset.id}"
    slot = (preset.id, normalize_url(base_url))
    held: str | None = st.session_state.get(_TYPED_KEYS, {}).get(slot)
    names = " / ".join(preset.key_names) or "none needed for a local server"
    label = "API key" if preset.id == "openai-compatible" else f"{preset.label} API key"
    box.text_input(
        label + ("" if preset.needs_key else " (optional)"), "", type="password", key=widget,
        placeholder="Key set for this URL: type to replace" if held else "Paste a key",
        on_change=_take_typed_key, args=(widget, preset.id, base_url),
        help=f"Environment variable: {names}. Or .streamlit/secrets.toml. A key typed here "
        "is kept on the server for this browser session only, and sent only to this base "
        "URL: never stored, exported, logged or shown again.",
    )
    problem = st.session_state.get(_KEY_PROBLEMS, {}).get(slot)
    if problem:
        box.warning(problem, icon="🔑")
    if held:
        box.button("Forget the typed key", key=f"{key}forget_key_{preset.id}", icon="🗑️",
                   on_click=_forget_typed_key, args=slot, use_container_width=True)
    return held


def _provider(
    key: str, preset: Preset, base_url: str, choice: Any, read_timeout: float
) -> tuple[str, Any]:
    """The session's provider for this configuration, built once and reused."""
    fingerprint = _fingerprint(preset.id, base_url, choice.value, read_timeout)
    clients: dict[str, tuple[str, Any]] = st.session_state.setdefault(_CLIENTS, {})
    held = clients.get(key)
    if held is not None and held[0] == fingerprint:
        return held
    provider = build_provider(preset, base_url=base_url, key=choice,
                              read_timeout_s=read_timeout)
    if held is not None:
        held[1].close()  # the old configuration's pool; it cannot be streaming: we rerun
    clients[key] = (fingerprint, provider)
    return fingerprint, provider


def _model_options(
    box: DeltaGenerator, key: str, fingerprint: str, provider: Any, preset: Preset
) -> list[str]:
    """The preset's defaults plus the server's own list. A local server is asked at once
    (cheap); a remote one when the user asks, so a page load never waits on the internet."""
    cache: dict[str, Any] = st.session_state.setdefault(_SERVER_MODELS, {})
    refresh = box.button("List the server's models", key=f"{key}list_models",
                         icon="🔄", use_container_width=True)
    if refresh or (fingerprint not in cache and is_local_url(provider.base_url)):
        try:
            cache[fingerprint] = provider.list_server_models()
        except ProviderError as exc:
            cache[fingerprint] = exc.user_message
    listed = cache.get(fingerprint)
    if isinstance(listed, str):
        box.caption(f"Could not list the server's models: {listed}")
        listed = []
    options = list(listed or [])
    options += [m for m in preset.default_models if m not in options]
    return options


def _model_field(box: DeltaGenerator, key: str, preset: Preset, options: list[str]) -> str:
    widget = f"{key}model_{preset.id}"
    if options and st.session_state.get(widget) not in options:
        # The list changed (the server answered, the URL changed): the widget keeps its old
        # value by key, so point it at the first model again.
        st.session_state[widget] = options[0]
    chosen = box.selectbox("Model", options, key=widget, placeholder="Type a model id below")
    typed = box.text_input(
        "Other model id", key=f"{key}model_id_{preset.id}", placeholder="any id the server knows",
        help="Overrides the list above.",
    ).strip()
    return typed or (chosen or "")
