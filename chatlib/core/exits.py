"""How a child process ended, in words for a message: the supervised model and the engine
both tell the user why their answer stopped."""

from __future__ import annotations

import signal

__all__ = ["exit_words"]


def exit_words(returncode: int) -> str:
    """``subprocess``'s return code in words: "signal SIGSEGV", or "exit status 1"."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"
