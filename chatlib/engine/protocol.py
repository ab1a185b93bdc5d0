"""What the app process and its engine say to each other, over one socket pair
(``multiprocessing.connection``: length-prefixed pickles, both ends ours)::

    app -> engine   ("ask", answer_id, Recipe, messages, Settings)
                    ("stop", answer_id)
    engine -> app   a list of these, whatever was kept since the last write:
                    ("text", answer_id, offset_s, text)        offsets since the engine's t0
                    ("reasoning", answer_id, offset_s, text, redacted)
                    ("notice", answer_id, text)                 a retry note
                    ("end", answer_id, Outcome)                 last word on an answer

Every ask gets exactly one "end", unless the engine dies first: then the app ends the
answers it had in flight itself (``ENGINE_LOST_MESSAGE``), keeping the text that arrived.
"""

from __future__ import annotations

import time

from chatlib.core.types import Usage
from chatlib.streaming.pump import Outcome

__all__ = ["ASK", "STOP", "TEXT", "REASONING", "NOTICE", "END", "ENGINE_LOST_MESSAGE",
           "failed"]

ASK, STOP = "ask", "stop"
TEXT, REASONING, NOTICE, END = "text", "reasoning", "notice", "end"

ENGINE_LOST_MESSAGE = (
    "The process that reads answers stopped ({why}) while this answer streamed: the text "
    "that had arrived is kept. It restarts by itself; send the prompt again.")


def failed(error: str) -> Outcome:
    """The outcome of an answer that ended before any stream was read."""
    return Outcome(time.time(), "error", error, None, Usage(None, None), 1, complete=False)
