"""Errors a provider raises, each carrying a message fit to show a user.

    ChatLabError
     └── ProviderError            any failure of a request; ``user_message`` says what to do
          ├── ConfigError          bad settings or missing key: caught before any request
          │    ├── OverBudgetError   the newest message alone is over the token budget
          │    └── MissingKeyError   no key for a provider that needs one
          ├── AuthError            401/403: the key is wrong or lacks access
          ├── NotFoundError        404: unknown model or wrong base URL
          ├── BadRequestError      400/422: the provider rejected the request
          ├── RateLimitError       429 after the retries ran out, or our own per-session limit
          ├── TransientError       connection, timeout, 5xx, overloaded, after retries ran out
          └── StreamError          the stream broke after it started (dropped, malformed,
                                   mid-stream error event, no terminator = truncated)

Only the pump catches these; the UI shows ``user_message`` and never a traceback.
"""

from __future__ import annotations

from chatlib.core.text import clean_text

__all__ = [
    "ChatLabError",
    "ProviderError",
    "ConfigError",
    "OverBudgetError",
    "MissingKeyError",
    "AuthError",
    "NotFoundError",
    "BadRequestError",
    "RateLimitError",
    "TransientError",
    "StreamError",
    "redact",
]


class ChatLabError(Exception):
    """Base of every error chatlib raises on purpose."""


class ProviderError(ChatLabError):
    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        # A server's words may hold a lone surrogate (a JSON "\ud800" escape): made valid
        # here, since the message is shown on the page and stored with the run.
        super().__init__(clean_text(message))
        self.status = status

    @property
    def user_message(self) -> str:
        return str(self)


class ConfigError(ProviderError):
    pass


class OverBudgetError(ConfigError):
    """Its message speaks to the page's user; the figures let another caller (the HTTP API)
    say what to send instead."""

    def __init__(self, message: str, *, needed: int, system: int, budget: int) -> None:
        super().__init__(message)
        self.needed, self.system, self.budget = needed, system, budget


class MissingKeyError(ConfigError):
    """As ``OverBudgetError``: the page's message, and what another caller needs to word its
    own (``provider_label``, the ``key_names`` a server operator can set)."""

    def __init__(self, message: str, *, provider_label: str, key_names: tuple[str, ...]):
        super().__init__(message)
        self.provider_label, self.key_names = provider_label, key_names


class AuthError(ProviderError):
    pass


class NotFoundError(ProviderError):
    pass


class BadRequestError(ProviderError):
    pass


class RateLimitError(ProviderError):
    retryable = True


class TransientError(ProviderError):
    retryable = True


class StreamError(ProviderError):
    pass


def redact(text: str, secrets: list[str]) -> str:
    """Remove every secret (API keys) from a text before it is shown or stored."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
