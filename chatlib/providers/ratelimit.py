"""A per-session limit on requests to paid providers, so a demo cannot run up a bill.

``RateLimiter`` allows at most ``per_minute`` requests in any 60-second window (a sliding
window: the next request is allowed once the oldest of the last ``per_minute`` is a minute
old). The UI keeps one per session and checks it before a prompt is sent, so a refused
request is a message, never a stored run; ``RateLimitedProvider`` records each request as
it is actually sent. Local providers (``paid == False``) are never limited.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from chatlib.core.errors import RateLimitError
from chatlib.providers.base import Provider, Recipe, recipe_of
from chatlib.core.types import Event, Message, Settings

__all__ = ["RateLimiter", "RateLimitedProvider", "DEFAULT_PAID_PER_MINUTE"]

DEFAULT_PAID_PER_MINUTE = 10


class RateLimiter:
    """``per_minute`` = 0 turns the limit off. Safe to share between threads (the compare
    page streams several targets at once)."""

    def __init__(
        self,
        per_minute: int = DEFAULT_PAID_PER_MINUTE,
        *,
        clock: Callable[[], float] = time.monotonic,
        window_s: float = 60.0,
    ) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self._clock = clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def wait_s(self) -> float:
        """Seconds until the next request is allowed (0 = now)."""
        with self._lock:
            return self._wait_locked(self._clock())

    def check(self) -> None:
        """Raise ``RateLimitError`` if a request now would exceed the limit."""
        wait = self.wait_s()
        if wait > 0:
            raise RateLimitError(self.message(wait))

    def acquire(self) -> None:
        """Count a request being sent now, or raise ``RateLimitError`` if it may not be."""
        with self._lock:
            now = self._clock()
            wait = self._wait_locked(now)
            if wait > 0:
                raise RateLimitError(self.message(wait))
            if self.per_minute > 0:
                self._sent.append(now)

    def message(self, wait: float) -> str:
        return (
            f"Rate limit: next request allowed in {math.ceil(wait)} s "
            f"(at most {self.per_minute} requests a minute to paid providers in this session; "
            "change it in the sidebar)."
        )

    def _wait_locked(self, now: float) -> float:
        while self._sent and now - self._sent[0] >= self.window_s:
            self._sent.popleft()
        if self.per_minute <= 0 or len(self._sent) < self.per_minute:
            return 0.0
        # The limit may have been lowered: the request that frees a slot is the one
        # `per_minute` places from the newest.
        return self._sent[-self.per_minute] + self.window_s - now


class RateLimitedProvider:
    """A paid provider behind a session's ``RateLimiter``: ``stream()`` counts the request
    (or raises ``RateLimitError``); everything else is the wrapped provider's."""

    def __init__(self, provider: Provider, limiter: RateLimiter) -> None:
        self.inner = provider
        self.limiter = limiter

    def __getattr__(self, name: str) -> Any:
        # id, label, paid, needs_key, list_server_models, ... are the wrapped provider's.
        return getattr(self.inner, name)

    def models(self) -> list[str]:
        return self.inner.models()

    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        self.limiter.acquire()
        return self.inner.stream(messages, settings)

    def before_send(self) -> None:
        """Count the request in this session's limiter (``RateLimitError`` if it may not
        be sent): what ``stream`` does first, for an answer read in the engine."""
        self.limiter.acquire()

    def engine_recipe(self) -> Recipe | None:
        """The wrapped provider's: the limit is counted here, by ``before_send``."""
        return recipe_of(self.inner)
