"""The one streaming path: read a provider in its own thread, timestamp every event where
its bytes arrive, and hand the UI coalesced text batches.

    provider.stream() ──(reader thread: t = monotonic() per event)──► texts so far
    texts so far ──► StreamPump.text_batches()  (any number of readers, each from the start:
                     all text so far at once, then ~40 ms batches)

Thinking (``ReasoningDelta``) is kept apart from the answer, timed the same way, and handed to
a reader's ``on_reasoning`` in the same batches, always before the answer text after it. A
run whose stream ended while still thinking (no answer text) is recorded as failed with
``NO_ANSWER_MESSAGE``, never as an ``ok`` run with an empty answer.

The reader thread also builds the ``RunRecord`` and hands it to ``on_done`` (the run store)
whatever happens: finished, stopped or failed; ``on_progress`` hears the text so far every
``progress_s`` while it arrives. So the answer does not depend on any UI thread: a
Streamlit rerun that unwinds one reader mid-render leaves the pump running, and the next
script run reads it again from the start (see ``chatlib.chat.answers``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from chatlib.core.errors import ProviderError, StreamError
from chatlib.providers.base import Provider
from chatlib.runs.metrics import first_and_last, thinking_time
from chatlib.runs.record import RunRecord, RunStatus, new_run_id
from chatlib.core.text import clean_text
from chatlib.core.tokens import TokenCounter
from chatlib.core.types import (
    Finish,
    Message,
    ReasoningDelta,
    Retrying,
    Settings,
    TextDelta,
    TokenSource,
    Usage,
)

__all__ = ["StreamPump", "Outcome", "TRUNCATED_MESSAGE", "LIMIT_REASONS", "no_answer_message",
           "Phase"]

# Where an answer is now: no chunk yet, thinking, answering, or ended (its run recorded).
Phase = Literal["waiting", "thinking", "answering", "done"]

log = logging.getLogger(__name__)

TRUNCATED_MESSAGE = (
    "The answer was cut off: the stream ended without the provider's end marker, "
    "so it may be incomplete."
)
# Finish reasons that mean "the token limit was reached" (OpenAI-compatible, Anthropic).
LIMIT_REASONS = {"length", "max_tokens"}
# While nothing arrives the UI generator wakes this often so a Stop click is noticed.
_IDLE_POLL_S = 0.1


def no_answer_message(finish: str | None, max_tokens: int) -> str:
    """Why a run that only thought has no answer, and what to change."""
    if finish in LIMIT_REASONS:
        return (f"The model used all {max_tokens} output tokens thinking and gave no answer: "
                "raise Max output tokens (or lower the thinking budget).")
    return "The model thought but gave no answer."


@dataclass(frozen=True)
class Outcome:
    """How a stream ended, as its reader saw it: what ``StreamPump._finish`` records.
    ``complete``: the stream finished, so a provider's usage covers all of it."""

    created_at: float  # wall clock when the request was made
    status: RunStatus
    error: str | None
    finish: str | None
    usage: Usage
    attempts: int
    complete: bool


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
        self.counter = counter  # counts what a run without usage received (labelled)
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
        self._reasoning_offsets: list[float] = []
        self._reasoning_texts: list[str] = []
        self._redacted = False  # some thinking came encrypted (no text to show or count)
        self._events: Any = None  # the provider's iterator, once the reader has it
        self._last_progress = 0.0  # offset of the last ``on_progress`` call
        self._thread = threading.Thread(target=self._read, name="chatlib-pump", daemon=True)
        self._done = threading.Event()
        self.record: RunRecord | None = None
        self.run_id: str = self._record_fields.pop("id", None) or new_run_id()
        self.notice: str | None = None  # latest Retrying note, for the UI
        self.started_at: float | None = None  # on ``clock``, when start() handed it over
        self.t0: float | None = None  # on ``clock``, just before the request: offsets' zero
        self.stop_asked = False  # stop() was called (the run may still be closing)

    # -- the reader thread ------------------------------------------------------------
    def start(self) -> StreamPump:
        self.started_at = self._clock()
        self._thread.start()
        return self

    def _read(self) -> None:
        self._finish(self._pull())

    def _pull(self) -> Outcome:
        """Read the provider's events into this pump until the stream ends, fails or is
        stopped; what happened, for ``_finish``."""
        t0, created_at = self._start_times()
        self.t0 = t0
        status: RunStatus = "ok"
        error: str | None = None
        finish: str | None = None
        no_answer = False  # the stream finished while the model was still thinking
        usage = Usage(None, None)
        attempts = 1
        events = None
        try:
            events = iter(self.provider.stream(self.messages, self.settings))
            self._events = events
            if self._stop_requested:  # a stop that came before the stream existed
                self._abort_events()
            # A network stream says when the bytes of each event were read, before its SDK
            # parsed them: on the real clock, that is the event's time.
            arrivals = events if self._clock is time.monotonic else None
            for event in events:
                now = self._clock()
                arrived = getattr(arrivals, "arrived_at", None)
                if arrived is not None and t0 <= arrived < now:
                    now = arrived
                if self._stop_requested:
                    break
                if isinstance(event, TextDelta):
                    # A model may emit a lone surrogate; the page could not send it.
                    if event.text and not self._add_text(now - t0, clean_text(event.text)):
                        break
                elif isinstance(event, ReasoningDelta):
                    if (event.text or event.redacted) and not self._add_reasoning(
                            now - t0, clean_text(event.text), event.redacted):
                        break
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, Finish):
                    finish = event.reason
                elif isinstance(event, Retrying):
                    attempts = event.attempt
                    self._add_notice(
                        f"retrying ({event.attempt}/{event.max_attempts}): {event.reason}")
            if self._stop_requested:
                status = "stopped"
            elif finish is None:
                raise StreamError(TRUNCATED_MESSAGE)
            elif not self._texts and (self._reasoning_offsets or usage.reasoning_tokens):
                no_answer = True
                status, error = "error", no_answer_message(finish, self.settings.max_tokens)
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
        return Outcome(created_at, status, error, finish, usage, attempts,
                       complete=status == "ok" or no_answer)

    def _start_times(self) -> tuple[float, float]:
        """t0 on the pump's clock and the wall-clock time of that same moment, read close
        together: a thread preempted between the two reads would put ``created_at`` (and so
        every chunk's wall time) early, so a pair read more than 0.1 ms apart is read again."""
        for _ in range(3):
            t0 = self._clock()
            created_at = time.time()
            if self._clock() - t0 <= 1e-4:
                break
        return t0, created_at

    # -- what the reader keeps (the engine's answers arrive through these too) -------------
    def _add_text(self, offset: float, text: str) -> bool:
        """Keep a chunk of answer text that arrived ``offset`` s after t0; False once
        stopped (the text a stop froze stays as it was)."""
        with self._changed:
            if self._stop_requested:
                return False
            self._offsets.append(offset)
            self._texts.append(text)
            self._changed.notify_all()
        self._maybe_report_progress(offset)
        return True

    def _add_reasoning(self, offset: float, text: str, redacted: bool) -> bool:
        """Keep a chunk of thinking, as ``_add_text`` keeps answer text."""
        with self._changed:
            if self._stop_requested:
                return False
            self._reasoning_offsets.append(offset)
            self._reasoning_texts.append(text)
            self._redacted = self._redacted or redacted
            self._changed.notify_all()
        self._maybe_report_progress(offset)
        return True

    def _add_notice(self, notice: str) -> None:
        with self._changed:
            self.notice = notice
            self._notices += 1
            self._changed.notify_all()

    def _finish(self, outcome: Outcome) -> None:
        """Freeze the text, build the ``RunRecord``, hand it to ``on_done``, then let the
        readers end (they end only once the run is recorded)."""
        with self._lock:
            self._stop_requested = True  # freeze the text the record holds
        self.record = self._build_record(outcome)
        if self._on_done is not None:
            try:
                self._on_done(self.record)
            except Exception:
                log.exception("saving the run failed")
        self._done.set()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _maybe_report_progress(self, offset: float) -> None:
        if self._on_progress is not None and offset - self._last_progress >= self.progress_s:
            self._last_progress = offset
            self._report_progress()

    def _report_progress(self) -> None:
        try:
            self._on_progress(self.text)  # type: ignore[misc]  # checked by the caller
        except Exception:  # a failed progress write must not end the answer
            log.exception("reporting progress failed")

    def _build_record(self, outcome: Outcome) -> RunRecord:
        status, error, finish, usage = (outcome.status, outcome.error, outcome.finish,
                                        outcome.usage)
        text, reasoning = "".join(self._texts), "".join(self._reasoning_texts)
        # A provider's usage covers a finished stream only (``complete``): otherwise count
        # what we got.
        from_usage = outcome.complete
        reasoning_tokens: int | None = None
        reasoning_source: TokenSource | None = None
        if from_usage and usage.reasoning_tokens is not None:
            reasoning_tokens, reasoning_source = usage.reasoning_tokens, usage.source
        elif self._reasoning_offsets and not self._redacted:
            reasoning_tokens, reasoning_source = self._count(reasoning)
        output_source: TokenSource | None
        output_tokens, output_source = usage.output_tokens, usage.source
        if output_tokens is None or not from_usage:
            output_tokens, output_source = self._count(text)
            if output_tokens is not None and self._reasoning_offsets:
                if reasoning_tokens is None:  # redacted thinking: its share is unknown
                    output_tokens, output_source = None, None
                else:
                    output_tokens += reasoning_tokens
                    output_source = _weaker(output_source, reasoning_source)
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
            created_at=outcome.created_at,
            chunk_offsets_s=list(self._offsets),
            chunk_texts=list(self._texts),
            error=error,
            finish_reason=finish,
            attempts=outcome.attempts,
            input_tokens=input_tokens,
            input_source=input_source if input_tokens is not None else None,
            output_tokens=output_tokens,
            output_source=output_source if output_tokens is not None else None,
            prompt=prompt,
            id=self.run_id,
            reasoning_offsets_s=list(self._reasoning_offsets),
            reasoning_texts=list(self._reasoning_texts),
            reasoning_tokens=reasoning_tokens,
            reasoning_source=reasoning_source if reasoning_tokens is not None else None,
            # Thought without showing it: OpenAI's hidden reasoning, Anthropic's redacted.
            reasoning_hidden=self._redacted or bool(
                usage.reasoning_tokens and not self._reasoning_offsets),
            cached_input_tokens=usage.cached_tokens,
            **self._record_fields,
        )

    def _count(self, text: str) -> tuple[int | None, TokenSource | None]:
        if not text:
            return 0, "tokenizer"
        if self.counter is None:
            return None, None
        return self.counter.count(text), self.counter.source

    # -- the UI side --------------------------------------------------------------------
    @property
    def text(self) -> str:
        """All text received so far (frozen once stopped)."""
        with self._lock:
            return "".join(self._texts)

    def now(self) -> float:
        """The time on the clock this pump's offsets are taken on."""
        return self._clock()

    @property
    def reasoning(self) -> str:
        """All thinking received so far."""
        with self._lock:
            return "".join(self._reasoning_texts)

    def progress(self) -> tuple[float | None, float | None, Phase, float | None]:
        """(first chunk offset of any kind, latest chunk offset, phase, offset where that
        phase began) so far, as the reader recorded them: for live figures. ``done`` once
        the run is recorded (its phase time is then ``None``)."""
        with self._lock:
            first, last = first_and_last(self._offsets, self._reasoning_offsets)
            if self._ended:
                return first, last, "done", None
            if self._offsets:
                return first, last, "answering", self._offsets[0]
            if self._reasoning_offsets:
                return first, last, "thinking", self._reasoning_offsets[0]
            return None, None, "waiting", None

    def thinking_s(self) -> float | None:
        """How long the model has thought: first thinking chunk to the first answer chunk
        (to the latest thinking chunk while it still thinks); None if it has not."""
        with self._lock:
            return thinking_time(self._offsets, self._reasoning_offsets)

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
        self,
        on_notice: Callable[[str], None] | None = None,
        *,
        stop_on_close: bool = True,
        on_reasoning: Callable[[str], None] | None = None,
    ) -> Iterator[str]:
        """Yield the answer's text for rendering, from its start: all text so far at once,
        then whatever arrived during each ``batch_s`` window. Yields ``""`` when idle so
        the caller stays responsive to a stop. ``on_reasoning`` hears the thinking the same
        way (from the start, in batches, each before the answer text that followed it; a
        yield follows every call). Any number of these may read one pump (a rerun, a second
        tab). Closing one early stops the pump if ``stop_on_close``; the chat page passes
        False, since there only its Stop button ends an answer."""
        pending: list[str] = []
        thinking: list[str] = []
        last_yield: float | None = None
        answered = False  # some answer text was yielded
        index = r_index = 0
        notices_seen = 0
        try:
            while True:
                if (pending or thinking) and last_yield is not None:
                    # A batch is held for its window: sleep until it is due or the run
                    # ends, not woken by every chunk that joins it (with many streams,
                    # those wake-ups are a good share of the server's CPU).
                    held = last_yield + self.batch_s - self._clock()
                    if held > 0:
                        self._done.wait(held)
                with self._changed:
                    idle = (index == len(self._texts) and not self._ended
                            and r_index == len(self._reasoning_texts)
                            and self._notices == notices_seen)
                    if idle and not (pending or thinking):
                        self._changed.wait(_IDLE_POLL_S)
                    new = self._texts[index:]
                    index += len(new)
                    new_thinking = self._reasoning_texts[r_index:]
                    r_index += len(new_thinking)
                    ended, notices = self._ended, self._notices
                if notices != notices_seen:
                    notices_seen = notices
                    if on_notice is not None and self.notice:
                        on_notice(self.notice)
                pending += new
                thinking += new_thinking
                now = self._clock()
                # The first batch of each kind is never held back; later ones wait for
                # their window.
                due = last_yield is None or ended or now - last_yield >= self.batch_s
                if thinking and (due or pending):  # thinking first: it came first
                    if on_reasoning is not None:
                        on_reasoning("".join(thinking))
                    thinking.clear()
                    if not pending:
                        last_yield = now
                        yield ""
                        continue
                if pending and (due or not answered):
                    answered = True
                    yield "".join(pending)
                    pending.clear()
                    last_yield = now
                elif not new and not ended:
                    yield ""
                if ended and not pending and not thinking:
                    return
        finally:
            if stop_on_close and not self.done:
                self.stop()


_EXACTNESS: dict[TokenSource | None, int] = {"usage": 2, "tokenizer": 1, "estimate": 0, None: -1}


def _weaker(a: TokenSource | None, b: TokenSource | None) -> TokenSource | None:
    """The less exact of two token sources: a sum is only as exact as its worst part."""
    return a if _EXACTNESS[a] <= _EXACTNESS[b] else b
