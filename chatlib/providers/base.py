"""The provider contract every model source implements.

A provider turns a list of messages into a stream of events (``chatlib.core.types.Event``):
text deltas in order, then at most one ``Usage`` and one ``Finish``. ``Retrying`` may come
before the first text. Failures are raised as ``chatlib.core.errors.ProviderError``.

A provider that can be built again in the engine process says how with ``engine_recipe()``
(a ``Recipe``); one that must count something in this process before its request is sent
(the session's paid-request limit) does it in ``before_send()``.

Who closes what: the caller (the pump) owns the iterator ``stream()`` returns and closes it
when the answer ends or is stopped; the provider's generator must release its HTTP stream or
stop its local generation in its ``finally``/``with`` so that closing is enough.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from chatlib.core.types import Event, Message, Settings

__all__ = ["Provider", "Recipe", "recipe_of"]


@dataclass(frozen=True)
class Recipe:
    """How to build a provider again in another process (the engine, ``chatlib.engine``):
    ``build(**kwargs)``, pickled. ``reuse``: the built provider may serve later answers with
    the same recipe (an SDK client and its pool of connections)."""

    build: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    reuse: bool = False


def recipe_of(provider: object) -> Recipe | None:
    """``provider.engine_recipe()`` when its class defines one: ``None`` means the provider
    can only stream in this process (a test double with its own clock, an object a test
    inspects). Looked up on the class: a wrapper that passes attributes on to the provider
    it wraps (``__getattr__``) has a stream of its own, which a recipe would skip."""
    engine_recipe = getattr(type(provider), "engine_recipe", None)
    return engine_recipe(provider) if callable(engine_recipe) else None


@runtime_checkable
class Provider(Protocol):
    id: str  # "local", "scripted", "openai", "anthropic", ...
    label: str  # what the UI shows
    needs_key: bool
    # Paid providers get the per-session rate limit; local ones do not. An instance
    # attribute: an OpenAI-compatible server is paid or not by its base URL.
    paid: bool

    def models(self) -> list[str]:
        """Model ids to offer; the first is the default. May be a static list."""
        ...

    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        """Yield the answer's events; see the module docstring for who closes what."""
        ...
