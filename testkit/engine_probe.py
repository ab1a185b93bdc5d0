"""A provider for the engine's tests that says which process read it: built again in the
engine from its recipe (importable there: the engine runs from the repo's root, as the app)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from chatlib.core.types import Event, Finish, Message, Settings, TextDelta
from chatlib.providers.base import Recipe

__all__ = ["PidProvider"]


class PidProvider:
    """Answers with the id of the process its stream runs in."""

    id = "pid-probe"
    label = "Which process reads me"
    needs_key = False
    paid = False

    def models(self) -> list[str]:
        return ["pid"]

    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        yield TextDelta(str(os.getpid()))
        yield Finish("stop")

    def engine_recipe(self) -> Recipe:
        return Recipe(PidProvider)
