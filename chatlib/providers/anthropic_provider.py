"""Anthropic's Messages API, streamed through the official ``anthropic`` SDK.

One request: ``client.messages.stream(...)`` held in a ``with`` so closing the generator
closes the HTTP response. ``content_block_delta`` text becomes ``TextDelta``;
``message_stop`` is the terminator, after which the final message gives the stop reason
and usage (input tokens from ``message_start``, cache reads and writes included; output
tokens from ``message_delta``). A stream without ``message_stop`` yields no ``Finish`` and
the pump reports it truncated.

Request form: ``max_tokens`` is required; system prompts go in ``system=``, not in the
messages; in anthropic 2.12 ``temperature`` is not a named parameter of
``messages.stream``, so it travels in ``extra_body``, clamped to Anthropic's 0-1 range.
A mid-stream ``event: error`` arrives as ``APIStatusError`` with the stream's status (200);
its type is in ``body["error"]["type"]``. Mid-stream transport errors arrive as raw httpx2
exceptions (this SDK does not wrap them while streaming). The client has ``max_retries=0``;
``http_stream.stream_with_retries`` retries and says so. SDK types stay here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import anthropic
import httpx2

from chatlib.errors import ConfigError, ProviderError, StreamError, TransientError, redact
from chatlib.providers.http_stream import (
    INCOMPLETE,
    AbortableStream,
    Failure,
    RetryPolicy,
    StreamControl,
    retry_after_s,
    status_failure,
    stream_with_retries,
)
from chatlib.types import Event, Finish, Message, Settings, TextDelta, Usage

__all__ = ["AnthropicProvider", "ANTHROPIC_DEFAULT_MODELS", "ANTHROPIC_DEFAULT_BASE_URL"]

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


class AnthropicProvider:
    needs_key: bool = True
    paid: bool = True

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str = ANTHROPIC_DEFAULT_BASE_URL,
        label: str = "Anthropic",
        default_models: Sequence[str] = ANTHROPIC_DEFAULT_MODELS,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not api_key:
            raise ConfigError(f"No API key for {label}: set it before sending.")
        self.id = "anthropic"
        self.label = label
        self.base_url = base_url.rstrip("/")
        self.read_timeout_s = read_timeout_s
        self.retry = retry or RetryPolicy()
        self._default_models = list(default_models)
        self._key = api_key
        self._client = anthropic.Anthropic(
            api_key=api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=httpx2.Timeout(read_timeout_s, connect=connect_timeout_s),
        )

    # -- models -------------------------------------------------------------------------
    def models(self) -> list[str]:
        return list(self._default_models)

    def list_server_models(self, timeout_s: float = 3.0) -> list[str]:
        """The server's ``GET /v1/models`` list (newest first, as the API orders it)."""
        try:
            page = self._client.with_options(timeout=timeout_s).models.list(limit=100)
            return [m.id for m in page.data]
        except Exception as exc:
            raise self._classify(exc, False, model="").error from exc

    # -- streaming ----------------------------------------------------------------------
    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
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
        """The arguments of ``messages.stream``, each in the form Anthropic accepts."""
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
            "extra_body": {"temperature": min(1.0, max(0.0, settings.temperature))},
        }
        if system:
            params["system"] = system
        return params

    def _attempt(self, params: dict[str, Any], control: StreamControl) -> Iterator[Event]:
        with self._client.messages.stream(**params) as stream:
            control.attach(stream.response)
            try:
                stopped = False
                for event in stream:
                    if event.type == "content_block_delta" and event.delta.type == "text_delta":
                        if event.delta.text:
                            yield TextDelta(event.delta.text)
                    elif event.type == "message_stop":
                        stopped = True
                        break
            finally:
                control.detach()
            if stopped:
                final = stream.get_final_message()
                usage = final.usage
                inputs = (usage.input_tokens or 0) + (usage.cache_creation_input_tokens or 0) \
                    + (usage.cache_read_input_tokens or 0)
                yield Usage(inputs, usage.output_tokens)
                yield Finish(final.stop_reason or "end_turn")

    def _classify(self, exc: BaseException, started: bool, *, model: str) -> Failure:
        label, secrets = self.label, [self._key]
        if isinstance(exc, ProviderError):
            return Failure(exc, "error")
        timeout = isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException))
        if timeout:
            if started:
                return Failure(StreamError(
                    f"{label} stopped sending for {self.read_timeout_s:g} s mid-answer "
                    f"(read timeout). {INCOMPLETE}"), "timeout")
            return Failure(TransientError(
                f"{label} sent nothing within {self.read_timeout_s:g} s (read timeout)."),
                f"no response within {self.read_timeout_s:g} s")
        if isinstance(exc, (anthropic.APIConnectionError, httpx2.TransportError)):
            cause_exc = exc.__cause__ if isinstance(exc, anthropic.APIConnectionError) else exc
            cause = redact(str(cause_exc or exc), secrets)
            if started:
                return Failure(StreamError(
                    f"The connection to {label} broke mid-answer ({cause}). {INCOMPLETE}"),
                    "connection dropped")
            if isinstance(cause_exc, httpx2.ConnectError):
                return Failure(TransientError(
                    f"Could not connect to {label} at {self.base_url} ({cause}). Is the "
                    "base URL right?"), "connection refused")
            return Failure(TransientError(
                f"The connection to {label} failed ({cause})."), "connection failed")
        if isinstance(exc, anthropic.APIStatusError):
            kind, message = _error_body(exc)
            if exc.status_code < 400:  # `event: error` inside a 200 stream
                detail = redact(f"{kind}: {message}", secrets)
                if started:
                    return Failure(StreamError(
                        f"{label} reported an error mid-answer ({detail}). {INCOMPLETE}"),
                        kind or "error event")
                error_cls = TransientError if kind in _TRANSIENT_ERROR_TYPES else StreamError
                return Failure(error_cls(f"{label} reported an error ({detail})."),
                               "overloaded" if kind == "overloaded_error" else kind or "error")
            return status_failure(
                exc.status_code, f"{kind}: {message}" if kind else message, label=label,
                model=model, base_url=self.base_url,
                retry_after=retry_after_s(exc.response.headers), secrets=secrets,
            )
        if isinstance(exc, ValueError):  # json.JSONDecodeError from a malformed data line
            where = f"mid-answer. {INCOMPLETE}" if started else (
                "before any text: is the base URL an Anthropic API?")
            return Failure(StreamError(f"{label} sent a malformed stream event {where}"),
                           "malformed event")
        return Failure(ProviderError(
            redact(f"Unexpected error from {label} ({type(exc).__name__}: {exc}).", secrets)
            + (f" {INCOMPLETE}" if started else "")), "unexpected error")


def _error_body(exc: anthropic.APIStatusError) -> tuple[str, str]:
    """(type, message) of ``{"type": "error", "error": {"type", "message"}}``."""
    body: Any = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("type") or ""), str(inner.get("message") or "")
        return "", json.dumps(body)[:300]
    return "", str(body or exc.message)[:300]
