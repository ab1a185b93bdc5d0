"""Run a provider through the real ``StreamPump`` as the app does, and collect what the
user would see (text, retry notes) and what the run store would keep (the record)."""

from __future__ import annotations

from dataclasses import dataclass, field

from chatlib.streaming.pump import StreamPump
from chatlib.runs.record import RunRecord
from chatlib.core.tokens import TokenCounter
from chatlib.core.types import Message, Settings

__all__ = ["Outcome", "run_pump", "stop_during_silence"]


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


def stop_during_silence(server, provider, frames: tuple[bytes, ...], settings: Settings,
                        counter: TokenCounter | None = None) -> None:
    """Once the server has sent ``frames`` (no text) and holds the connection silent, stop
    the pump: only an abort of the blocked read records the run within the hang guard, and
    the server sees the client go during its hold (it never finishes the reply)."""
    from tests.clocks import HANG_GUARD_S, wait_for

    pump = StreamPump(provider, [Message("user", "hi")], settings, counter=counter).start()
    wait_for(lambda: server.posts and server.posts[0].events_sent == len(frames),
             "the server sending its frames before its silence")
    pump.stop()
    record = pump.wait(HANG_GUARD_S)
    assert record is not None, "the stop did not cut the blocked read"
    assert record.status == "stopped" and record.text == ""
    assert server.disconnect.wait(HANG_GUARD_S)
    [post] = server.posts
    assert post.disconnected_at is not None and not post.finished
