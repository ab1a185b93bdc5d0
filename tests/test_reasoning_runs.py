"""Reasoning through the one streaming path: the pump times thinking apart from the answer,
the record counts it apart, the metrics put each token in its own window, the store and the
export keep it, and a run that only thought is not an ``ok`` run with an empty answer.

Schedules run on a virtual clock, so every figure is exact (the issue's ±2 ms is met with
room to spare); the wire formats themselves are tested per provider."""

import json
import threading

import pytest

from chatlib.chat.answers import run_summary
from chatlib.stats.export import export_records
from chatlib.streaming.live import live_line, live_stats
from chatlib.runs.metrics import run_metrics
from chatlib.streaming.pump import StreamPump
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.runs.record import RunRecord
from chatlib.store import RunStore
from chatlib.core.tokens import FunctionCounter
from chatlib.core.types import Finish, Message, ReasoningDelta, Settings, TextDelta, Usage
from tests.clocks import HANG_GUARD_S, VirtualClock, wait_for

MESSAGES = [Message("user", "why?")]
WORDS = FunctionCounter("words", lambda text: len(text.split()))

# 5 thinking chunks from 100 ms, 20 ms apart, then 8 answer chunks 10 ms apart.
THINK = tuple(f"t{i} " for i in range(5))
ANSWER = tuple(f"a{i} " for i in range(8))
DELAYS = (0.1, 0.02, 0.02, 0.02, 0.02, 0.3, *([0.01] * 7))


class Events:
    """A provider streaming given events, each after its delay on a virtual clock."""

    id = "events"
    label = "events"
    needs_key = False
    paid = False

    def __init__(self, timed: list[tuple[float, object]], clock: VirtualClock) -> None:
        self.timed, self.clock = timed, clock

    def models(self):
        return ["m"]

    def stream(self, messages, settings):
        for delay, event in self.timed:
            self.clock.sleep(delay)
            yield event


def run_pump(provider, clock, *, max_tokens=256, reasoning_seen=None, stop_after=None):
    saved: list[RunRecord] = []
    pump = StreamPump(provider, MESSAGES, Settings(model="m", max_tokens=max_tokens),
                      counter=WORDS, on_done=saved.append, clock=clock).start()
    texts = []
    for batch in pump.text_batches(on_reasoning=(reasoning_seen.append
                                                 if reasoning_seen is not None else None)):
        texts.append(batch)
        if stop_after is not None and stop_after(pump):
            pump.stop()
    record = pump.wait(10)
    assert saved == [record]
    return pump, record, "".join(texts)


def scripted(**kwargs):
    clock = VirtualClock()
    script = Script(chunks=ANSWER, reasoning_chunks=THINK, delays_s=DELAYS, **kwargs)
    return ScriptedProvider(script, sleep=clock.sleep), clock


def test_thinking_is_timed_and_counted_apart_from_the_answer():
    provider, clock = scripted()
    thinking: list[str] = []
    pump, record, shown = run_pump(provider, clock, reasoning_seen=thinking)
    assert shown == "".join(ANSWER)  # the answer carries no thinking
    assert "".join(thinking) == "".join(THINK) == record.reasoning
    assert record.text == "".join(ANSWER)
    assert record.reasoning_offsets_s == pytest.approx([0.1, 0.12, 0.14, 0.16, 0.18])
    assert record.chunk_offsets_s == pytest.approx([0.48 + 0.01 * i for i in range(8)])
    # usage: 13 output tokens, 5 of them reasoning (the scripted API's report)
    assert (record.output_tokens, record.output_source) == (13, "usage")
    assert (record.reasoning_tokens, record.reasoning_source) == (5, "usage")
    assert not record.reasoning_hidden and record.status == "ok"
    m = record.metrics()
    assert m.ttft_s == pytest.approx(0.1)  # first token of any kind
    assert m.ttfat_s == pytest.approx(0.48)  # first answer token
    assert m.reasoning_s == pytest.approx(0.38)
    assert m.e2e_s == pytest.approx(0.55)
    assert (record.ttft_s, record.e2e_s) == (m.ttft_s, m.e2e_s)  # the record's shortcuts
    assert m.answer_tokens == 8
    # Every streamed token over the streamed window, not 13 tokens over the answer's 70 ms.
    assert m.tpot_s == pytest.approx((0.55 - 0.1) / 12)
    assert m.decode_tps == pytest.approx(12 / 0.45)
    assert m.answer_decode_tps == pytest.approx(7 / 0.07)
    assert m.itl_s == pytest.approx([0.01] * 7)  # answer chunks only
    summary = run_summary(record)
    assert "TTFT 100 ms" in summary and "first answer token 480 ms" in summary
    assert "reasoning 5 tokens (usage)" in summary


def test_thinking_reaches_a_reader_before_the_answer_text_that_followed_it():
    provider, clock = scripted()
    order: list[str] = []
    pump = StreamPump(provider, MESSAGES, Settings(model="m"), counter=WORDS,
                      clock=clock).start()
    for batch in pump.text_batches(on_reasoning=lambda t: order.append("think:" + t)):
        if batch:
            order.append("answer:" + batch)
    kinds = [entry.split(":")[0] for entry in order]
    assert kinds == sorted(kinds, key=lambda k: k != "think")  # every think before any answer
    assert "".join(e[6:] for e in order if e.startswith("think:")) == "".join(THINK)


def test_a_run_that_only_thought_is_flagged_not_ok():
    clock = VirtualClock()
    provider = Events([(0.1, ReasoningDelta("hmm ")), (0.02, ReasoningDelta("let me see")),
                       (0.0, Usage(9, 40, reasoning_tokens=40)), (0.0, Finish("length"))],
                      clock)
    _, record, shown = run_pump(provider, clock, max_tokens=40)
    assert shown == "" and record.text == ""
    assert record.status == "error"
    assert "all 40 output tokens thinking" in record.error
    assert (record.reasoning_tokens, record.output_tokens) == (40, 40)
    m = record.metrics()
    assert m.ttft_s == pytest.approx(0.1) and m.ttfat_s is None
    assert m.reasoning_s == pytest.approx(0.02)


def test_hidden_reasoning_is_flagged_and_left_out_of_the_streamed_window():
    # OpenAI's reasoning models: usage says 28 tokens, 20 of them reasoning, none streamed.
    clock = VirtualClock()
    timed = [(1.0, TextDelta("w0 "))] + [(0.01, TextDelta(f"w{i} ")) for i in range(1, 8)]
    timed += [(0.0, Usage(5, 28, reasoning_tokens=20)), (0.0, Finish("stop"))]
    _, record, _ = run_pump(Events(timed, clock), clock)
    assert record.reasoning_hidden and record.reasoning_tokens == 20
    m = record.metrics()
    assert m.ttft_s == pytest.approx(1.0) == m.ttfat_s  # includes the thinking: flagged
    assert m.answer_tokens == 8
    assert m.tpot_s == pytest.approx(0.07 / 7)  # 8 streamed tokens, not 28
    assert "reasoning hidden, 20 tokens" in run_summary(record)


def test_without_usage_thinking_and_answer_are_counted_and_labelled():
    provider, clock = scripted(report_usage=False)
    _, record, _ = run_pump(provider, clock)
    assert (record.reasoning_tokens, record.reasoning_source) == (5, "tokenizer")
    assert (record.output_tokens, record.output_source) == (13, "tokenizer")


def test_stopped_while_thinking_keeps_the_thinking_and_counts_it():
    clock, gate = VirtualClock(), threading.Event()

    def timed():
        yield 0.1, ReasoningDelta("one two ")
        gate.wait(HANG_GUARD_S)  # the model still thinking when the user stops
        yield 0.02, ReasoningDelta("three")
        yield 0.02, TextDelta("never shown")

    pump = StreamPump(Events(timed(), clock), MESSAGES, Settings(model="m"), counter=WORDS,
                      clock=clock).start()
    wait_for(lambda: pump.reasoning, "the first thinking")
    pump.stop()
    gate.set()
    record = pump.wait(HANG_GUARD_S)
    assert record.status == "stopped" and record.text == ""
    assert record.reasoning == "one two "
    assert (record.reasoning_tokens, record.reasoning_source) == (2, "tokenizer")


def test_redacted_thinking_is_hidden_and_uncounted():
    clock = VirtualClock()
    timed = [(0.2, ReasoningDelta("", redacted=True)), (0.3, TextDelta("ok"))]
    timed += [(0.0, Finish("end_turn"))]  # no usage: the thinking's share is unknown
    _, record, _ = run_pump(Events(timed, clock), clock)
    assert record.reasoning_hidden and record.reasoning_tokens is None
    assert record.output_tokens is None  # never a count that leaves the thinking out
    assert record.metrics().reasoning_s == pytest.approx(0.3)


def test_the_live_line_names_the_phase_with_its_time():
    clock, thought, answered = VirtualClock(), threading.Event(), threading.Event()

    def timed():
        yield 0.1, ReasoningDelta("one two ")
        thought.wait(HANG_GUARD_S)
        yield 0.5, TextDelta("yes it is")
        answered.wait(HANG_GUARD_S)
        yield 0.0, Finish("stop")

    pump = StreamPump(Events(timed(), clock), MESSAGES, Settings(model="m"), counter=WORDS,
                      clock=clock).start()
    wait_for(lambda: pump.reasoning, "the first thinking")
    clock.sleep(0.2)  # the user watches for 200 ms
    line = live_line(live_stats(pump))
    assert line.startswith("🧠 Thinking 0.2 s") and "TTFT 100 ms" in line
    assert "2 tokens so far (tokenizer)" in line
    thought.set()
    wait_for(lambda: pump.text, "the answer")
    line = live_line(live_stats(pump))
    assert line.startswith("🔴 Answering 0.0 s") and "5 tokens so far (tokenizer)" in line
    answered.set()
    pump.wait(HANG_GUARD_S)


def test_store_and_export_keep_thinking_and_its_figures(tmp_path):
    provider, clock = scripted()
    store = RunStore(tmp_path / "runs.sqlite3")
    _, record, _ = run_pump(provider, clock)
    store.add(record)
    back = store.get(record.id)
    assert back.reasoning == record.reasoning
    assert back.reasoning_offsets_s == record.reasoning_offsets_s
    assert back.metrics() == record.metrics()
    row = store.runs().iloc[0]
    assert row.ttfat_s == pytest.approx(0.48) and row.reasoning_s == pytest.approx(0.38)
    assert row.reasoning_tokens == 5 and row.answer_tokens == 8
    (exported,) = list(export_records(store))
    assert exported["reasoning_offsets_s"] == record.reasoning_offsets_s
    # Every figure recomputes from the export alone.
    again = run_metrics(exported["chunk_offsets_s"], exported["output_tokens"],
                        reasoning_offsets_s=exported["reasoning_offsets_s"],
                        reasoning_tokens=exported["reasoning_tokens"],
                        reasoning_hidden=exported["reasoning_hidden"])
    assert again.ttfat_s == exported["ttfat_s"] and again.tpot_s == exported["tpot_s"]
    assert json.dumps(exported)  # JSON-safe


def test_runs_without_reasoning_keep_the_classic_figures():
    m = run_metrics([0.1, 0.2, 0.3], 5)
    assert (m.ttft_s, m.e2e_s, m.ttfat_s, m.reasoning_s) == (0.1, 0.3, 0.1, None)
    assert m.tpot_s == pytest.approx(0.05) and m.decode_tps == pytest.approx(20.0)


def _watch_a_thinking_answer(slot_above: bool) -> None:
    """An AppTest script: stream a thinking model's answer with its live line (under it,
    or in a slot above it as a compare column has) and note, in order, what the page draws:
    each line, each update of the thinking block, each update of the answer."""
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    import ui.streaming
    from chatlib.core.types import Settings
    from chatlib.providers.scripted import Script, ScriptedProvider
    from chatlib.streaming.pump import StreamPump

    drawn: list[tuple[str, str]] = st.session_state.setdefault("drawn", [])
    line, add, markdown = (ui.streaming.live_line, ui.streaming._ThinkingBlock.add,
                           DeltaGenerator._markdown)

    def noted_line(stats):
        drawn.append(("line", line(stats)))
        return drawn[-1][1]

    def noted_add(self, delta):
        drawn.append(("thinking", delta))
        return add(self, delta)

    def noted_markdown(self, body, *args, **kwargs):
        if kwargs.get("unterminated_parsing"):  # st.write_stream's growing answer
            drawn.append(("answer", body))
        return markdown(self, body, *args, **kwargs)

    ui.streaming.live_line = noted_line
    ui.streaming._ThinkingBlock.add = noted_add
    DeltaGenerator._markdown = noted_markdown
    try:
        # Nothing for 0.8 s, thinking for 0.6 s, then the answer over 0.6 s.
        script = Script(chunks=tuple(f"a{i} " for i in range(20)), first_delay_s=0.8,
                        gap_s=0.03, reasoning_chunks=tuple(f"t{i} " for i in range(20)))
        pump = StreamPump(ScriptedProvider(script), [], Settings(model="m")).start()
        if slot_above:
            ui.streaming.stream_answer(pump, stop_on_close=False, live=True,
                                       live_slot=st.empty())
        else:
            ui.streaming.stream_answer(pump, stop_on_close=False, live=True)
    finally:
        ui.streaming.live_line = line
        ui.streaming._ThinkingBlock.add = add
        DeltaGenerator._markdown = markdown


@pytest.mark.parametrize("slot_above", [False, True], ids=["chat", "compare column"])
def test_the_live_line_names_the_phase_the_answer_is_in_when_it_is_seen(slot_above):
    """Issue 25: "⏳ Waiting for the first token… 0.0 s" while thinking streamed, and
    "Thinking 1.1 s" under a finished "Thought for 1.3 s" with the answer visible. The line
    is redrawn as soon as the phase changes: every update of the thinking block after its
    first is under a "Thinking" line, every update of the answer under an "Answering" one
    (or "Ended": the last text may be drawn after the run ended)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_watch_a_thinking_answer, args=(slot_above,),
                               default_timeout=HANG_GUARD_S).run()
    assert not at.exception
    drawn = at.session_state["drawn"]
    kinds = [kind for kind, _ in drawn]
    assert "thinking" in kinds and "answer" in kinds and "line" in kinds
    last_line = None
    seen_thinking = seen_answer = False
    for kind, body in drawn:
        if kind == "line":
            last_line = body
            if seen_thinking:
                assert not body.startswith("⏳ Waiting"), drawn
            if seen_answer:
                assert not body.startswith("🧠 Thinking"), drawn
        elif kind == "thinking":
            if seen_thinking:  # the line has had its chance to follow the first
                assert last_line is not None and last_line.startswith("🧠 Thinking"), drawn
            seen_thinking = True
        else:
            assert last_line is not None and last_line.startswith(("🔴 Answering", "Ended")), drawn
            seen_answer = True
    assert last_line.startswith("Ended") if slot_above else True  # left for its caller
