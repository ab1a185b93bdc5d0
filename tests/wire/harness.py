"""Run a provider through the real ``StreamPump`` as the app does, and collect what the
user would see (text, retry notes) and what the run store would keep (the record)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chatlib.pump import StreamPump
from chatlib.record import RunRecord
from chatlib.tokens import TokenCounter
from chatlib.types import Message, Settings

__all__ = ["Outcome", "run_pump"]


@dataclass
class Outcome:
    text: str
    record: RunRecord
    notes: list[str] = field(default_factory=list)


def run_pump(provider, settings: Settings, counter: TokenCounter | None = None,
             messages: list[Message] | None = None, timeout_s: float = 10) -> Outcome:
    saved: list[RunRecord] = []
    pump = StreamPump(provider, messages or [Message("user", "hi")], settings, counter=counter,
                      on_done=saved.append).start()
    notes: list[str] = []
    text = "".join(pump.text_batches(on_notice=notes.append))
    record = pump.wait(timeout_s)
    assert record is not None and saved == [record], "the pump must always record the run"
    return Outcome(text, record, notes)
