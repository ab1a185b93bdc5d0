"""What the HTTP providers share: retries before the first token, the user-facing meaning
of each HTTP status, and a stream that another thread can abort.

Retries. Both SDKs are built with ``max_retries=0`` and ``stream_with_retries`` runs the
retry loop instead. The SDKs' own retries are good (same statuses, same Retry-After rules)
but silent: nobody learns that attempt 2 of 3 is under way, how long it waits, or how many
attempts a run took, and an httpx2 event hook could count responses but not see the waits.
Our loop yields a ``Retrying`` event before each retry (the UI shows "retrying (2/3)", the
run records ``attempts``) and also retries a stream that failed *after* its headers but
before any text (a 200 whose body stalls or drops), which the SDKs never retry. Once text
has been yielded nothing is retried: the partial answer stays and the error says so.

Waits: ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date) when the server sends
one, else exponential backoff with jitter (``RetryPolicy``). A wait longer than
``max_wait_s`` is not slept through: the error says when to try again.

Abort. Closing a generator runs only when the reader thread is between two events; a reader
blocked in ``recv`` (a model that thinks for a minute before its first token, a stalled
stream) would hold the connection, and keep a paid generation running, until the next byte
or the read timeout. ``AbortableStream.abort()`` may be called from any thread: it shuts the
socket of the response being read (the blocked read returns at once, the server sees the
connection close) and wakes a retry wait. ``StreamPump.stop()`` calls it.
"""

from __future__ import annotations

import email.utils
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx2

from chatlib.core.errors import (
    AuthError,
    BadRequestError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    StreamError,
    TransientError,
    redact,
)
from chatlib.core.text import one_line
from chatlib.core.types import Event, ReasoningDelta, Retrying, TextDelta

__all__ = [
    "RetryPolicy",
    "Failure",
    "StreamControl",
    "AbortableStream",
    "StoppedError",
    "stream_with_retries",
    "retry_after_s",
    "status_failure",
    "format_wait",
    "in_sentence",
    "INCOMPLETE",
]

# Appended to every failure after text was shown: the marker that the answer is partial.
INCOMPLETE = "The answer above is incomplete."


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try (3 = one try and two retries, as the SDKs do)."""

    max_attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 8.0
    max_wait_s: float = 30.0
    jitter: bool = True

    def backoff(self, failed_attempt: int) -> float:
        """Wait after the ``failed_attempt``-th failure: base·2^(n-1), capped; with jitter
        a random 50-100% of that, so sessions that failed together do not retry together."""
        delay = min(self.cap_s, self.base_s * 2 ** (failed_attempt - 1))
        return delay * (0.5 + 0.5 * random.random()) if self.jitter else delay


@dataclass
class Failure:
    """A provider's reading of one exception: the error to show if nothing else works, a
    short reason for the retry note, and the server's requested wait (if any)."""

    error: ProviderError
    reason: str
    retry_after_s: float | None = None


class StoppedError(StreamError):
    """The user stopped the answer; the pump records the run as stopped."""

    def __init__(self) -> None:
        super().__init__("Stopped.")


def format_wait(seconds: float) -> str:
    """A wait as a person reads it: "10 ms", "1.5 s", "30 s"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def in_sentence(label: str, base_url: str | None = None) -> str:
    """A provider label for the middle of a sentence, with ``base_url`` unless the label
    already names it: "OpenAI at https://…", and "the server at URL" (not "The server at URL
    at URL") for a custom server."""
    named = "t" + label[1:] if label.startswith("The ") else label
    return named if base_url is None or base_url in label else f"{named} at {base_url}"


def retry_after_s(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, else ``retry-after`` in seconds or
    as an HTTP date. ``None`` when absent or unreadable."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def status_failure(
    status: int,
    message: str,
    *,
    label: str,
    model: str,
    base_url: str,
    retry_after: float | None = None,
    secrets: list[str] | tuple[str, ...] = (),
) -> Failure:
    """What an HTTP error status means for the user, and whether it is worth a retry.

    Retried: 408, 409, 429, 5xx (529 = Anthropic overloaded). Not retried, with what to fix:
    400/422 (the request), 401/403 (the key), 404 (the model or the base URL)."""
    # Redacted before and after shortening: a cut must not leave half a key behind.
    detail = redact(one_line(redact(message, list(secrets))), list(secrets)).rstrip(".")
    detail = detail or "no details"
    error: ProviderError
    if status == 401:
        error = AuthError(
            f"{label} rejected the API key (401: {detail}). Check the key: the environment "
            "variable, .streamlit/secrets.toml or the key field in the sidebar.", status=status)
        return Failure(error, "invalid key")
    if status == 403:
        error = AuthError(
            f"{label} refused access (403: {detail}). The key may lack access to model "
            f"'{model}' or to this endpoint: check the key's project and permissions.",
            status=status)
        return Failure(error, "access denied")
    if status == 404 and not model:  # a call that names no model: the URL is wrong
        error = NotFoundError(
            f"{label} has no such endpoint at {base_url} (404: {detail}). Check the base URL.",
            status=status)
        return Failure(error, "not found")
    if status == 404:
        error = NotFoundError(
            f"{label} does not know model '{model}', or the base URL {base_url} is wrong "
            f"(404: {detail}). Pick another model or check the base URL.", status=status)
        return Failure(error, "not found")
    wait = f" It asks to wait {format_wait(retry_after)}." if retry_after else ""
    if status == 429:
        error = RateLimitError(
            f"{label} is rate limiting these requests (429: {detail}).{wait} Wait a moment "
            "and send again, or check the plan's limits.", status=status)
        return Failure(error, "rate limited (429)", retry_after)
    if status == 529:
        error = TransientError(
            f"{label} is overloaded (529: {detail}).{wait} Try again in a minute.",
            status=status)
        return Failure(error, "overloaded (529)", retry_after)
    if status >= 500 or status in (408, 409):
        error = TransientError(
            f"{label} failed with a server error ({status}: {detail}).{wait} Try again "
            "shortly.", status=status)
        return Failure(error, f"server error ({status})", retry_after)
    hint = ""
    if "temperature" in detail.lower():
        hint = " This model may accept only its default temperature: set Temperature to 1."
    error = BadRequestError(
        f"{label} rejected the request ({status}: {detail}).{hint}", status=status)
    return Failure(error, "bad request")


class _StampedBytes(httpx2.SyncByteStream):
    """An httpx2 response's byte stream that notes when each read off the socket returned,
    before the SDK parses it: the arrival of the events in those bytes."""

    def __init__(self, inner: Any, control: StreamControl) -> None:
        self._inner, self._control = inner, control

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._control.arrived_at = time.monotonic()
            yield chunk

    def close(self) -> None:
        self._inner.close()


class StreamControl:
    """Shared by a provider's reader thread and whoever may abort it (see module docstring).
    ``arrived_at`` (``time.monotonic``): when the last bytes of the response were read."""

    def __init__(self) -> None:
        self._aborted = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.arrived_at: float | None = None

    @property
    def aborted(self) -> bool:
        return self._aborted.is_set()

    def attach(self, response: Any) -> None:
        """Note the socket under an httpx2 response (headers received, body not yet read).
        If an abort came while the request was on its way, it takes effect now."""
        stream = getattr(response, "extensions", {}).get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        body = getattr(response, "stream", None)
        if isinstance(body, httpx2.SyncByteStream):  # the SDK has not begun to read it
            response.stream = _StampedBytes(body, self)
        with self._lock:
            self._socket = sock
        if self.aborted:
            self._shutdown()

    def detach(self) -> None:
        """Forget the socket before the response is closed: a finished connection goes back
        to the pool and may serve another request, which an abort must never touch."""
        with self._lock:
            self._socket = None

    def abort(self) -> None:
        self._aborted.set()
        self._shutdown()

    def sleep(self, seconds: float) -> bool:
        """Wait; returns True (early) if aborted meanwhile."""
        return self._aborted.wait(max(0.0, seconds))

    def _shutdown(self) -> None:
        with self._lock:
            sock, self._socket = self._socket, None
        if sock is None:
            return
        try:
            # The plain socket's shutdown even for TLS: ssl.SSLSocket.shutdown would drop
            # the SSL object under the thread that is reading with it.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: nothing left to abort


class AbortableStream(Iterator[Event]):
    """The iterator a provider's ``stream()`` returns: a generator plus ``abort()``.

    The pump owns it: ``close()`` from the reader thread when the answer ends, ``abort()``
    from any thread to cut a blocked read short."""

    def __init__(self, make: Callable[[StreamControl], Iterator[Event]]) -> None:
        self.control = StreamControl()
        self._events = make(self.control)

    @property
    def arrived_at(self) -> float | None:
        """When the bytes of the event just yielded were read (``time.monotonic``): the
        pump's timestamp, rather than when the SDK finished parsing them."""
        return self.control.arrived_at

    def __iter__(self) -> AbortableStream:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def abort(self) -> None:
        self.control.abort()


def stream_with_retries(
    attempt: Callable[[], Iterator[Event]],
    classify: Callable[[BaseException, bool], Failure],
    control: StreamControl,
    policy: RetryPolicy,
) -> Iterator[Event]:
    """Yield the events of ``attempt()``, retrying it while no text or thinking has been
    yielded.

    ``attempt`` makes one request and yields its events; it must hold the SDK stream in a
    ``with`` so closing it closes the HTTP response, and ``control.attach`` the response.
    ``classify(exc, started)`` maps an exception to a ``Failure``; ``started`` is True once
    text was shown, when the error must say the answer is incomplete (nothing is retried).
    The error raised at the end carries ``attempts`` (read by the pump).
    """
    number = 1
    while True:
        if control.aborted:
            raise StoppedError()
        events = attempt()
        head: list[Event] = []
        try:
            # Read up to the first text (thinking counts: it is shown, and it must be timed
            # where it arrives): until then a failure costs the user nothing shown.
            for event in events:
                head.append(event)
                if _shows_something(event):
                    break
        except Exception as exc:
            _close_quietly(events)
            if control.aborted:
                raise StoppedError() from None
            failure = classify(exc, False)
            wait = failure.retry_after_s
            if wait is None:
                wait = policy.backoff(number)
            if (not failure.error.retryable or number >= policy.max_attempts
                    or wait > policy.max_wait_s):
                raise _with_attempts(failure.error, number) from exc
            number += 1
            yield Retrying(number, policy.max_attempts, failure.reason, round(wait, 3))
            if control.sleep(wait):
                raise StoppedError() from None
            continue
        with closing(events):  # type: ignore[type-var]  # a generator has close()
            yield from head
            try:
                for event in events:
                    yield event
            except Exception as exc:
                if control.aborted:
                    raise StoppedError() from None
                raise _with_attempts(classify(exc, True).error, number) from exc
        return


def _shows_something(event: Event) -> bool:
    if isinstance(event, TextDelta):
        return bool(event.text)
    return isinstance(event, ReasoningDelta) and bool(event.text or event.redacted)


def _with_attempts(error: ProviderError, attempts: int) -> ProviderError:
    if attempts > 1 and error.retryable:
        error = type(error)(f"{error} (Gave up after {attempts} attempts.)", status=error.status)
    error.attempts = attempts  # type: ignore[attr-defined]  # read by StreamPump
    return error


def _close_quietly(events: Iterator[Event]) -> None:
    try:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    except Exception:  # the attempt already failed; its cleanup must not mask why
        pass
