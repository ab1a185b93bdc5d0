"""Anthropic's Messages API, streamed through the official ``anthropic`` SDK.

One request: ``client.messages.create(stream=True)``, its raw event stream held in a
``with`` so closing the generator closes the HTTP response. ``content_block_delta`` text
becomes ``TextDelta``; ``message_stop`` is the terminator, with the stop reason from
``message_delta`` and the usage (input tokens from ``message_start``, prompt-cache reads
and writes included; output tokens from ``message_delta``). A stream without
``message_stop`` yields no ``Finish`` and the pump reports it truncated.

Why not the ``messages.stream()`` helper: it rebuilds a message snapshot on every event and
fails with an ``AttributeError`` mid-answer when a server (an Anthropic-compatible proxy)
leaves ``usage`` out; the raw events carry everything needed and a missing count is just
unknown (the pump then counts, labelled).

Request form: ``max_tokens`` is required; system prompts go in ``system=``, not in the
messages; anthropic 2.x has no ``temperature`` parameter, so it travels in
``extra_body``, clamped to Anthropic's 0-1 range.

Extended thinking: ``settings.extra["thinking_budget"] = N`` sends the SDK's named
``thinking={"type": "enabled", "budget_tokens": N}``. Anthropic's rules are checked before
anything is sent (``ConfigError``): N ≥ 1024 and N < ``max_tokens`` (the budget is part of
``max_tokens``); no custom temperature goes with it. A ``thinking`` block streams as
``thinking_delta`` events → ``ReasoningDelta(text)``; its closing ``signature_delta`` (what
lets the API verify the block if it were sent back) is not shown; a ``redacted_thinking``
block (encrypted by Anthropic's safety systems) → one ``ReasoningDelta("", redacted=True)``.
Usage has no thinking count apart: ``output_tokens`` includes thinking and
``Usage.reasoning_tokens`` stays ``None``.

A mid-stream ``event: error`` arrives as ``APIStatusError`` with the stream's status (200);
its type is in ``body["error"]["type"]``. Mid-stream transport errors arrive as raw httpx2
exceptions (this SDK does not wrap them while streaming). The constructor, the retries, the
stream's skeleton and the user's messages are ``sdk_base.SDKProvider``'s; this module gives
the request, the event parser and the SDK's exceptions. SDK types stay here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Unpack

import anthropic
import httpx2

from chatlib.core.errors import ConfigError
from chatlib.core.text import clean_text
from chatlib.core.types import Event, Finish, Message, ReasoningDelta, Settings, TextDelta, Usage
from chatlib.providers.sdk_base import ErrorEvent, SDKOptions, SDKProvider, SDKStream

__all__ = ["AnthropicProvider", "ANTHROPIC_DEFAULT_MODELS", "ANTHROPIC_DEFAULT_BASE_URL",
           "MIN_THINKING_BUDGET", "thinking_budget"]

ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_DEFAULT_MODELS = (
    "claude-sonnet-5-5",
    "claude-opus-5-5",
    "claude-haiku-5-5",
    "claude-sonnet-4-6",
    "claude-haiku-4-5",
)
# Stream error types worth another attempt while no text has been shown.
_TRANSIENT_ERROR_TYPES = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
MIN_THINKING_BUDGET = 1024  # Anthropic refuses a smaller budget_tokens (400)


class AnthropicProvider(SDKProvider[anthropic.Anthropic]):
    client_class = anthropic.Anthropic
    # Mid-stream transport errors come out raw, not as the SDK's (see the module docstring).
    timeout_errors = (anthropic.APITimeoutError, httpx2.TimeoutException)
    connection_errors = (anthropic.APIConnectionError, httpx2.TransportError)
    status_error = anthropic.APIStatusError
    api_kind = "an Anthropic API"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str = ANTHROPIC_DEFAULT_BASE_URL,
        label: str = "Anthropic",
        default_models: Sequence[str] = ANTHROPIC_DEFAULT_MODELS,
        **options: Unpack[SDKOptions],
    ) -> None:
        self._init_kwargs = dict(api_key=api_key, base_url=base_url, label=label,
                                 default_models=list(default_models), **options)
        super().__init__(provider_id="anthropic", api_key=api_key, base_url=base_url,
                         label=label, default_models=default_models, **options)

    def _server_models(self, client: anthropic.Anthropic) -> list[str]:
        """``GET /v1/models``, newest first (as the API orders it)."""
        return [clean_text(m.id) for m in client.models.list(limit=100).data]

    def request_params(self, messages: Sequence[Message], settings: Settings) -> dict[str, Any]:
        """The arguments of ``messages.create``, each in the form Anthropic accepts.

        History carries only each turn's visible answer (``Message.content``), never its
        thinking: with no tools in play (Chat Lab uses none) Anthropic's docs let earlier
        turns' thinking blocks be left out, and the API strips them from the context anyway.
        Raises ``ConfigError`` for a thinking budget Anthropic would refuse."""
        system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
        # Anthropic refuses empty text blocks; a stopped answer with no text is not sent.
        turns = [{"role": m.role, "content": m.content}
                 for m in messages if m.role != "system" and m.content]
        if not turns:
            raise ConfigError("Nothing to send: the conversation has no message yet.")
        params: dict[str, Any] = {
            "model": settings.model,
            "max_tokens": settings.max_tokens,
            "messages": turns,
        }
        budget = thinking_budget(settings)
        if budget is None:
            params["extra_body"] = {"temperature": min(1.0, max(0.0, settings.temperature))}
        else:
            # Thinking is incompatible with a modified temperature (Anthropic refuses the
            # request), so none is sent: the temperature setting does not apply here.
            params["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if system:
            params["system"] = system
        return params

    def _open(self, params: dict[str, Any]) -> SDKStream:
        return self._client.messages.create(**params, stream=True)

    def _parse(self, events: Iterable[Any]) -> Iterator[Event]:
        input_tokens: int | None = None
        output_tokens: int | None = None
        cached: Any = None  # input tokens read from the prompt cache
        stop_reason: str | None = None
        for event in events:
            kind = event.type
            if kind == "content_block_delta":
                delta = event.delta
                delta_type = getattr(delta, "type", None)
                if delta_type == "text_delta" and delta.text:
                    yield TextDelta(delta.text)
                elif delta_type == "thinking_delta" and delta.thinking:
                    yield ReasoningDelta(delta.thinking)
                # signature_delta (the thinking block's signature) shows nothing.
            elif kind == "content_block_start":
                if getattr(event.content_block, "type", None) == "redacted_thinking":
                    yield ReasoningDelta("", redacted=True)
            elif kind == "message_start":
                start_usage = getattr(event.message, "usage", None)
                input_tokens = _input_tokens(start_usage)
                cached = getattr(start_usage, "cache_read_input_tokens", None)
            elif kind == "message_delta":
                stop_reason = getattr(event.delta, "stop_reason", None) or stop_reason
                usage = getattr(event, "usage", None)
                # message_delta's counts are cumulative: they replace message_start's.
                output_tokens = getattr(usage, "output_tokens", None) or output_tokens
                input_tokens = _input_tokens(usage) or input_tokens
                cached = getattr(usage, "cache_read_input_tokens", None) or cached
            elif kind == "message_stop":
                yield Usage(input_tokens, output_tokens,
                            cached_tokens=cached if isinstance(cached, int) else None)
                yield Finish(stop_reason or "end_turn")
                return

    def _error_message(self, exc: anthropic.APIStatusError) -> str:
        kind, message = _error_body(exc)
        return f"{kind}: {message}" if kind else message

    def _error_event(self, exc: BaseException) -> ErrorEvent | None:
        """``event: error`` inside a 200 stream comes as a status error with status 200."""
        if not isinstance(exc, anthropic.APIStatusError) or exc.status_code >= 400:
            return None
        kind, message = _error_body(exc)
        return ErrorEvent(f" ({kind}: {message})", retryable=kind in _TRANSIENT_ERROR_TYPES,
                          reason="overloaded" if kind == "overloaded_error" else kind or "error")


def thinking_budget(settings: Settings) -> int | None:
    """The thinking budget in ``settings.extra`` (None or 0: thinking off); raises
    ``ConfigError`` for one Anthropic would refuse."""
    budget = settings.extra.get("thinking_budget")
    if budget is None or budget == 0:
        return None
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ConfigError(
            f"The thinking budget must be a whole number of tokens, not {budget!r}: "
            "set it to 0 to turn thinking off, or to 1024 or more.")
    if budget < MIN_THINKING_BUDGET:
        raise ConfigError(
            f"A thinking budget of {budget} tokens is below Anthropic's minimum of "
            f"{MIN_THINKING_BUDGET}: raise it to {MIN_THINKING_BUDGET} or more, or set it to "
            "0 to turn thinking off.")
    if budget >= settings.max_tokens:
        raise ConfigError(
            f"A thinking budget of {budget} tokens must be below max tokens "
            f"({settings.max_tokens}), which includes it: raise max tokens above {budget} "
            "or lower the budget.")
    return budget


def _input_tokens(usage: Any) -> int | None:
    """All input tokens: uncached, written to and read from the prompt cache."""
    parts = [getattr(usage, name, None) for name in
             ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    return sum(p for p in parts if p) if parts[0] is not None else None


def _error_body(exc: anthropic.APIStatusError) -> tuple[str, str]:
    """(type, message) of ``{"type": "error", "error": {"type", "message"}}``."""
    body: Any = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("type") or ""), str(inner.get("message") or "")
        return "", json.dumps(body)[:300]
    return "", str(body or exc.message)  # status_failure makes it one line
