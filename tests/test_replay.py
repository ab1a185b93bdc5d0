"""Replay: a recorded run re-streamed on its recorded timing, through the one streaming path."""

import time

import pytest

from chatlib.providers.replay import ReplayProvider, replay_model
from chatlib.pump import StreamPump
from chatlib.record import RunRecord
from chatlib.types import Message, Settings

# Real-clock checks run on a shared 2-core machine: a replayed chunk may arrive late by a
# thread wake-up, never early. Tolerance stated here: early by <= 1 ms, late by <= 40 ms.
EARLY_S, LATE_S = 0.001, 0.040


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
    original = recording()
    record = replay(original).wait(10)
    assert record.status == "ok" and record.text == original.text
    assert record.chunk_texts == original.chunk_texts
    assert record.model == "openai/gpt-4o" == replay_model(original) and record.provider == "replay"
    for got, want in zip(record.chunk_offsets_s, original.chunk_offsets_s):
        assert want - EARLY_S <= got <= want + LATE_S, (got, want)
    # Deadlines from the start: 24 gaps' wake-up delays do not add up at the end.
    assert record.e2e_s - original.e2e_s <= LATE_S


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
    original = recording(chunk_offsets_s=[0.01, 30.0], chunk_texts=["first", "never"])
    pump = replay(original)
    deadline = time.monotonic() + 5
    while not pump.text and time.monotonic() < deadline:
        time.sleep(0.005)
    t = time.monotonic()
    pump.stop()
    record = pump.wait(5)
    assert record is not None and time.monotonic() - t < 1.0  # not the recorded 30 s
    assert record.status == "stopped" and record.text == "first"


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
