"""Replay: a recorded run re-streamed on its recorded timing, through the one streaming path."""

import threading
import time

import pytest

from chatlib.providers.replay import ReplayProvider, replay_model
from chatlib.streaming.pump import StreamPump
from chatlib.runs.record import RunRecord
from chatlib.core.types import Message, Settings
from tests.clocks import HANG_GUARD_S, VirtualClock, wait_for


class VirtualWait:
    """Stands in for a replay stream's abort event: a wait for the next chunk advances the
    virtual clock by the time asked plus ``late_s`` (every wake-up late, as on a loaded
    machine) instead of sleeping; a real abort still ends it."""

    def __init__(self, real: threading.Event, clock: VirtualClock, late_s: float) -> None:
        self.real, self.clock, self.late_s = real, clock, late_s

    def wait(self, timeout: float) -> bool:
        if not self.real.is_set():
            self.clock.sleep(timeout + self.late_s)
        return self.real.is_set()

    def set(self) -> None:
        self.real.set()

    def is_set(self) -> bool:
        return self.real.is_set()


class VirtualReplay(ReplayProvider):
    """A ReplayProvider on a virtual clock: exact times whatever the load. Its stream waits
    on ``ReplayStream._aborted``; that one wait is replaced (see ``VirtualWait``). Were the
    stream to wait some other way, it would wait in real time while the clock stood
    still: every offset 0, and the timing test fails rather than passes by mistake."""

    def __init__(self, record: RunRecord, clock: VirtualClock, late_s: float) -> None:
        super().__init__(record, clock=clock)
        self.virtual_clock, self.late_s = clock, late_s

    def stream(self, messages, settings):
        stream = super().stream(messages, settings)
        stream._aborted = VirtualWait(stream._aborted, self.virtual_clock, self.late_s)
        return stream


def recording(**kw) -> RunRecord:
    offsets = [0.08 + 0.015 * i for i in range(25)]
    fields = dict(provider="openai", model="gpt-4o", settings={"model": "gpt-4o"}, status="ok",
                  created_at=time.time() - 5, chunk_offsets_s=offsets,
                  chunk_texts=[f"w{i} " for i in range(25)], finish_reason="stop",
                  input_tokens=17, input_source="usage", output_tokens=25, output_source="usage",
                  prompt="original prompt")
    fields.update(kw)
    return RunRecord(**fields)


def replay(record: RunRecord, **pump_kw) -> StreamPump:
    provider = ReplayProvider(record)
    settings = Settings(model=provider.models()[0])
    return StreamPump(provider, [Message("user", "ignored")], settings, **pump_kw).start()


def test_replay_restreams_the_text_on_its_recorded_timing():
    # On a virtual clock where every wait wakes 4 ms late, deadlines from the start keep
    # each chunk exactly 4 ms late. Sleeping gap by gap would add the lateness up (the last
    # chunk 25 x 4 ms late); ignoring the schedule would put the chunks at 0.
    original = recording()
    clock = VirtualClock()
    provider = VirtualReplay(original, clock, late_s=0.004)
    record = StreamPump(provider, [Message("user", "ignored")],
                        Settings(model=provider.models()[0]), clock=clock).start().wait(10)
    assert record.status == "ok" and record.text == original.text
    assert record.chunk_texts == original.chunk_texts
    assert record.model == "openai/gpt-4o" == replay_model(original) and record.provider == "replay"
    want = [offset + 0.004 for offset in original.chunk_offsets_s]
    assert record.chunk_offsets_s == pytest.approx(want, abs=1e-9)


def test_replay_reports_the_recordings_counts_with_their_source():
    record = replay(recording()).wait(10)
    assert (record.output_tokens, record.output_source) == (25, "usage")
    assert (record.input_tokens, record.input_source) == (17, "usage")
    record = replay(recording(output_tokens=30, output_source="tokenizer",
                              input_source="estimate")).wait(10)
    assert (record.output_tokens, record.output_source) == (30, "tokenizer")


def test_a_failed_recording_fails_again_after_its_partial_text():
    original = recording(status="error", error="The provider is overloaded (529).",
                         chunk_offsets_s=[0.01, 0.02], chunk_texts=["par", "tial"],
                         finish_reason=None)
    record = replay(original).wait(10)
    assert record.status == "error" and record.text == "partial"
    assert record.error == "The provider is overloaded (529). (replayed)"


def test_stop_during_a_long_recorded_gap_ends_the_replay_at_once():
    # Real time: the replay waits 30 s for its second chunk. The record must come within
    # the hang guard (10 s, a third of the gap): only a stop that cannot cut the wait
    # short misses it, and then the replay would also have sent "never".
    original = recording(chunk_offsets_s=[0.01, 30.0], chunk_texts=["first", "never"])
    pump = replay(original)
    wait_for(lambda: pump.text, "the first chunk")
    pump.stop()
    record = pump.wait(HANG_GUARD_S)
    assert record is not None, "the stop did not end the recorded 30 s wait"
    assert record.status == "stopped" and record.chunk_texts == ["first"]


def test_speed_must_be_positive():
    with pytest.raises(ValueError):
        ReplayProvider(recording(), speed=0)


# -- the chat page ----------------------------------------------------------------------------
def test_chat_page_replays_a_recorded_run_offline(app_test, store):
    original = recording(chunk_offsets_s=[0.02, 0.04, 0.06, 0.08],
                         chunk_texts=["Hello", " from", " the", " recording."])
    store.add(original)
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("replay").run()
    assert not at.exception
    picker = at.sidebar.selectbox(key="replay_run")
    assert picker.value == original.id and "openai/gpt-4o" in picker.format_func(original.id)
    at.chat_input[0].set_value("whatever I ask").run()
    assert not at.exception
    answer = at.chat_message[1]
    assert "\n".join(m.value for m in answer.markdown).strip() == "Hello from the recording."
    runs = store.runs().set_index("provider")
    assert runs.loc["replay", "model"] == "openai/gpt-4o" and runs.loc["replay", "status"] == "ok"
    assert f'"replay_of": "{original.id}"' in runs.loc["replay", "settings_json"]


def test_replay_with_an_empty_store_says_what_to_do(app_test, store):
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("replay").run()
    at.chat_input[0].set_value("hi").run()
    assert not at.exception
    assert "No recorded run to replay yet" in at.chat_message[1].error[0].value
