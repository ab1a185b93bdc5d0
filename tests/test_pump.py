"""The streaming pump: timestamps where bytes arrive, coalesces for the UI, always records."""

import threading
import time

import pytest

from chatlib.core.errors import AuthError
from chatlib.streaming.pump import TRUNCATED_MESSAGE, StreamPump
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.runs.record import RunRecord
from chatlib.core.tokens import FunctionCounter
from chatlib.core.types import Message, Retrying, Settings, TextDelta, Usage, Finish
from tests.clocks import HANG_GUARD_S, VirtualClock, wait_for

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
    # The provider sleeps on a virtual clock, the pump reads the same clock: arrival times
    # are exact, whatever the load. The renderer is as slow as can be: its first render
    # lasts until the reader has finished the whole answer, each later one takes 30 ms.
    # Arrival-time stamps still give the schedule exactly. Stamps taken at render time
    # would not: after the stalled first render the clock is at the answer's end (0.58 s),
    # so the other 24 chunks would get that time plus 30 ms steps, in fewer batches than
    # chunks. A reader that waited for the renderer would never finish during the stall
    # (the hang guard fails the test).
    script = Script(chunks=tuple(f"w{i} " for i in range(25)), first_delay_s=0.1, gap_s=0.02)
    clock = VirtualClock()
    saved: list[RunRecord] = []
    pump = StreamPump(ScriptedProvider(script, sleep=clock.sleep), MESSAGES,
                      Settings(model="s"), on_done=saved.append, clock=clock).start()
    stalled = False
    for batch in pump.text_batches():
        if batch and not stalled:
            wait_for(lambda: saved, "the reader finishing while the renderer is stuck")
            stalled = True
        if stalled:  # idle polls before the first text take no time: the reader is running
            clock.sleep(0.03)
    record = pump.wait(HANG_GUARD_S)
    assert record is saved[0] and record.status == "ok"
    assert record.ttft_s == pytest.approx(0.1, abs=1e-9)
    gaps = [b - a for a, b in zip(record.chunk_offsets_s, record.chunk_offsets_s[1:])]
    assert gaps == pytest.approx([0.02] * 24, abs=1e-9)
    assert record.e2e_s == pytest.approx(0.1 + 24 * 0.02, abs=1e-9)
    assert record.text == "".join(script.chunks)
    assert (record.output_tokens, record.output_source) == (25, "usage")


class HeldAfterFirst(ClosingProbe):
    """Sends its first chunk, then waits until the test has rendered it (``shown``) before
    sending the rest."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.shown = threading.Event()

    def stream(self, messages, settings):
        for i, event in enumerate(super().stream(messages, settings)):
            yield event
            if i == 0 and not self.shown.wait(HANG_GUARD_S):
                raise AssertionError("hang guard: the first text was never rendered")


def test_first_text_is_sent_at_once_then_batched():
    # The rest of the answer waits until the first chunk has been rendered, so a pump that
    # held the first text back for its window would never render it (the provider's hang
    # guard fails the run). The window is far longer than the rest of the answer (~0.12 s
    # of 2 ms chunks, vs 30 s: the UI side times it with real waits, which no virtual clock
    # replaces), so whatever the load the other 59 chunks come in one batch; unbatched,
    # there would be 59 more re-renders.
    probe = HeldAfterFirst(Script(chunks=tuple("x" * 60), first_delay_s=0.05, gap_s=0.002))
    pump = StreamPump(probe, MESSAGES, Settings(model="scripted"), batch_s=30.0).start()
    batches = []
    for batch in pump.text_batches():
        if batch:
            batches.append(batch)
            probe.shown.set()
    record = pump.wait(HANG_GUARD_S)
    assert record.status == "ok" and record.text == "x" * 60
    assert batches == ["x", "x" * 59]


def test_stop_closes_the_provider_and_keeps_the_partial():
    # 1000 chunks 10 ms apart: 10 s of stream, against a stop that takes effect at the next
    # chunk. Only a stop that does not stop the provider reaches the end.
    probe = ClosingProbe(Script(chunks=tuple(f"{i} " for i in range(1000)), gap_s=0.01))
    saved: list[RunRecord] = []
    pump = StreamPump(probe, MESSAGES, Settings(model="p"), counter=CHARS,
                      on_done=saved.append).start()
    seen = ""
    for batch in pump.text_batches():
        seen += batch
        if len(seen) > 20:
            break  # like Streamlit's StopException unwinding the UI generator
    pump.stop()
    record = pump.wait(HANG_GUARD_S)
    assert probe.closed.wait(HANG_GUARD_S), "the provider's stream was not closed"
    assert record.status == "stopped" and record.error is None
    assert record.text.startswith(seen) and 20 < len(record.text)
    assert len(record.chunk_texts) < 1000 and probe.sent < 1000
    assert (record.output_tokens, record.output_source) == (len(record.text), "tokenizer")
    assert saved == [record]
    assert pump.text == record.text  # frozen: nothing is added after the stop


def test_closing_the_ui_generator_stops_the_pump():
    # 3000 chunks 5 ms apart (15 s), closed after the first batch: only a close that does
    # not stop the pump lets the answer finish ("ok").
    probe = ClosingProbe(Script(chunks=tuple("abc" * 1000), gap_s=0.005))
    pump = StreamPump(probe, MESSAGES, Settings(model="p")).start()
    batches = pump.text_batches()
    next(batches)
    batches.close()
    assert pump.wait(HANG_GUARD_S).status == "stopped" and probe.closed.is_set()


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


def test_a_stream_that_says_when_its_bytes_arrived_is_timed_by_that():
    """The events' own arrival times (``arrived_at``, as an HTTP provider's stream gives
    them) are the offsets, not the moment the reader got the parsed event."""
    arrivals: list[float] = []

    class Arriving:
        arrived_at: float | None = None

        def __init__(self) -> None:
            self._events = iter([TextDelta("a"), TextDelta("b"), Finish("stop")])

        def __iter__(self):
            return self

        def __next__(self):
            event = next(self._events)
            self.arrived_at = time.monotonic()
            arrivals.append(self.arrived_at)
            time.sleep(0.01)  # the parse, after the bytes came
            return event

    class Provider:
        id, label, needs_key, paid = "arriving", "Arriving", False, False

        def models(self):
            return ["m"]

        def stream(self, messages, settings):
            return Arriving()

    pump = StreamPump(Provider(), [Message("user", "hi")], Settings(model="m")).start()
    record = pump.wait(HANG_GUARD_S)
    assert record is not None and record.status == "ok"
    assert record.chunk_offsets_s == [a - pump.t0 for a in arrivals[:2]]
