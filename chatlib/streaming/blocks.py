"""Split a streamed markdown answer into blocks as it arrives.

``st.write_stream`` re-sends the whole text of its current element on every chunk, so one
element for a long answer costs bytes that grow with the square of its length. Cutting the
stream at finished top-level blocks (a blank line followed by an unindented line, outside
code fences and ``$$`` math) lets the UI freeze each block in its own element; only the
last block is re-sent. The cut never falls inside a fence, a math block or an indented
continuation, so each block renders the same as it would in the whole answer.

A finished answer is drawn as the same blocks (``blocks_of``), so each frozen block and its
stored twin are the same message: Streamlit then sends a reference to the block the browser
already holds instead of the block again (its message cache, ``global.minCachedMessageSize``
in ``.streamlit/config.toml``).

``budget_batches`` decides when the current block is sent again: every update re-sends the
block's text so far plus a message's fixed cost, so an update waits until its new text pays
for a share of that (``ratio``), or ``max_s`` at most.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Final

__all__ = ["BLOCK_BREAK", "BLOCK_MIN_CHARS", "BlockSplitter", "split_blocks", "blocks_of",
           "budget_batches", "MESSAGE_BYTES"]

# What Streamlit adds to every element update on the websocket besides the text: the
# message's hash, the script's hash, the element's path and flags (measured: 97 bytes).
MESSAGE_BYTES = 100
# The shortest block frozen on its own (``BlockSplitter``): fewer, bigger messages.
BLOCK_MIN_CHARS = 200


class _BlockBreak:
    def __repr__(self) -> str:
        return "BLOCK_BREAK"


BLOCK_BREAK: Final = _BlockBreak()


class BlockSplitter:
    """Incremental: ``feed(text)`` returns the text pieces with ``BLOCK_BREAK`` between
    blocks. Work is linear in the answer's length. A block is cut only once it holds
    ``min_chars``: every frozen block costs a message of its own, so a heading or a short
    paragraph rides with what follows it (where the cuts fall depends on the text alone,
    not on how it was chunked)."""

    def __init__(self, min_chars: int = 0) -> None:
        self.min_chars = min_chars
        self._chars = 0  # characters of the current block in earlier ``feed`` calls
        self._line = ""  # the current line, while it is incomplete
        self._fence: str | None = None
        self._in_math = False
        self._prev_blank = False
        self._block_has_text = False

    def feed(self, text: str) -> list[str | _BlockBreak]:
        out: list[str | _BlockBreak] = []
        start = i = 0
        while i < len(text):
            if (
                not self._line
                and self._prev_blank
                and self._block_has_text
                and self._fence is None
                and not self._in_math
                and text[i] not in " \t\n"
                and self._chars + i - start >= self.min_chars
            ):
                if i > start:
                    out.append(text[start:i])
                out.append(BLOCK_BREAK)
                start = i
                self._chars = 0
                self._block_has_text = False
            newline = text.find("\n", i)
            if newline == -1:
                self._line += text[i:]
                break
            self._line += text[i:newline]
            self._end_line()
            i = newline + 1
        if start < len(text):
            out.append(text[start:])
            self._chars += len(text) - start
        return out

    def _end_line(self) -> None:
        stripped = self._line.strip()
        self._line = ""
        self._prev_blank = not stripped
        if not stripped:
            return
        self._block_has_text = True
        if self._fence is not None:
            if stripped.startswith(self._fence):
                self._fence = None
        elif stripped.startswith(("```", "~~~")):
            self._fence = stripped[:3]
        elif stripped.count("$$") % 2 == 1:
            self._in_math = not self._in_math


def split_blocks(pieces: Iterable[str]) -> Iterator[str | _BlockBreak]:
    """Pass text pieces through, inserting ``BLOCK_BREAK`` between finished blocks.
    Empty pieces (a stream's idle ticks) pass through unchanged."""
    splitter = BlockSplitter(BLOCK_MIN_CHARS)
    for piece in pieces:
        if not piece:
            yield piece
            continue
        yield from splitter.feed(piece)


def blocks_of(text: str) -> list[str]:
    """A whole answer cut into the blocks ``split_blocks`` streams it as."""
    blocks = [""]
    for piece in BlockSplitter(BLOCK_MIN_CHARS).feed(text):
        if piece is BLOCK_BREAK:
            blocks.append("")
        else:
            blocks[-1] += str(piece)
    return [b for b in blocks if b]


def budget_batches(
    pieces: Iterable[str | _BlockBreak],
    *,
    ratio: float = 1.0,
    max_s: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str | _BlockBreak]:
    """Coalesce ``split_blocks`` output so each update of the current block is worth its bytes.

    An update costs ``MESSAGE_BYTES`` plus the block's whole text so far; it is sent once its
    new text is at least ``1 / ratio`` of that (so the bytes sent stay within ``1 + ratio``
    times the text while a block grows), or ``max_s`` after the previous update (a slow
    stream still moves). The first text goes at once; a block's end flushes what is held;
    idle ticks (``""``) pass through, so the caller stays responsive to a stop."""
    pending = ""
    block = 0  # characters of the current block already sent
    last: float | None = None

    def due(now: float) -> bool:
        return (last is None or now - last >= max_s
                or len(pending) * ratio >= MESSAGE_BYTES + block)

    for piece in pieces:
        if piece is BLOCK_BREAK:
            if pending:
                yield pending
            pending, block = "", 0
            yield piece
            continue
        pending += str(piece)
        now = clock()
        if pending and due(now):
            yield pending
            block += len(pending)
            pending, last = "", now
        elif not piece:
            yield piece
    if pending:
        yield pending
