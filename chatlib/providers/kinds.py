"""The kinds of provider the app offers, registered in one place (as simonw/llm's
``register_models`` does): the sidebar's order and labels, how a name given to the HTTP API
or the CLI is resolved, which token counter a stored run's model gets, and what a kind's
providers need of the machine.

A kind is registered once (``register_kind``); the built-in kinds are registered at the end
of this module, in the sidebar's order. Adding a kind is one module with its provider and a
``register_kind`` call, plus its sidebar widgets (``ui.providers.register_widgets``, keyed by
the same id: chatlib never imports streamlit). A kind registered without ``resolve`` is
offered in the sidebar only (a replay needs a recorded run to be picked).

Who reads the registry: ``chatlib.providers.named`` (the API and the CLI resolve names),
``chatlib.compare.comparison`` (targets whose kind ``shares_cpu`` run one after another),
``ui.providers`` (the sidebar's select) and ``ui.replay_picker`` (``counter_for_run``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from chatlib.core.errors import ConfigError
from chatlib.core.tokens import TokenCounter, counter_for
from chatlib.providers.base import Provider
from chatlib.providers.catalog import (
    OPENAI_COMPATIBLE,
    PRESETS,
    build_provider,
    counter_for_model,
    default_base_url,
    resolve_key,
)
from chatlib.providers.local import default_gguf_path, shared_local_provider
from chatlib.providers.scripted import ScriptedProvider

__all__ = [
    "ProviderKind",
    "Resolver",
    "register_kind",
    "unregister_kind",
    "provider_kinds",
    "get_kind",
    "kind_of",
    "counter_for_run",
]

# (name, model or None) -> the provider, the model to ask it for, its counter.
Resolver = Callable[[str, str | None], tuple[Provider, str, TokenCounter]]


@dataclass(frozen=True)
class ProviderKind:
    """One kind of provider.

    ``id`` is the sidebar's value (a chat keeps it as its ``provider`` setting) and
    ``label`` its text there. ``provider_ids`` are the ids its providers are stored under
    (``Provider.id``; just ``id`` when not given): with ``resolve``, the names the API and
    the CLI accept for it. ``resolve(name, model)`` builds the provider for one of those
    names, the model asked (``None``: its default) and that model's counter, or raises
    ``ConfigError`` saying what is wrong, before anything is sent. ``counter(provider_id,
    model)`` counts a stored run's model without building a provider (a replay counts with
    it). ``shares_cpu``: its providers compute on this machine's cores, so a comparison runs
    them one after another (``chatlib.compare.comparison``)."""

    id: str
    label: str
    provider_ids: tuple[str, ...] = ()
    resolve: Resolver | None = None
    counter: Callable[[str, str], TokenCounter] = counter_for
    shares_cpu: bool = False

    def __post_init__(self) -> None:
        if not self.provider_ids:
            object.__setattr__(self, "provider_ids", (self.id,))


# Replaced whole on every change, so a reader (any thread) iterates a snapshot.
_KINDS: dict[str, ProviderKind] = {}
_lock = threading.Lock()


def register_kind(kind: ProviderKind) -> None:
    """Offer ``kind`` after the kinds registered so far. ``ValueError`` when its id or one
    of its provider ids is taken already."""
    global _KINDS
    with _lock:
        taken = {pid for known in _KINDS.values() for pid in (known.id, *known.provider_ids)}
        clash = sorted({kind.id, *kind.provider_ids} & taken)
        if clash:
            raise ValueError(f"provider kind {kind.id!r}: {', '.join(clash)} registered already")
        _KINDS = {**_KINDS, kind.id: kind}


def unregister_kind(kind_id: str) -> ProviderKind:
    """Stop offering the kind ``kind_id`` and return it; ``KeyError`` when it is not
    registered."""
    global _KINDS
    with _lock:
        kinds = dict(_KINDS)
        kind = kinds.pop(kind_id)
        _KINDS = kinds
    return kind


def provider_kinds() -> list[ProviderKind]:
    """Every registered kind, in the order registered (the sidebar's order)."""
    return list(_KINDS.values())


def get_kind(kind_id: str) -> ProviderKind:
    """The kind registered as ``kind_id``; ``KeyError`` when there is none."""
    return _KINDS[kind_id]


def kind_of(provider_id: str) -> ProviderKind | None:
    """The kind whose providers have the id ``provider_id`` (``Provider.id``), if any."""
    return next((k for k in _KINDS.values() if provider_id in k.provider_ids), None)


def counter_for_run(provider_id: str, model: str) -> TokenCounter:
    """The counter for a run stored under ``provider_id`` and ``model``: its kind's, or a
    labelled estimate for a provider no kind has any more."""
    kind = kind_of(provider_id)
    return (kind.counter if kind is not None else counter_for)(provider_id, model)


# -- the built-in kinds -----------------------------------------------------------------


def _resolve_local(name: str, model: str | None) -> tuple[Provider, str, TokenCounter]:
    path = default_gguf_path()
    local = shared_local_provider(str(path or ""))
    if model not in (None, local.model_name):
        raise ConfigError(f"Unknown model {model!r} for provider 'local' "
                          f"(it has {local.model_name!r}).")
    return local, local.model_name, local.counter


def _resolve_scripted(name: str, model: str | None) -> tuple[Provider, str, TokenCounter]:
    scripted = ScriptedProvider()
    chosen = model or scripted.models()[0]
    if chosen not in scripted.models():
        raise ConfigError(f"Unknown model {chosen!r} for provider 'scripted'.")
    return scripted, chosen, counter_for("scripted", chosen)


def _resolve_preset(name: str, model: str | None) -> tuple[Provider, str, TokenCounter]:
    """A preset is reached at its configured base URL with its configured key (secrets are
    not read here: the environment only), so a caller naming it cannot point a key at
    another server."""
    preset = PRESETS[name]
    base_url = default_base_url(preset)
    provider = build_provider(preset, base_url=base_url, key=resolve_key(preset, base_url))
    chosen = model or (preset.default_models[0] if preset.default_models else "")
    if not chosen:
        raise ConfigError(f"Provider {name!r} needs a model.")
    return provider, chosen, counter_for_model(preset, chosen)


def _preset_counter(provider_id: str, model: str) -> TokenCounter:
    return counter_for_model(PRESETS[provider_id], model)


for _kind in (
    ProviderKind("local", "Embedded model (offline)", resolve=_resolve_local, shares_cpu=True),
    ProviderKind("scripted", "Scripted demo (offline)", resolve=_resolve_scripted),
    # Cloud APIs and OpenAI-compatible servers (their widgets: ui.cloud_picker).
    ProviderKind("openai", "OpenAI", resolve=_resolve_preset, counter=_preset_counter),
    ProviderKind("openai-compatible", "OpenAI-compatible server (Ollama, vLLM, …)",
                 OPENAI_COMPATIBLE, _resolve_preset, _preset_counter),
    ProviderKind("anthropic", "Anthropic", resolve=_resolve_preset, counter=_preset_counter),
    # A recorded answer re-streamed on its recorded timing (widgets: ui.replay_picker).
    ProviderKind("replay", "Replay a recorded run (offline)"),
):
    register_kind(_kind)
