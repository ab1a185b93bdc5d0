"""Reasoning measured through the real SDKs and the pump, one wire format at a time: the
thinking is timestamped where its bytes arrive (not held back until the answer starts), the
answer's first token is TTFAT, and the counts are right.

No wall-clock bound is asserted: each arrival is compared with when the wire server sent that
frame, on the same monotonic clock (an arrival is never before its send, by causality). The
answer is sent 0.6 s after the last thinking frame, so a reader that held the thinking back
until the answer started would be caught by any amount of load short of a 0.6 s stall.
The figures' exactness to the schedule is tested on a virtual clock (test_reasoning_runs).
"""

from __future__ import annotations

import threading
import time

import pytest

from chatlib.providers.anthropic_provider import AnthropicProvider
from chatlib.providers.openai_provider import OpenAIProvider
from chatlib.streaming.pump import StreamPump
from chatlib.runs.record import RunRecord
from chatlib.core.tokens import FunctionCounter
from chatlib.core.types import Message, Settings
from tests.clocks import HANG_GUARD_S
from tests.wire import anthropic_wire as aw
from tests.wire import openai_wire as ow
from tests.wire.server import Reply, WireServer

WORDS = FunctionCounter("words", lambda text: len(text.split()))
PAUSE_S = 0.6  # between the last thinking frame and the first answer frame
THINKING = ["Two plus ", "two is ", "four."]
ANSWER = ["It is", " 4."]


class ReaderClock:
    """``time.monotonic``, noting the first reading the pump's reader thread takes: its t0."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self._caller = threading.get_ident()

    def __call__(self) -> float:
        now = time.monotonic()
        if self.t0 is None and threading.get_ident() != self._caller:
            self.t0 = now
        return now


def openai_frames(kind: str) -> tuple[tuple[bytes, ...], int]:
    """The frames of one answer in ``kind``'s form, and the index of the first answer frame."""
    if kind == "think-tags":  # R1-style, in content, the tags cut across chunks
        texts = ["<thi", "nk>" + THINKING[0], THINKING[1], THINKING[2] + "</th", "ink>\n\n",
                 *ANSWER]
        return ow.stream(texts, usage=(9, 12)), 1 + 5
    frames = ow.stream(ANSWER, usage=(9, 12), reasoning=THINKING, reasoning_field=kind,
                       reasoning_tokens=7)
    return frames, 1 + len(THINKING)


def anthropic_frames() -> tuple[tuple[bytes, ...], int]:
    frames = aw.stream(ANSWER, output_tokens=12, before=aw.thinking_block(THINKING))
    # message_start, thinking start, 3 deltas, signature, stop, then the text block's start
    first_answer = next(i for i, f in enumerate(frames) if b'"text_delta"' in f)
    return frames, first_answer


def delays(frames: tuple[bytes, ...], first_answer: int) -> tuple[float, ...]:
    return tuple(PAUSE_S if i == first_answer else 0.01 for i in range(len(frames)))


def measure(provider, server: WireServer, frames, first_answer, settings) -> RunRecord:
    server.script(Reply(events=frames, delays_s=delays(frames, first_answer)))
    clock = ReaderClock()
    pump = StreamPump(provider, [Message("user", "2+2?")], settings, counter=WORDS,
                      clock=clock).start()
    text = "".join(pump.text_batches())
    record = pump.wait(HANG_GUARD_S)
    assert record is not None and record.status == "ok" and text == "".join(ANSWER)
    sent = server.posts[0].sent_at
    arrivals = [clock.t0 + o for o in record.reasoning_offsets_s]
    thinking_sent = [t for i, t in enumerate(sent) if i < first_answer]
    # Each thinking chunk arrived after it was sent and before the answer was even sent.
    assert arrivals and arrivals[0] >= thinking_sent[0]
    assert arrivals[-1] < sent[first_answer], "the thinking was held back until the answer"
    m = record.metrics()
    assert m.ttft_s == record.reasoning_offsets_s[0]
    assert clock.t0 + m.ttfat_s >= sent[first_answer]  # TTFAT: the first answer token
    assert m.reasoning_s == pytest.approx(m.ttfat_s - m.ttft_s)
    assert record.reasoning == "".join(THINKING) and record.text == "".join(ANSWER)
    return record


@pytest.fixture
def server():
    with WireServer() as srv:
        yield srv


@pytest.mark.parametrize("kind", ["reasoning_content", "reasoning", "think-tags"])
def test_openai_compatible_reasoning_is_timed_where_it_arrives(server, kind):
    provider = OpenAIProvider(api_key="sk-test", base_url=server.url + "/v1", paid=False)
    frames, first_answer = openai_frames(kind)
    record = measure(provider, server, frames, first_answer, Settings(model="m"))
    assert (record.output_tokens, record.output_source) == (12, "usage")
    if kind == "think-tags":  # no separate count from the server: counted, and labelled so
        assert (record.reasoning_tokens, record.reasoning_source) == (5, "tokenizer")
    else:
        assert (record.reasoning_tokens, record.reasoning_source) == (7, "usage")
    assert record.metrics().answer_tokens == 12 - record.reasoning_tokens
    provider.close()


def test_anthropic_thinking_is_timed_where_it_arrives(server):
    provider = AnthropicProvider(api_key="sk-ant-test", base_url=server.url)
    frames, first_answer = anthropic_frames()
    settings = Settings(model="claude-sonnet-4-6", max_tokens=4096,
                        extra={"thinking_budget": 2048})
    record = measure(provider, server, frames, first_answer, settings)
    assert server.posts[0].json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    # Anthropic reports thinking inside output_tokens only: the thinking part is counted.
    assert (record.output_tokens, record.output_source) == (12, "usage")
    assert (record.reasoning_tokens, record.reasoning_source) == (5, "tokenizer")
    provider.close()


def test_openai_hidden_reasoning_is_flagged_with_its_count(server):
    provider = OpenAIProvider(api_key="sk-test", base_url=server.url + "/v1", paid=False)
    server.script(Reply(events=ow.stream(ANSWER, usage=(9, 40), reasoning_tokens=38)))
    pump = StreamPump(provider, [Message("user", "2+2?")], Settings(model="o4-mini"),
                      counter=WORDS).start()
    "".join(pump.text_batches())
    record = pump.wait(HANG_GUARD_S)
    assert record.reasoning_hidden and record.reasoning_tokens == 38
    m = record.metrics()
    assert m.ttft_s == m.ttfat_s and m.answer_tokens == 2 and m.reasoning_s is None
    provider.close()


def test_prompt_cache_hits_are_recorded_for_the_validity_flags(server):
    # OpenAI: prompt_tokens_details.cached_tokens (part of prompt_tokens).
    server.script(Reply(events=(*ow.stream(ANSWER, usage=None, done=False),
                                ow.usage_chunk(1200, 2, cached=1024), ow.DONE)))
    provider = OpenAIProvider(api_key="sk-test", base_url=server.url + "/v1", paid=False)
    pump = StreamPump(provider, [Message("user", "2+2?")], Settings(model="m"),
                      counter=WORDS).start()
    "".join(pump.text_batches())
    record = pump.wait(HANG_GUARD_S)
    assert (record.input_tokens, record.cached_input_tokens) == (1200, 1024)
    provider.close()
    # Anthropic: cache_read_input_tokens beside input_tokens (both are input).
    server.script(Reply(events=aw.stream(ANSWER, input_tokens=30, cache_read=2048)))
    anthropic = AnthropicProvider(api_key="sk-ant-test", base_url=server.url)
    pump = StreamPump(anthropic, [Message("user", "2+2?")],
                      Settings(model="claude-sonnet-4-6", max_tokens=64), counter=WORDS).start()
    "".join(pump.text_batches())
    record = pump.wait(HANG_GUARD_S)
    assert (record.input_tokens, record.cached_input_tokens) == (30 + 2048, 2048)
    anthropic.close()
