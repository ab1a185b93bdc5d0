"""Render a ``StreamPump`` with ``st.write_stream``: first text at once, coalesced batches
after (each update of the growing block sent once it is worth its bytes,
``chatlib.streaming.blocks.budget_batches``), and each finished markdown block frozen in its own
element (a callable chunk makes ``st.write_stream`` flush its current element and start a new one).

The model's thinking streams into a collapsible ``st.status`` block above the answer
("Thinking…", open while it grows), which closes and reads "Thought for 4.2 s" once the
answer starts; a finished turn draws the same block from the store (``show_thinking``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import streamlit as st

from chatlib.core.tokens import TokenCounter
from chatlib.streaming.blocks import BLOCK_BREAK, blocks_of, budget_batches, split_blocks
from chatlib.streaming.live import Phase, live_line, live_stats
from chatlib.streaming.pump import StreamPump

# How often the live line under an answer is redrawn while its phase lasts: often enough to
# watch, cheap on the websocket (each redraw is a ~200-byte message). A new phase is drawn
# at once.
LIVE_REFRESH_S = 0.5


class LiveLine:
    """The live line of one answer in ``slot``: the phase the pump is in now (waiting,
    thinking, answering, ended), its time, tokens so far and tok/s (``chatlib.streaming.live``).
    ``refresh`` redraws it when the pump's phase has changed since the last drawing, else
    at most every ``LIVE_REFRESH_S``: so it never names a phase the answer has left, as a
    line redrawn only on a timer did ("Waiting…" under streaming thinking, "Thinking" under
    the answer). Reading the phase is cheap; the figures (a token count) only when drawn."""

    def __init__(self, slot: Any, pump: StreamPump, counter: TokenCounter | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._slot = slot
        self._pump = pump
        self._counter = counter
        self._clock = clock
        self._phase: Phase | None = None  # as last drawn
        self._drawn_at = 0.0

    def refresh(self) -> None:
        phase = self._pump.progress()[2]
        now = self._clock()
        if phase == self._phase and now - self._drawn_at < LIVE_REFRESH_S:
            return
        stats = live_stats(self._pump, self._counter)
        self._slot.caption(live_line(stats))
        self._phase, self._drawn_at = stats.phase, now


def _freeze_block() -> None:
    """A no-op chunk: write_stream flushes the finished block before calling it."""


def _yield_point() -> None:
    # Reading session state is one of Streamlit's yield points: a pending Stop or rerun
    # is raised here, so an idle stream (no token yet) still stops at once.
    st.session_state.get("_chatlab_tick")


def thought_label(seconds: float | None, *, stopped: bool = False) -> str:
    if stopped:
        return "Stopped while thinking"
    return "Thought" if seconds is None else f"Thought for {seconds:.1f} s"


def show_answer_text(text: str) -> None:
    """A finished answer, drawn as the blocks it streamed as: the browser holds those
    already, so Streamlit sends references instead of the text (``chatlib.streaming.blocks``)."""
    for block in blocks_of(text):
        st.markdown(block)


def show_thinking(reasoning: str, seconds: float | None, *, stopped: bool = False) -> None:
    """A finished answer's thinking, collapsed under its label (``stopped``: the answer was
    stopped before it began)."""
    if reasoning:
        with st.status(thought_label(seconds, stopped=stopped),
                       state="error" if stopped else "complete", expanded=False):
            st.markdown(reasoning)


class _ThinkingBlock:
    """The growing "Thinking…" block of one answer, created at its first thinking text."""

    def __init__(self, slot: Any) -> None:
        self._slot = slot
        self._block: Any = None
        self._body: Any = None
        self._text = ""
        self.closed = False

    def add(self, delta: str) -> None:
        if self._block is None:
            self._block = self._slot.status("Thinking…", state="running", expanded=True)
            self._body = self._block.empty()
        self._text += delta
        self._body.markdown(self._text)

    def close(self, pump: StreamPump) -> None:
        """Collapse it under "Thought for N s" (the answer has begun, or the run ended)."""
        if self._block is None or self.closed:
            return
        self.closed = True
        stopped = pump.stop_asked and not pump.text
        self._block.update(label=thought_label(pump.thinking_s(), stopped=stopped),
                           state="error" if stopped else "complete", expanded=False)


def stream_answer(
    pump: StreamPump,
    waiting_label: str = "Waiting for the first token…",
    on_batch: Callable[[], None] | None = None,
    *,
    stop_on_close: bool = True,
    live: bool = False,
    live_slot: Any = None,
    counter: TokenCounter | None = None,
) -> str:
    """Render the pump's answer in the current container, from its start; returns the text
    shown. ``on_batch`` runs before each batch, thinking or idle tick is rendered.
    ``live``: draw a live line (``LiveLine``: phase, time, tokens so far by ``counter``,
    tok/s) under the answer, or in ``live_slot`` when given (a compare column's figures
    slot, above it), which is left showing the ended line for its caller to replace.
    ``stop_on_close``: a rerun or Stop that unwinds this render stops the pump (compare);
    the chat page passes False, as its answers outlive script runs (``chatlib.chat.answers``)."""
    thinking = _ThinkingBlock(st.empty())
    status = st.empty()
    if not live:
        status.caption(f"⏳ {waiting_label}")
    answer = st.container()
    own_slot = live and live_slot is None
    slot = st.empty() if own_slot else live_slot
    line = LiveLine(slot, pump, counter) if live else None

    def refresh_line() -> None:
        if line is not None:
            line.refresh()

    def pieces() -> Iterator[object]:
        first = True
        batches = pump.text_batches(on_notice=lambda note: status.caption(f"⏳ {note}"),
                                    stop_on_close=stop_on_close, on_reasoning=thinking.add)
        refresh_line()
        for piece in budget_batches(split_blocks(batches)):
            if on_batch is not None:
                on_batch()
            if piece is BLOCK_BREAK:
                yield _freeze_block
            elif not piece:  # after thinking shown, or idle: the line says where it is now
                refresh_line()
                _yield_point()
            else:
                thinking.close(pump)
                refresh_line()  # "Answering" before the answer shows, never "Thinking"
                yield piece
                if first:  # cleared after the first text is on its way, not before
                    status.empty()
                    first = False

    answer.write_stream(pieces)
    pump.wait(2.0)  # the run's end, so the thinking label has its final figure
    thinking.close(pump)
    status.empty()
    if own_slot:
        slot.empty()
    elif line is not None:
        line.refresh()
    return pump.text
