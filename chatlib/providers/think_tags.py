"""Split ``<think>…</think>`` out of a streamed answer, as it streams.

R1-style models served by llama.cpp or Ollama (DeepSeek-R1 distills, QwQ, ...) write their
thinking inside ``content``: ``<think>\\n…\\n</think>\\n\\nThe answer``. Shown as it is, the
thinking reads as part of the answer, goes into the chat history and skews the answer's
timings. ``ThinkTagSplitter`` takes the ``content`` strings in the order they arrive and turns
them into ``ReasoningDelta`` and ``TextDelta`` events at once, holding back only a tail that
could be the start of a tag cut across chunks (``"<thi"`` + ``"nk>"``, ``"</th"`` + ``"ink>"``).

Rules:
- Only a ``<think>`` at the very start of the answer (after optional whitespace) opens a
  reasoning block; one later in the prose is the model quoting the tag and stays text, as
  does everything after the block is closed (a second block is not looked for).
- The newlines that conventionally follow ``<think>`` and ``</think>`` are dropped.
- A stream cut off inside the thinking (``finish_reason == "length"``) yields reasoning only.

Not handled: some chat templates end the prompt with ``<think>\\n``, so the model's output
starts directly with thinking and only ``</think>`` shows. Telling that apart from an answer
that merely mentions ``</think>`` needs the whole answer (or the template), while the text
before it must be shown as it streams: guessing would either hold the answer back or
re-label text already shown. A caller that knows its template opens the block can say so
with ``ThinkTagSplitter(opened=True)``.
"""

from __future__ import annotations

from typing import Literal

from chatlib.core.types import ReasoningDelta, TextDelta

__all__ = ["ThinkTagSplitter", "OPEN_TAG", "CLOSE_TAG"]

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

_State = Literal["start", "after_open", "reasoning", "after_close", "answer"]


class ThinkTagSplitter:
    """Feed ``content`` strings in order with ``feed()``; call ``flush()`` once at the end
    for whatever was held back. Both return the events to yield, never an empty delta."""

    def __init__(self, *, opened: bool = False) -> None:
        # opened: the prompt already ended with <think> (see the module docstring).
        self._state: _State = "after_open" if opened else "start"
        self._pending = ""

    def feed(self, text: str) -> list[TextDelta | ReasoningDelta]:
        out: list[TextDelta | ReasoningDelta] = []
        self._pending += text
        while self._pending:
            state, pending = self._state, self._pending
            if state == "start":
                body = pending.lstrip()
                if body.startswith(OPEN_TAG):
                    self._pending, self._state = body[len(OPEN_TAG):], "after_open"
                elif OPEN_TAG.startswith(body):  # only whitespace, or "<thi" so far: wait
                    break
                else:
                    self._state = "answer"
            elif state in ("after_open", "after_close"):
                rest = pending.lstrip("\r\n")
                self._pending = rest
                if rest:
                    self._state = "reasoning" if state == "after_open" else "answer"
            elif state == "reasoning":
                end = pending.find(CLOSE_TAG)
                if end >= 0:
                    _add(out, ReasoningDelta(pending[:end]))
                    self._pending, self._state = pending[end + len(CLOSE_TAG):], "after_close"
                else:
                    cut = len(pending) - _tag_start_len(pending, CLOSE_TAG)
                    _add(out, ReasoningDelta(pending[:cut]))
                    self._pending = pending[cut:]
                    break
            else:
                _add(out, TextDelta(pending))
                self._pending = ""
        return out

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        """What was held back, as what it turned out to be: a tag that never completed is
        the text it was (reasoning inside a block, answer before one)."""
        pending, self._pending = self._pending, ""
        out: list[TextDelta | ReasoningDelta] = []
        if self._state == "reasoning":
            _add(out, ReasoningDelta(pending))
        elif self._state in ("start", "answer"):
            _add(out, TextDelta(pending))
        return out


def _tag_start_len(text: str, tag: str) -> int:
    """Length of the longest tail of ``text`` that is a proper start of ``tag``."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def _add(out: list[TextDelta | ReasoningDelta], event: TextDelta | ReasoningDelta) -> None:
    if event.text:
        out.append(event)
