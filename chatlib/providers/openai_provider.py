"""OpenAI and every OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio, Gemini's
OpenAI endpoint, any base URL), streamed through the official ``openai`` SDK.

One request: ``chat.completions.create(stream=True, stream_options={"include_usage": True})``
held in a ``with`` so closing the generator closes the HTTP response. Text deltas become
``TextDelta``; ``finish_reason`` is the terminator (a stream that ends without one is
reported truncated by the pump, since the SDK raises nothing); the last chunk's ``usage``
becomes ``Usage`` (compatible servers often omit it: the pump then counts with a tokenizer
and labels the count). The client has ``max_retries=0``: retries and their visible notes are
``http_stream.stream_with_retries``'s job (its docstring says why). SDK types stay here.

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
from collections.abc import Iterator, Sequence
from typing import Any

import httpx2
import openai

from chatlib.errors import ConfigError, ProviderError, StreamError, TransientError, redact
from chatlib.providers.http_stream import (
    INCOMPLETE,
    in_sentence,
    AbortableStream,
    Failure,
    RetryPolicy,
    StreamControl,
    retry_after_s,
    status_failure,
    stream_with_retries,
)
from chatlib.providers.think_tags import ThinkTagSplitter
from chatlib.text import clean_text
from chatlib.types import Event, Finish, Message, ReasoningDelta, Settings, Usage

__all__ = ["OpenAIProvider", "uses_default_temperature_only", "OPENAI_DEFAULT_MODELS"]

OPENAI_DEFAULT_MODELS = ("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-4.1-mini")

# Reasoning models that refuse any temperature but the default (400 "Unsupported value").
_DEFAULT_TEMPERATURE_ONLY = re.compile(
    r"^(o\d(-mini|-pro)?|gpt-5(-mini|-nano)?)(-\d{4}-\d\d-\d\d)?$"
)


def uses_default_temperature_only(model: str) -> bool:
    return bool(_DEFAULT_TEMPERATURE_ONLY.match(model.lower()))


class OpenAIProvider:
    """One OpenAI-compatible endpoint. ``paid`` turns on the session rate limit;
    ``max_tokens_field`` is ``max_completion_tokens`` for OpenAI itself (its reasoning
    models refuse ``max_tokens``) and ``max_tokens`` for compatible servers (not all of
    them know the newer name)."""

    needs_key: bool = True
    paid: bool = True

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        provider_id: str = "openai",
        label: str = "OpenAI",
        default_models: Sequence[str] = OPENAI_DEFAULT_MODELS,
        paid: bool = True,
        needs_key: bool = True,
        max_tokens_field: str = "max_completion_tokens",
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.id = provider_id
        self.label = label
        self.base_url = base_url.rstrip("/")
        self.paid = paid
        self.needs_key = needs_key
        self.max_tokens_field = max_tokens_field
        self.read_timeout_s = read_timeout_s
        self.retry = retry or RetryPolicy()
        self._default_models = list(default_models)
        if needs_key and not api_key:
            raise ConfigError(f"No API key for {label}: set it before sending.")
        self._key = api_key or ""
        self._client = openai.OpenAI(
            # Always explicit: the SDK would otherwise read OPENAI_API_KEY from the
            # environment and send it to whatever server base_url points at.
            api_key=api_key or "no-key",
            base_url=self.base_url,
            max_retries=0,
            timeout=httpx2.Timeout(read_timeout_s, connect=connect_timeout_s),
        )

    def close(self) -> None:
        """Close the SDK client's connection pool (idle keep-alive connections)."""
        self._client.close()

    # -- models -------------------------------------------------------------------------
    def models(self) -> list[str]:
        return list(self._default_models)

    def list_server_models(self, timeout_s: float = 3.0) -> list[str]:
        """The server's own ``GET /models`` list (sorted); raises ``ProviderError``."""
        try:
            page = self._client.with_options(timeout=timeout_s).models.list()
            return sorted(clean_text(m.id) for m in page.data)
        except Exception as exc:
            raise self._classify(exc, False, model="").error from exc

    # -- streaming ----------------------------------------------------------------------
    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        if not messages:
            raise ConfigError("Nothing to send: the conversation is empty.")
        params = self.request_params(messages, settings)

        def run(control: StreamControl) -> Iterator[Event]:
            return stream_with_retries(
                lambda: self._attempt(params, control),
                lambda exc, started: self._classify(exc, started, model=settings.model),
                control,
                self.retry,
            )

        return AbortableStream(run)

    def request_params(self, messages: Sequence[Message], settings: Settings) -> dict[str, Any]:
        """The request body's fields, each in the form this endpoint accepts.

        History carries only each turn's visible answer (``Message.content``): reasoning is
        never sent back. OpenAI-compatible servers drop earlier turns' reasoning anyway
        (DeepSeek refuses a ``reasoning_content`` in input messages), and Chat Lab uses no
        tools, the one case where some servers want it returned."""
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

    def _attempt(self, params: dict[str, Any], control: StreamControl) -> Iterator[Event]:
        finish: str | None = None
        think = ThinkTagSplitter()
        with self._client.chat.completions.create(**params) as chunks:
            control.attach(chunks.response)
            try:
                for chunk in chunks:
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
                    # Truncated (the pump says so): still show what was held back as a
                    # possible cut tag. A stream that breaks loses it (a few characters).
                    yield from think.flush()
            except (openai.APIConnectionError, ValueError):
                if finish is None:
                    raise
                # The answer was complete; only the usage chunk or [DONE] went missing.
            finally:
                control.detach()

    def _classify(self, exc: BaseException, started: bool, *, model: str) -> Failure:
        label, secrets = self.label, [self._key]
        if isinstance(exc, ProviderError):
            return Failure(exc, "error")
        if isinstance(exc, openai.APITimeoutError):
            if started:
                return Failure(StreamError(
                    f"{label} stopped sending for {self.read_timeout_s:g} s mid-answer "
                    f"(read timeout). {INCOMPLETE}"), "timeout")
            return Failure(TransientError(
                f"{label} sent nothing within {self.read_timeout_s:g} s (read timeout): the "
                "server may be overloaded or still loading the model."),
                f"no response within {self.read_timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            cause = redact(str(exc.__cause__ or exc), secrets)
            if started:
                return Failure(StreamError(
                    f"The connection to {in_sentence(label)} broke mid-answer ({cause}). "
                    f"{INCOMPLETE}"),
                    "connection dropped")
            if isinstance(exc.__cause__, httpx2.ConnectError):
                return Failure(TransientError(
                    f"Could not connect to {in_sentence(label, self.base_url)} ({cause}). Is the "
                    "server running, and is the base URL right?"), "connection refused")
            return Failure(TransientError(
                f"The connection to {in_sentence(label)} failed ({cause})."), "connection failed")
        if isinstance(exc, openai.APIStatusError):
            return status_failure(
                exc.status_code, _error_message(exc), label=label, model=model,
                base_url=self.base_url, retry_after=retry_after_s(exc.response.headers),
                secrets=secrets,
            )
        if isinstance(exc, openai.APIError):  # an error sent inside a 200 stream
            detail = redact(exc.message, secrets)
            if started:
                return Failure(StreamError(
                    f"{label} reported an error mid-answer: {detail}. {INCOMPLETE}"),
                    "error event")
            return Failure(TransientError(f"{label} reported an error: {detail}."),
                           "error event")
        if isinstance(exc, ValueError):  # json.JSONDecodeError from a malformed data line
            where = f"mid-answer. {INCOMPLETE}" if started else (
                "before any text: is the base URL an OpenAI-compatible server?")
            return Failure(StreamError(f"{label} sent a malformed stream event {where}"),
                           "malformed event")
        return Failure(ProviderError(
            redact(f"Unexpected error from {in_sentence(label)} "
                   f"({type(exc).__name__}: {exc}).", secrets)
            + (f" {INCOMPLETE}" if started else "")), "unexpected error")


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


def _error_message(exc: openai.APIStatusError) -> str:
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
