"""The streaming pump: timestamps where bytes arrive, coalesces for the UI, always records."""

import statistics
import threading
import time

from chatlib.errors import AuthError
from chatlib.pump import TRUNCATED_MESSAGE, StreamPump
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.record import RunRecord
from chatlib.tokens import FunctionCounter
from chatlib.types import Message, Retrying, Settings, TextDelta, Usage, Finish

MESSAGES = [Message("user", "hi")]
CHARS = FunctionCounter("chars", len)


class ClosingProbe:
    """A real provider (scripted underneath) that records when its stream is closed."""

    id = "probe"
    label = "probe"
    needs_key = False
    paid = False

    def __init__(self, script: Script) -> None:
        self.inner = ScriptedProvider(script)
        self.closed = threading.Event()
        self.sent = 0

    def models(self):
        return ["probe"]

    def stream(self, messages, settings):
        try:
            for event in self.inner.stream(messages, settings):
                if isinstance(event, TextDelta):
                    self.sent += 1
                yield event
        finally:
            self.closed.set()


def run(provider, **kwargs) -> tuple[list[str], RunRecord, list[RunRecord]]:
    saved: list[RunRecord] = []
    pump = StreamPump(provider, MESSAGES, Settings(model="scripted"), counter=CHARS,
                      on_done=saved.append, **kwargs).start()
    batches = [b for b in pump.text_batches() if b]
    return batches, pump.wait(5), saved


def test_recorded_times_follow_the_schedule_even_with_slow_rendering():
    script = Script(chunks=tuple(f"w{i} " for i in range(25)), first_delay_s=0.1, gap_s=0.02)
    saved: list[RunRecord] = []
    pump = StreamPump(ScriptedProvider(script), MESSAGES, Settings(model="s"),
                      on_done=saved.append).start()
    for _ in pump.text_batches():
        time.sleep(0.03)  # a slow renderer must not shift the recorded arrival times
    record = pump.wait(5)
    assert record is saved[0] and record.status == "ok"
    assert abs(record.ttft_s - 0.1) < 0.005
    gaps = [b - a for a, b in zip(record.chunk_offsets_s, record.chunk_offsets_s[1:])]
    assert abs(statistics.median(gaps) - 0.02) < 0.002
    assert abs(record.e2e_s - (0.1 + 24 * 0.02)) < 0.015
    assert record.text == "".join(script.chunks)
    assert (record.output_tokens, record.output_source) == (25, "usage")


def test_first_text_is_sent_at_once_then_batched():
    script = Script(chunks=tuple("x" * 60), first_delay_s=0.05, gap_s=0.002)
    batches, record, _ = run(ScriptedProvider(script), batch_s=0.04)
    assert batches[0] == "x"  # never held back
    assert "".join(batches) == "x" * 60
    # ~0.12 s of 2 ms chunks in 40 ms windows: a handful of batches, not 60 re-renders.
    assert 3 <= len(batches) <= 10


def test_stop_closes_the_provider_and_keeps_the_partial():
    probe = ClosingProbe(Script(chunks=tuple(f"{i} " for i in range(200)), gap_s=0.01))
    saved: list[RunRecord] = []
    pump = StreamPump(probe, MESSAGES, Settings(model="p"), counter=CHARS,
                      on_done=saved.append).start()
    seen = ""
    for batch in pump.text_batches():
        seen += batch
        if len(seen) > 20:
            break  # like Streamlit's StopException unwinding the UI generator
    pump.stop()
    record = pump.wait(5)
    assert probe.closed.wait(1), "the provider's stream was not closed"
    assert record.status == "stopped" and record.error is None
    assert record.text.startswith(seen) and 20 < len(record.text) < 200 * 3
    assert probe.sent < 200
    assert (record.output_tokens, record.output_source) == (len(record.text), "tokenizer")
    assert saved == [record]
    assert pump.text == record.text  # frozen: nothing is added after the stop


def test_closing_the_ui_generator_stops_the_pump():
    probe = ClosingProbe(Script(chunks=tuple("abc" * 100), gap_s=0.005))
    pump = StreamPump(probe, MESSAGES, Settings(model="p")).start()
    batches = pump.text_batches()
    next(batches)
    batches.close()
    assert pump.wait(5).status == "stopped" and probe.closed.is_set()


def test_fault_after_text_keeps_the_partial_and_the_message():
    script = Script(chunks=tuple("abcdefghij"), fault_at=4,
                    fault=AuthError("Your key was refused."))
    batches, record, saved = run(ScriptedProvider(script))
    assert "".join(batches) == "abcd" == record.text
    assert (record.status, record.error) == ("error", "Your key was refused.")
    assert saved == [record]


def test_stream_without_terminator_is_truncated_not_ok():
    script = Script(chunks=("partial ", "answer"), finish_reason=None)
    _, record, _ = run(ScriptedProvider(script))
    assert record.status == "error" and record.error == TRUNCATED_MESSAGE
    assert record.text == "partial answer"


def test_unexpected_exception_is_a_message_not_a_crash():
    class Broken(ClosingProbe):
        def stream(self, messages, settings):
            yield TextDelta("ok ")
            raise KeyError("choices")

    _, record, _ = run(Broken(Script(chunks=())))
    assert record.status == "error" and "Unexpected error (KeyError)" in record.error
    assert record.text == "ok "


def test_retry_notes_reach_the_ui_and_attempts_are_recorded():
    class Flaky(ClosingProbe):
        def stream(self, messages, settings):
            yield Retrying(attempt=2, max_attempts=3, reason="HTTP 503", wait_s=0.01)
            yield TextDelta("fine")
            yield Usage(input_tokens=7, output_tokens=1)
            yield Finish("stop")

    notes: list[str] = []
    pump = StreamPump(Flaky(Script(chunks=())), MESSAGES, Settings(model="f")).start()
    text = "".join(pump.text_batches(on_notice=notes.append))
    record = pump.wait(5)
    assert text == "fine" and notes == ["retrying (2/3): HTTP 503"]
    assert record.attempts == 2 and (record.input_tokens, record.input_source) == (7, "usage")


def test_input_tokens_fall_back_to_the_budget_count():
    _, record, _ = run(ScriptedProvider(Script(chunks=("a",))), input_tokens=42,
                       input_source="tokenizer")
    assert (record.input_tokens, record.input_source) == (42, "tokenizer")
    assert record.prompt == "hi" and record.settings["model"] == "scripted"
