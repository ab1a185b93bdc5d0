"""The provider contract every model source implements.

A provider turns a list of messages into a stream of events (``chatlib.core.types.Event``):
text deltas in order, then at most one ``Usage`` and one ``Finish``. ``Retrying`` may come
before the first text. Failures are raised as ``chatlib.core.errors.ProviderError``.

Who closes what: the caller (the pump) owns the iterator ``stream()`` returns and closes it
when the answer ends or is stopped; the provider's generator must release its HTTP stream or
stop its local generation in its ``finally``/``with`` so that closing is enough.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from chatlib.core.types import Event, Message, Settings

__all__ = ["Provider"]


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
