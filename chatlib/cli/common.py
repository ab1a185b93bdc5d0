"""What every command line of Chat Lab's says the same way: bad input in one line (no usage
block, so a CI log stays short) with exit status 2, and a fault in a person's words."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from chatlib.core.errors import ProviderError

__all__ = ["EXIT_BAD_INPUT", "OneLineParser", "problem"]

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: "<name>: error: … (see --help)"."""

    def __init__(self, *args: Any, name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = name

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.name}: error: {message} (see --help)\n")


def problem(exc: BaseException) -> str:
    """What went wrong, for a person: a provider's own message, a file's name and reason."""
    if isinstance(exc, ProviderError):
        return exc.user_message
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)
