"""The base of the providers that stream through an official SDK (``OpenAIProvider``,
``AnthropicProvider``): everything they do alike, so that each subclass holds only what its
SDK does differently.

``SDKProvider`` holds the constructor (the key check, base URL, label, paid, timeouts, retry
policy, and the client: ``max_retries=0``, an explicit key), ``list_server_models``, the
stream (``http_stream.stream_with_retries`` around one attempt: open, attach, parse, detach)
and the reading of every exception into a ``Failure`` whose message tells the user what
happened and what to check.

A subclass gives:
- ``client_class`` and its SDK's exceptions: ``timeout_errors``, ``connection_errors``,
  ``status_error``;
- the request: ``request_params()`` (raises ``ConfigError`` for what would be refused) and
  ``_open()``, the SDK call that returns its event stream;
- ``_parse()``: the SDK's events as Chat Lab's ``Event``s, with a ``Finish`` only when the
  server sent its terminator (without one the pump reports the answer truncated);
- ``_server_models()``, ``_error_message()`` (a status error's words) and
  ``_error_event()`` (an error sent inside a 200 stream);
- the hints where the kinds of server differ (``slow_hint``, ``refused_hint``, ``api_kind``).

Who closes what: the pump owns the ``AbortableStream`` that ``stream()`` returns and closes
it when the answer ends or is stopped; that closes the generator of ``stream_with_retries``,
which closes the attempt's generator, whose ``with`` closes the SDK stream and with it the
HTTP response, at once. ``abort()`` (from any thread) shuts the socket the attempt attached
to its ``StreamControl``. ``close()`` closes the client's connection pool: whoever built the
provider calls it when replacing it (never while it streams).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypedDict, TypeVar, cast

import httpx2

from chatlib.core.errors import ConfigError, ProviderError, StreamError, TransientError, redact
from chatlib.core.types import Event, Finish, Message, Settings
from chatlib.providers.base import Recipe
from chatlib.providers.http_stream import (
    INCOMPLETE,
    AbortableStream,
    Failure,
    RetryPolicy,
    StreamControl,
    in_sentence,
    retry_after_s,
    status_failure,
    stream_with_retries,
)

__all__ = ["SDKProvider", "SDKOptions", "ErrorEvent", "SDKClient", "SDKStream"]


class SDKClient(Protocol):
    """What the base uses of an SDK's client (``openai.OpenAI``, ``anthropic.Anthropic``)."""

    def with_options(self, *, timeout: float) -> Self: ...

    def close(self) -> None: ...


class SDKStream(Protocol):
    """What both SDKs' ``create(stream=True)`` return: the events, and a context manager that
    closes the HTTP response on exit."""

    response: httpx2.Response

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def __iter__(self) -> Iterator[Any]: ...


class _StatusError(Protocol):
    """What both SDKs' ``APIStatusError`` carry."""

    status_code: int
    response: httpx2.Response


class SDKOptions(TypedDict, total=False):
    """The constructor options every SDK provider takes as they are (defaults in
    ``SDKProvider.__init__``)."""

    paid: bool
    connect_timeout_s: float
    read_timeout_s: float
    retry: RetryPolicy | None


@dataclass(frozen=True)
class ErrorEvent:
    """An error the server sent inside a 200 stream, as a subclass reads it.

    ``detail`` follows "… reported an error" as the SDK's users expect it (": boom" or
    " (overloaded_error: boom)"); ``retryable``: worth another attempt while nothing was
    shown; ``reason``: the retry note's words."""

    detail: str
    retryable: bool = True
    reason: str = "error event"


ClientT = TypeVar("ClientT", bound=SDKClient)


class SDKProvider(ABC, Generic[ClientT]):
    """One endpoint served through an SDK; see the module docstring for what a subclass
    gives. ``paid`` turns on the session rate limit."""

    needs_key: bool = True
    paid: bool = True
    # The subclass's own keyword arguments, set before ``super().__init__``: its recipe.
    _init_kwargs: dict[str, Any]

    client_class: Callable[..., ClientT]
    # Checked in this order (a timeout is also a connection error in both SDKs); an SDK that
    # lets raw httpx2 errors out of its streams lists them too.
    timeout_errors: tuple[type[BaseException], ...]
    connection_errors: tuple[type[BaseException], ...]
    status_error: type[BaseException]
    # What the user is told to check, where the kinds of server differ.
    slow_hint = ""  # after "sent nothing within N s (read timeout)"
    refused_hint = "Is the base URL right?"  # after "Could not connect to …"
    api_kind = "the API"  # a malformed first event: "is the base URL {api_kind}?"

    def __init__(
        self,
        *,
        provider_id: str,
        api_key: str | None,
        base_url: str,
        label: str,
        default_models: Sequence[str],
        needs_key: bool = True,
        paid: bool = True,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        if needs_key and not api_key:
            raise ConfigError(f"No API key for {label}: set it before sending.")
        self.id = provider_id
        self.label = label
        self.base_url = base_url.rstrip("/")
        self.paid = paid  # False for a server on this machine or network (a test double)
        self.needs_key = needs_key
        self.read_timeout_s = read_timeout_s
        self.retry = retry or RetryPolicy()
        self._default_models = list(default_models)
        self._key = api_key or ""
        self._client = self.client_class(
            # Always explicit: either SDK would otherwise read its environment variable
            # (OPENAI_API_KEY, ANTHROPIC_API_KEY) and send it to whatever base_url names.
            api_key=api_key or "no-key",
            base_url=self.base_url,
            max_retries=0,  # stream_with_retries retries, and says so
            timeout=httpx2.Timeout(read_timeout_s, connect=connect_timeout_s),
        )

    def engine_recipe(self) -> Recipe:
        """The same endpoint, key and options, built again where the answer is read (the
        key travels over the engine's private channel only)."""
        return Recipe(type(self), dict(self._init_kwargs), reuse=True)

    def close(self) -> None:
        """Close the SDK client's connection pool (idle keep-alive connections)."""
        self._client.close()

    # -- models -------------------------------------------------------------------------
    def models(self) -> list[str]:
        return list(self._default_models)

    def list_server_models(self, timeout_s: float = 3.0) -> list[str]:
        """The server's own list of models (in ``_server_models``' order); raises
        ``ProviderError``."""
        try:
            return self._server_models(self._client.with_options(timeout=timeout_s))
        except Exception as exc:
            raise self._classify(exc, False, model="").error from exc

    # -- streaming ----------------------------------------------------------------------
    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        params = self.request_params(messages, settings)  # a ConfigError before any request

        def run(control: StreamControl) -> Iterator[Event]:
            return stream_with_retries(
                lambda: self._attempt(params, control),
                lambda exc, started: self._classify(exc, started, model=settings.model),
                control,
                self.retry,
            )

        return AbortableStream(run)

    def _attempt(self, params: dict[str, Any], control: StreamControl) -> Iterator[Event]:
        """One request's events. The ``with`` is what closing this generator closes."""
        finished = False
        lost_tail: tuple[type[BaseException], ...] = (*self.connection_errors, ValueError)
        with self._open(params) as events:
            control.attach(events.response)
            try:
                for event in self._parse(events):
                    finished = finished or isinstance(event, Finish)
                    yield event
            except lost_tail:
                if not finished:
                    raise
                # The answer was complete; only what follows the terminator went missing
                # (OpenAI's usage chunk or [DONE]).
            finally:
                control.detach()

    # -- what a subclass gives ----------------------------------------------------------
    @abstractmethod
    def request_params(self, messages: Sequence[Message], settings: Settings) -> dict[str, Any]:
        """The request's arguments, in the form this endpoint accepts; raises
        ``ConfigError`` for a request it would refuse."""

    @abstractmethod
    def _open(self, params: dict[str, Any]) -> SDKStream:
        """Send the request; the SDK's event stream (not yet entered)."""

    @abstractmethod
    def _parse(self, events: Iterable[Any]) -> Iterator[Event]:
        """The SDK's events as ``Event``s; a ``Finish`` only for the server's terminator."""

    @abstractmethod
    def _server_models(self, client: ClientT) -> list[str]:
        """The ids of the server's models, through ``client`` (the short timeout set)."""

    @abstractmethod
    def _error_message(self, exc: Any) -> str:
        """The server's words in a ``status_error``."""

    @abstractmethod
    def _error_event(self, exc: BaseException) -> ErrorEvent | None:
        """``exc`` read as an error sent inside a 200 stream; None if it is not one."""

    # -- failures -----------------------------------------------------------------------
    def _classify(self, exc: BaseException, started: bool, *, model: str) -> Failure:
        """What ``exc`` means for the user. ``started``: text was shown, so the message
        says the answer is incomplete (and nothing will be retried)."""
        label, secrets, waited = self.label, [self._key], f"{self.read_timeout_s:g} s"
        if isinstance(exc, ProviderError):
            return Failure(exc, "error")
        if isinstance(exc, self.timeout_errors):
            if started:
                return Failure(StreamError(
                    f"{label} stopped sending for {waited} mid-answer (read timeout). "
                    f"{INCOMPLETE}"), "timeout")
            return Failure(TransientError(
                f"{label} sent nothing within {waited} (read timeout){self.slow_hint}."),
                f"no response within {waited}")
        if isinstance(exc, self.connection_errors):
            # An SDK's connection error wraps the transport's; a raw httpx2 error is its own.
            cause_exc = exc if isinstance(exc, httpx2.TransportError) else exc.__cause__
            cause = redact(str(cause_exc or exc), secrets)
            if started:
                return Failure(StreamError(
                    f"The connection to {in_sentence(label)} broke mid-answer ({cause}). "
                    f"{INCOMPLETE}"), "connection dropped")
            if isinstance(cause_exc, httpx2.ConnectError):
                return Failure(TransientError(
                    f"Could not connect to {in_sentence(label, self.base_url)} ({cause}). "
                    f"{self.refused_hint}"), "connection refused")
            return Failure(TransientError(
                f"The connection to {in_sentence(label)} failed ({cause})."), "connection failed")
        event = self._error_event(exc)
        if event is not None:
            detail = redact(event.detail, secrets)
            if started:
                return Failure(StreamError(
                    f"{label} reported an error mid-answer{detail}. {INCOMPLETE}"), event.reason)
            error_class = TransientError if event.retryable else StreamError
            return Failure(error_class(f"{label} reported an error{detail}."), event.reason)
        if isinstance(exc, self.status_error):
            status = cast(_StatusError, exc)
            return status_failure(
                status.status_code, self._error_message(exc), label=label, model=model,
                base_url=self.base_url, retry_after=retry_after_s(status.response.headers),
                secrets=secrets,
            )
        if isinstance(exc, ValueError):  # json.JSONDecodeError from a malformed data line
            where = f"mid-answer. {INCOMPLETE}" if started else (
                f"before any text: is the base URL {self.api_kind}?")
            return Failure(StreamError(f"{label} sent a malformed stream event {where}"),
                           "malformed event")
        return Failure(ProviderError(
            redact(f"Unexpected error from {in_sentence(label)} "
                   f"({type(exc).__name__}: {exc}).", secrets)
            + (f" {INCOMPLETE}" if started else "")), "unexpected error")
