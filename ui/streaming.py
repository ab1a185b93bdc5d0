"""Render a ``StreamPump`` with ``st.write_stream``: first text at once, coalesced batches
after, and each finished markdown block frozen in its own element (a callable chunk makes
``st.write_stream`` flush its current element and start a new one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import streamlit as st

from chatlib.blocks import BLOCK_BREAK, split_blocks
from chatlib.pump import StreamPump


def _freeze_block() -> None:
    """A no-op chunk: write_stream flushes the finished block before calling it."""


def _yield_point() -> None:
    # Reading session state is one of Streamlit's yield points: a pending Stop or rerun
    # is raised here, so an idle stream (no token yet) still stops at once.
    st.session_state.get("_chatlab_tick")


def stream_answer(
    pump: StreamPump,
    waiting_label: str = "Waiting for the first token…",
    on_batch: Callable[[], None] | None = None,
    *,
    stop_on_close: bool = True,
) -> str:
    """Render the pump's answer in the current container, from its start; returns the text
    shown. ``on_batch`` runs before each batch is rendered (e.g. to redraw live figures).
    ``stop_on_close``: a rerun or Stop that unwinds this render stops the pump (compare);
    the chat page passes False, as its answers outlive script runs (``chatlib.chat``)."""
    status = st.empty()
    status.caption(f"⏳ {waiting_label}")

    def pieces() -> Iterator[object]:
        first = True
        batches = pump.text_batches(on_notice=lambda note: status.caption(f"⏳ {note}"),
                                    stop_on_close=stop_on_close)
        for piece in split_blocks(batches):
            if piece is BLOCK_BREAK:
                yield _freeze_block
            elif not piece:
                _yield_point()
            else:
                if on_batch is not None:
                    on_batch()
                yield piece
                if first:  # cleared after the first text is on its way, not before
                    status.empty()
                    first = False

    st.write_stream(pieces)
    status.empty()
    return pump.text
