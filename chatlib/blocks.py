"""Split a streamed markdown answer into blocks as it arrives.

``st.write_stream`` re-sends the whole text of its current element on every chunk, so one
element for a long answer costs bytes that grow with the square of its length. Cutting the
stream at finished top-level blocks (a blank line followed by an unindented line, outside
code fences and ``$$`` math) lets the UI freeze each block in its own element; only the
last block is re-sent. The cut never falls inside a fence, a math block or an indented
continuation, so each block renders the same as it would in the whole answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

__all__ = ["BLOCK_BREAK", "BlockSplitter", "split_blocks"]


class _BlockBreak:
    def __repr__(self) -> str:
        return "BLOCK_BREAK"


BLOCK_BREAK: Final = _BlockBreak()


class BlockSplitter:
    """Incremental: ``feed(text)`` returns the text pieces with ``BLOCK_BREAK`` between
    blocks. Work is linear in the answer's length."""

    def __init__(self) -> None:
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
            ):
                if i > start:
                    out.append(text[start:i])
                out.append(BLOCK_BREAK)
                start = i
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
    splitter = BlockSplitter()
    for piece in pieces:
        if not piece:
            yield piece
            continue
        yield from splitter.feed(piece)
