"""OpenAI and every OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, Gemini's
OpenAI endpoint, any base URL), streamed through the official ``openai`` SDK.

One request: ``chat.completions.create(stream=True, stream_options={"include_usage": True})``
held in a ``with`` so closing the generator closes the HTTP response. Text deltas become
``TextDelta``; ``finish_reason`` is the terminator (a stream that ends without one is
reported truncated by the pump, since the SDK raises nothing); the last chunk's ``usage``
becomes ``Usage`` (compatible servers often omit it: the pump then counts with a tokenizer
and labels the count). The constructor, the retries, the stream's skeleton and the user's
messages are ``sdk_base.SDKProvider``'s; this module gives the request, the event parser and
the SDK's exceptions. SDK types stay here.

Reasoning comes in one of three forms, each yielded as ``ReasoningDelta``:
- ``delta.reasoning_content`` (DeepSeek, llama.cpp, older vLLM) or ``delta.reasoning``
  (newer vLLM, OpenRouter). Neither is a typed field of the SDK's ``ChoiceDelta``; its
  pydantic model keeps unknown fields (``model_extra``), so they are read with ``getattr``.
- ``<think>…</think>`` inside ``content`` (R1-style models on llama.cpp / Ollama): every
  ``content`` goes through a ``ThinkTagSplitter``, flushed at the finish.
- OpenAI's own reasoning models stream none of it: only the count, in
  ``usage.completion_tokens_details.reasoning_tokens`` → ``Usage.reasoning_tokens``
  (``completion_tokens`` stays the total, reasoning included).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Unpack

import openai

from chatlib.core.errors import ConfigError
from chatlib.core.text import clean_text
from chatlib.core.types import Event, Finish, Message, ReasoningDelta, Settings, Usage
from chatlib.providers.sdk_base import ErrorEvent, SDKOptions, SDKProvider, SDKStream
from chatlib.providers.think_tags import ThinkTagSplitter

__all__ = ["OpenAIProvider", "uses_default_temperature_only", "OPENAI_DEFAULT_MODELS"]

OPENAI_DEFAULT_MODELS = ("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-4.1-mini")

# Reasoning models that refuse any temperature but the default (400 "Unsupported value").
_DEFAULT_TEMPERATURE_ONLY = re.compile(
    r"^(o\d(-mini|-pro)?|gpt-5(-mini|-nano)?)(-\d{4}-\d\d-\d\d)?$"
)


def uses_default_temperature_only(model: str) -> bool:
    return bool(_DEFAULT_TEMPERATURE_ONLY.match(model.lower()))


class OpenAIProvider(SDKProvider[openai.OpenAI]):
    """One OpenAI-compatible endpoint. ``paid`` turns on the session rate limit;
    ``max_tokens_field`` is ``max_completion_tokens`` for OpenAI itself (its reasoning
    models refuse ``max_tokens``) and ``max_tokens`` for compatible servers (not all of
    them know the newer name)."""

    client_class = openai.OpenAI
    timeout_errors = (openai.APITimeoutError,)
    connection_errors = (openai.APIConnectionError,)
    status_error = openai.APIStatusError
    slow_hint = ": the server may be overloaded or still loading the model"
    refused_hint = "Is the server running, and is the base URL right?"
    api_kind = "an OpenAI-compatible server"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        provider_id: str = "openai",
        label: str = "OpenAI",
        default_models: Sequence[str] = OPENAI_DEFAULT_MODELS,
        needs_key: bool = True,
        max_tokens_field: str = "max_completion_tokens",
        **options: Unpack[SDKOptions],
    ) -> None:
        self._init_kwargs = dict(api_key=api_key, base_url=base_url, provider_id=provider_id,
                                 label=label, default_models=list(default_models),
                                 needs_key=needs_key, max_tokens_field=max_tokens_field,
                                 **options)
        super().__init__(provider_id=provider_id, api_key=api_key, base_url=base_url,
                         label=label, default_models=default_models, needs_key=needs_key,
                         **options)
        self.max_tokens_field = max_tokens_field

    def _server_models(self, client: openai.OpenAI) -> list[str]:
        """``GET /models``, sorted."""
        return sorted(clean_text(m.id) for m in client.models.list().data)

    def request_params(self, messages: Sequence[Message], settings: Settings) -> dict[str, Any]:
        """The request body's fields, each in the form this endpoint accepts.

        History carries only each turn's visible answer (``Message.content``): reasoning is
        never sent back. OpenAI-compatible servers drop earlier turns' reasoning anyway
        (DeepSeek refuses a ``reasoning_content`` in input messages), and Chat Lab uses no
        tools, the one case where some servers want it returned."""
        if not messages:
            raise ConfigError("Nothing to send: the conversation is empty.")
        params: dict[str, Any] = {
            "model": settings.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            self.max_tokens_field: settings.max_tokens,
        }
        if not (self.id == "openai" and uses_default_temperature_only(settings.model)):
            params["temperature"] = settings.temperature
        if settings.seed is not None:
            params["seed"] = settings.seed
        return params

    def _open(self, params: dict[str, Any]) -> SDKStream:
        return self._client.chat.completions.create(**params)

    def _parse(self, events: Iterable[Any]) -> Iterator[Event]:
        finish: str | None = None
        think = ThinkTagSplitter()
        for chunk in events:
            if chunk.usage is not None:
                yield _usage(chunk.usage)
            for choice in chunk.choices[:1]:
                delta = choice.delta
                if delta is not None:
                    reasoning = _reasoning_text(delta)
                    if reasoning:
                        yield ReasoningDelta(reasoning)
                    if delta.content:
                        yield from think.feed(delta.content)
                if choice.finish_reason:
                    yield from think.flush()
                    finish = choice.finish_reason
                    yield Finish(finish)
            if finish is not None and chunk.usage is not None:
                break  # the usage chunk is the last one before [DONE]
        if finish is None:
            # Truncated (the pump says so): still show what was held back as a possible cut
            # tag. A stream that breaks loses it (a few characters).
            yield from think.flush()

    def _error_message(self, exc: openai.APIStatusError) -> str:
        """The server's own words: OpenAI's ``{"error": {"message"}}``, else the raw body."""
        body: Any = exc.body
        if isinstance(body, dict):
            inner = body.get("error", body)
            if isinstance(inner, dict) and inner.get("message"):
                return str(inner["message"])
            if isinstance(inner, str):
                return inner
            return json.dumps(body)[:300]
        return str(body or exc.message)  # status_failure makes it one line

    def _error_event(self, exc: BaseException) -> ErrorEvent | None:
        if isinstance(exc, openai.APIStatusError) or not isinstance(exc, openai.APIError):
            return None
        return ErrorEvent(f": {exc.message}")


def _reasoning_text(delta: Any) -> str | None:
    """The delta's reasoning text, from either field name. Some servers send both with the
    same text (vLLM while renaming, proxies serving both kinds of client): one is taken,
    never both."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(delta, name, None)
        if isinstance(value, str) and value:
            return value
    return None


def _usage(usage: Any) -> Usage:
    reasoning = getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens",
                        None)
    cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)
    return Usage(usage.prompt_tokens, usage.completion_tokens,
                 reasoning_tokens=reasoning if isinstance(reasoning, int) else None,
                 cached_tokens=cached if isinstance(cached, int) else None)
