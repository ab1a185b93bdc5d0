"""Plain data shared by every part of chatlib: messages, settings and stream events.

A provider's ``stream()`` yields only the event types defined here, so SDK types never
leave ``chatlib/providers/<name>.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "Role",
    "Message",
    "Settings",
    "FRESH_CONTEXT",
    "TextDelta",
    "ReasoningDelta",
    "Usage",
    "Finish",
    "Retrying",
    "Event",
    "TokenSource",
]

Role = Literal["system", "user", "assistant"]
# Where a token count came from: the provider's own usage report, a real tokenizer
# run locally over the text, or a rough estimate (no tokenizer for that model).
TokenSource = Literal["usage", "tokenizer", "estimate"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Settings:
    """What the user chose for one request. Never holds an API key (keys live in the
    provider object), so it can be stored and exported as it is."""

    model: str
    temperature: float = 0.7
    max_tokens: int = 256
    system_prompt: str = ""
    seed: int | None = None
    # Provider-specific knobs (e.g. the local model's repeat_penalty); plain JSON values.
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# A ``Settings.extra`` key any caller may set: start this request from an empty context, as
# a fresh request to a server would. A provider that keeps a cache of earlier prompts in
# this process (the embedded model's evaluated tokens) drops it first; others ignore it.
FRESH_CONTEXT = "fresh_context"


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's thinking, streamed apart from the answer text (OpenAI-compatible
    ``reasoning_content`` / ``reasoning``, ``<think>`` tags split out of ``content``,
    Anthropic ``thinking`` blocks). ``redacted``: the provider sent the thinking encrypted
    (Anthropic ``redacted_thinking``), so ``text`` is empty and only its arrival is known."""

    text: str
    redacted: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts; ``None`` means unknown, never 0. ``output_tokens`` includes the
    reasoning tokens when the provider reports them apart (``reasoning_tokens``: OpenAI's
    ``completion_tokens_details.reasoning_tokens``); ``None`` there means not reported."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    source: TokenSource = "usage"
    reasoning_tokens: int | None = None
    # Input tokens served from the provider's prompt cache (OpenAI prompt_tokens_details.
    # cached_tokens, Anthropic cache_read_input_tokens): a repeat that hits the cache is
    # faster than a fresh request would be.
    cached_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """The provider's own end-of-answer signal ("stop", "length", "end_turn", ...).
    A stream that ends without one was truncated."""

    reason: str


@dataclass(frozen=True, slots=True)
class Retrying:
    """Sent before a retry of a request that has not streamed any text yet."""

    attempt: int  # the attempt about to be made, 2 for the first retry
    max_attempts: int
    reason: str
    wait_s: float = 0.0


Event = TextDelta | ReasoningDelta | Usage | Finish | Retrying
