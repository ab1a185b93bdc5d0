"""The one streaming path: read a provider in its own thread, timestamp every event where
its bytes arrive, and hand the UI coalesced text batches.

    provider.stream() ──(reader thread: t = monotonic() per event)──► texts so far
    texts so far ──► StreamPump.text_batches()  (any number of readers, each from the start:
                     all text so far at once, then ~40 ms batches)

The reader thread also builds the ``RunRecord`` and hands it to ``on_done`` (the run store)
whatever happens: finished, stopped or failed; ``on_progress`` hears the text so far every
``progress_s`` while it arrives. So the answer does not depend on any UI thread: a
Streamlit rerun that unwinds one reader mid-render leaves the pump running, and the next
script run reads it again from the start (see ``chatlib.chat``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from chatlib.errors import ProviderError, StreamError
from chatlib.providers.base import Provider
from chatlib.record import RunRecord, RunStatus, new_run_id
from chatlib.text import clean_text
from chatlib.tokens import TokenCounter
from chatlib.types import Finish, Message, Retrying, Settings, TextDelta, TokenSource, Usage

__all__ = ["StreamPump", "TRUNCATED_MESSAGE"]

log = logging.getLogger(__name__)

TRUNCATED_MESSAGE = (
    "The answer was cut off: the stream ended without the provider's end marker, "
    "so it may be incomplete."
)
# While nothing arrives the UI generator wakes this often so a Stop click is noticed.
_IDLE_POLL_S = 0.1


class StreamPump:
    """Stream one answer from ``provider``; see the module docstring.

    Use: ``pump = StreamPump(...).start()``, iterate ``pump.text_batches()`` to render,
    ``pump.stop()`` to stop early, ``pump.wait()`` for the finished ``RunRecord``.
    """

    def __init__(
        self,
        provider: Provider,
        messages: Sequence[Message],
        settings: Settings,
        *,
        counter: TokenCounter | None = None,
        input_tokens: int | None = None,
        input_source: TokenSource | None = None,
        on_done: Callable[[RunRecord], None] | None = None,
        on_progress: Callable[[str], None] | None = None,
        progress_s: float = 0.5,
        record_fields: dict[str, Any] | None = None,
        batch_s: float = 0.04,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.messages = list(messages)
        self.settings = settings
        self._counter = counter
        self._input_tokens = input_tokens
        self._input_source = input_source
        self._on_done = on_done
        self._on_progress = on_progress
        self.progress_s = progress_s
        self._record_fields = dict(record_fields or {})
        self.batch_s = batch_s
        self._clock = clock
        self._lock = threading.Lock()
        # Readers wait on this for new text, a retry note or the end (same lock as the data).
        self._changed = threading.Condition(self._lock)
        self._notices = 0  # how many Retrying notes so far
        self._ended = False  # the reader has recorded the run; no more text comes
        self._stop_requested = False
        self._offsets: list[float] = []
        self._texts: list[str] = []
        self._events: Any = None  # the provider's iterator, once the reader has it
        self._thread = threading.Thread(target=self._read, name="chatlib-pump", daemon=True)
        self._done = threading.Event()
        self.record: RunRecord | None = None
        self.run_id: str = self._record_fields.pop("id", None) or new_run_id()
        self.notice: str | None = None  # latest Retrying note, for the UI
        self.started_at: float | None = None  # on ``clock``, when start() handed it over
        self.stop_asked = False  # stop() was called (the run may still be closing)

    # -- the reader thread ------------------------------------------------------------
    def start(self) -> StreamPump:
        self.started_at = self._clock()
        self._thread.start()
        return self

    def _read(self) -> None:
        created_at = time.time()
        t0 = self._clock()
        status: RunStatus = "ok"
        error: str | None = None
        finish: str | None = None
        usage = Usage(None, None)
        attempts = 1
        events = None
        last_progress = t0
        try:
            events = iter(self.provider.stream(self.messages, self.settings))
            self._events = events
            if self._stop_requested:  # a stop that came before the stream existed
                self._abort_events()
            for event in events:
                now = self._clock()
                if self._stop_requested:
                    break
                if isinstance(event, TextDelta):
                    if event.text:
                        # A model may emit a lone surrogate; the page could not send it.
                        text = clean_text(event.text)
                        with self._changed:
                            if self._stop_requested:
                                break
                            self._offsets.append(now - t0)
                            self._texts.append(text)
                            self._changed.notify_all()
                        if self._on_progress is not None and now - last_progress >= self.progress_s:
                            last_progress = now
                            self._report_progress()
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, Finish):
                    finish = event.reason
                elif isinstance(event, Retrying):
                    attempts = event.attempt
                    with self._changed:
                        self.notice = (
                            f"retrying ({event.attempt}/{event.max_attempts}): {event.reason}"
                        )
                        self._notices += 1
                        self._changed.notify_all()
            if self._stop_requested:
                status = "stopped"
            elif finish is None:
                raise StreamError(TRUNCATED_MESSAGE)
        except ProviderError as exc:
            stopped = self._stop_requested
            status, error = ("stopped", None) if stopped else ("error", exc.user_message)
            # A fault's own count of attempts (retries ran out) is more exact than ours.
            attempts = getattr(exc, "attempts", attempts)
        except Exception as exc:  # a bug or an SDK surprise: shown, never a traceback
            log.warning("provider %s failed: %s", self.provider.id, type(exc).__name__)
            status = "stopped" if self._stop_requested else "error"
            if status == "error":
                error = f"Unexpected error ({type(exc).__name__}): {exc}"
        finally:
            if events is not None:
                try:
                    close = getattr(events, "close", None)
                    if close is not None:
                        close()  # releases the HTTP stream / stops local generation
                except Exception:  # closing a broken stream must not hide the real error
                    log.debug("closing the provider stream failed", exc_info=True)
            with self._lock:
                self._stop_requested = True  # freeze the text the record holds
            self.record = self._build_record(created_at, status, error, finish, usage, attempts)
            if self._on_done is not None:
                try:
                    self._on_done(self.record)
                except Exception:
                    log.exception("saving the run failed")
            self._done.set()
            with self._changed:  # readers end only once the run is recorded
                self._ended = True
                self._changed.notify_all()

    def _report_progress(self) -> None:
        try:
            self._on_progress(self.text)  # type: ignore[misc]  # checked by the caller
        except Exception:  # a failed progress write must not end the answer
            log.exception("reporting progress failed")

    def _build_record(
        self,
        created_at: float,
        status: RunStatus,
        error: str | None,
        finish: str | None,
        usage: Usage,
        attempts: int,
    ) -> RunRecord:
        text = "".join(self._texts)
        output_source: TokenSource | None
        output_tokens, output_source = usage.output_tokens, usage.source
        if output_tokens is None or status != "ok":
            # A provider's usage covers a finished answer only; count what we got.
            output_tokens, output_source = self._count(text)
        input_source: TokenSource | None
        input_tokens, input_source = usage.input_tokens, usage.source
        if input_tokens is None:
            input_tokens, input_source = self._input_tokens, self._input_source
        prompt = next((m.content for m in reversed(self.messages) if m.role == "user"), "")
        return RunRecord(
            provider=self.provider.id,
            model=self.settings.model,
            settings=self.settings.to_dict(),
            status=status,
            created_at=created_at,
            chunk_offsets_s=list(self._offsets),
            chunk_texts=list(self._texts),
            error=error,
            finish_reason=finish,
            attempts=attempts,
            input_tokens=input_tokens,
            input_source=input_source if input_tokens is not None else None,
            output_tokens=output_tokens,
            output_source=output_source if output_tokens is not None else None,
            prompt=prompt,
            id=self.run_id,
            **self._record_fields,
        )

    def _count(self, text: str) -> tuple[int | None, TokenSource | None]:
        if not text:
            return 0, "tokenizer"
        if self._counter is None:
            return None, None
        return self._counter.count(text), self._counter.source

    # -- the UI side --------------------------------------------------------------------
    @property
    def text(self) -> str:
        """All text received so far (frozen once stopped)."""
        with self._lock:
            return "".join(self._texts)

    def arrivals(self) -> tuple[float | None, float | None, int]:
        """(first offset, latest offset, chunk count) so far, as the reader recorded them:
        for live figures while the answer streams."""
        with self._lock:
            if not self._offsets:
                return None, None, 0
            return self._offsets[0], self._offsets[-1], len(self._offsets)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def stop(self) -> None:
        """Ask the reader to stop; the text received up to now is what the run keeps."""
        with self._lock:
            self._stop_requested = True
        self.stop_asked = True  # after the flag the reader checks: who sees this sees that
        self._abort_events()

    def _abort_events(self) -> None:
        # A network provider's stream may offer abort(), callable from any thread: it cuts
        # a read that is blocked waiting for bytes, so the connection closes now, not at
        # the next event or the read timeout (see chatlib.providers.http_stream).
        abort = getattr(self._events, "abort", None)
        if abort is not None:
            try:
                abort()
            except Exception:
                log.debug("aborting the provider stream failed", exc_info=True)

    def wait(self, timeout: float | None = None) -> RunRecord | None:
        self._done.wait(timeout)
        return self.record

    def text_batches(
        self, on_notice: Callable[[str], None] | None = None, *, stop_on_close: bool = True
    ) -> Iterator[str]:
        """Yield the answer's text for rendering, from its start: all text so far at once,
        then whatever arrived during each ``batch_s`` window. Yields ``""`` when idle so
        the caller stays responsive to a stop. Any number of these may read one pump (a
        rerun, a second tab). Closing one early stops the pump if ``stop_on_close``; the
        chat page passes False, since there only its Stop button ends an answer."""
        pending: list[str] = []
        last_yield: float | None = None
        index = 0
        notices_seen = 0
        try:
            while True:
                with self._changed:
                    idle = (index == len(self._texts) and not self._ended
                            and self._notices == notices_seen)
                    if idle:
                        if pending and last_yield is not None:
                            timeout = max(0.0, last_yield + self.batch_s - self._clock())
                        else:
                            timeout = _IDLE_POLL_S
                        self._changed.wait(timeout)
                    new = self._texts[index:]
                    index += len(new)
                    ended, notices = self._ended, self._notices
                if notices != notices_seen:
                    notices_seen = notices
                    if on_notice is not None and self.notice:
                        on_notice(self.notice)
                pending += new
                now = self._clock()
                # The first text is never held back; later text waits for its window.
                if pending and (last_yield is None or ended or now - last_yield >= self.batch_s):
                    yield "".join(pending)
                    pending.clear()
                    last_yield = now
                elif not new and not ended:
                    yield ""
                if ended and not pending:
                    return
        finally:
            if stop_on_close and not self.done:
                self.stop()
