"""The Anthropic path's fault table: the real ``anthropic`` SDK against a local server that
speaks the Messages streaming wire format (``event:`` + ``data:`` frames), one scripted
fault per case, through the real ``StreamPump``. Asserts what the user sees and what the
run store keeps."""

from __future__ import annotations

import json
import re

import pytest

from chatlib.core.errors import ConfigError
from chatlib.providers.anthropic_provider import AnthropicProvider
from chatlib.providers.catalog import PRESETS, KeyChoice, build_provider, counter_for_model
from chatlib.providers.http_stream import RetryPolicy
from chatlib.streaming.pump import TRUNCATED_MESSAGE, StreamPump
from chatlib.core.types import Finish, Message, ReasoningDelta, Retrying, Settings, TextDelta, Usage
from tests.clocks import HANG_GUARD_S, Recorded
from tests.wire import anthropic_wire as aw
from tests.wire.harness import run_pump, stop_during_silence
from tests.wire.server import Reply, WireServer, free_port

KEY = "sk-ant-test-0123456789abcdef"
FAST = RetryPolicy(base_s=0.01, cap_s=0.05)
SETTINGS = Settings(model="claude-sonnet-4-6", temperature=1.4, max_tokens=64)
COUNTER = counter_for_model(PRESETS["anthropic"], "claude-sonnet-4-6")  # an estimate
_made: list[AnthropicProvider] = []


@pytest.fixture(autouse=True)
def close_clients():
    yield
    while _made:
        _made.pop().close()


@pytest.fixture
def server():
    with WireServer(lambda: aw.models_body(["claude-sonnet-4-6", "claude-haiku-4-5"])) as srv:
        yield srv


def provider(srv_url: str, **kwargs) -> AnthropicProvider:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("read_timeout_s", 2.0)
    p = AnthropicProvider(api_key=KEY, base_url=srv_url, **kwargs)
    _made.append(p)
    return p


def test_normal_stream_reports_usage_from_the_final_message(server):
    server.script(Reply(events=aw.stream(["Hello", ", ", "world"], input_tokens=25,
                                         output_tokens=4, stop_reason="end_turn")))
    out = run_pump(provider(server.url), SETTINGS, COUNTER,
                   [Message("system", "Be brief."), Message("user", "hi"),
                    Message("assistant", ""), Message("user", "again")])
    assert out.text == "Hello, world" and out.notes == []
    r = out.record
    assert (r.status, r.error, r.attempts, r.finish_reason) == ("ok", None, 1, "end_turn")
    assert (r.input_tokens, r.input_source) == (25, "usage")
    assert (r.output_tokens, r.output_source) == (4, "usage")
    [post] = server.posts
    assert post.path == "/v1/messages" and KEY in post.headers.get("authorization", "") + \
        post.headers.get("x-api-key", "")
    body = post.json
    assert body["max_tokens"] == 64 and body["stream"] is True
    assert body["temperature"] == 1.0  # clamped to Anthropic's 0-1
    assert body["system"] == "Be brief."  # top-level, not a message
    assert body["messages"] == [{"role": "user", "content": "hi"},
                                {"role": "user", "content": "again"}]  # empty turn left out


def test_prompt_cache_tokens_count_as_input(server):
    frames = list(aw.stream(["ok"]))
    frames[0] = aw.event("message_start", {"message": {
        "id": "m", "type": "message", "role": "assistant", "model": "c", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 5, "cache_read_input_tokens": 100,
                  "cache_creation_input_tokens": 20, "output_tokens": 1}}})
    server.script(Reply(events=tuple(frames)))
    assert run_pump(provider(server.url), SETTINGS, COUNTER).record.input_tokens == 125


def test_a_server_without_usage_is_counted_and_labelled_an_estimate(server):
    """An Anthropic-compatible proxy that leaves usage out: the answer is still complete."""
    frames = [
        b'event: message_start\ndata: {"type": "message_start", "message": {"id": "m", "type": '
        b'"message", "role": "assistant", "model": "c", "content": []}}\n\n',
        aw.text_delta("Hi there"),
        aw.event("message_delta", {"delta": {"stop_reason": "end_turn"}}),
        aw.event("message_stop", {}),
    ]
    server.script(Reply(events=tuple(frames)))
    r = run_pump(provider(server.url), SETTINGS, COUNTER).record
    assert r.status == "ok" and r.text == "Hi there" and r.finish_reason == "end_turn"
    assert (r.output_tokens, r.output_source) == (COUNTER.count("Hi there"), "estimate")


def test_refused_connection_is_retried_then_says_what_to_check():
    out = run_pump(provider(f"http://127.0.0.1:{free_port()}"), SETTINGS, COUNTER)
    r = out.record
    assert out.notes == ["retrying (2/3): connection refused", "retrying (3/3): connection refused"]
    assert r.status == "error" and r.attempts == 3 and "Could not connect to Anthropic" in r.error


def test_401_is_not_retried_and_the_key_never_shows(server):
    server.script(aw.error(401, "authentication_error", f"invalid x-api-key {KEY}"))
    r = run_pump(provider(server.url), SETTINGS, COUNTER).record
    assert r.status == "error" and r.attempts == 1 and len(server.posts) == 1
    assert "rejected the API key (401" in r.error and "Check the key" in r.error
    assert KEY not in json.dumps(r.to_dict())


def test_404_names_the_model_and_the_base_url(server):
    server.script(aw.error(404, "not_found_error", "model: claude-nope"))
    r = run_pump(provider(server.url), Settings(model="claude-nope"), COUNTER).record
    assert r.status == "error" and r.attempts == 1 and len(server.posts) == 1
    assert "does not know model 'claude-nope'" in r.error and server.url in r.error


def test_400_is_not_retried(server):
    server.script(aw.error(400, "invalid_request_error", "max_tokens: must be positive"))
    r = run_pump(provider(server.url), SETTINGS, COUNTER).record
    assert r.status == "error" and r.attempts == 1 and "rejected the request (400" in r.error


def test_429_with_retry_after_then_success(server):
    server.script(aw.error(429, "rate_limit_error", "slow down", {"retry-after-ms": "150"}),
                  Reply(events=aw.stream(["fine"])))
    p = Recorded(provider(server.url))
    out = run_pump(p, SETTINGS, COUNTER)
    assert out.text == "fine" and out.record.status == "ok" and out.record.attempts == 2
    assert out.notes == ["retrying (2/3): rate limited (429)"]
    # The wait announced is the one asked for (the backoff alone would be <= 10 ms), and it
    # was waited: the server saw the retry no sooner. Load can only make that gap longer.
    assert [e.wait_s for e in p.events(Retrying)] == [0.15]
    first, second = server.posts
    assert second.started_at - first.started_at >= 0.14


def test_500_then_success(server):
    server.script(aw.error(500, "api_error", "Internal server error"),
                  Reply(events=aw.stream(["ok"])))
    out = run_pump(provider(server.url), SETTINGS, COUNTER)
    assert out.record.status == "ok" and out.record.attempts == 2
    assert out.notes == ["retrying (2/3): server error (500)"]


def test_529_overloaded_then_success(server):
    server.script(aw.error(529, "overloaded_error", "Overloaded"), Reply(events=aw.stream(["ok"])))
    out = run_pump(provider(server.url), SETTINGS, COUNTER)
    assert out.text == "ok" and out.record.status == "ok" and out.record.attempts == 2
    assert out.notes == ["retrying (2/3): overloaded (529)"]


def test_529_every_time_says_overloaded_after_three_attempts(server):
    server.script(*[aw.error(529, "overloaded_error", "Overloaded")] * 3)
    r = run_pump(provider(server.url), SETTINGS, COUNTER).record
    assert r.status == "error" and r.attempts == 3 and len(server.posts) == 3
    assert "Anthropic is overloaded (529" in r.error and "Try again in a minute" in r.error


def test_no_first_byte_before_the_read_timeout(server):
    server.script(*[Reply(first_byte_delay_s=5)] * 3)
    out = run_pump(provider(server.url, read_timeout_s=0.3), SETTINGS, COUNTER)
    r = out.record
    assert r.status == "error" and r.attempts == 3 and "sent nothing within 0.3 s" in r.error
    assert out.notes == ["retrying (2/3): no response within 0.3 s",
                         "retrying (3/3): no response within 0.3 s"]


def test_connection_dropped_mid_stream_keeps_the_partial_and_never_restarts(server):
    server.script(Reply(events=aw.stream(["Half ", "an ", "answer", "!"])[:6], end="drop"),
                  Reply(events=aw.stream(["a duplicate"])))
    out = run_pump(provider(server.url), SETTINGS, COUNTER)
    r = out.record
    assert out.text == "Half an answer" and r.text == "Half an answer"
    assert r.status == "error" and r.attempts == 1 and len(server.posts) == 1
    assert "broke mid-answer" in r.error and "The answer above is incomplete." in r.error
    assert (r.output_tokens, r.output_source) == (COUNTER.count("Half an answer"), "estimate")


def test_malformed_line_mid_stream_keeps_the_partial(server):
    server.script(Reply(events=aw.stream(["Good ", "start"])[:5] + (aw.MALFORMED,)))
    out = run_pump(provider(server.url), SETTINGS, COUNTER)
    assert out.text == "Good start" and out.record.status == "error"
    assert "malformed stream event mid-answer" in out.record.error and len(server.posts) == 1


def test_stream_without_message_stop_is_reported_truncated(server):
    server.script(Reply(events=aw.stream(["cut ", "off"], stop=False)))
    r = run_pump(provider(server.url), SETTINGS, COUNTER).record
    assert r.text == "cut off" and r.status == "error" and r.error == TRUNCATED_MESSAGE
    assert r.finish_reason is None and r.output_source == "estimate"


def test_error_event_mid_stream_keeps_the_partial(server):
    server.script(Reply(events=aw.stream(["Part ", "one"])[:5] + (aw.error_event(),)))
    out = run_pump(provider(server.url), SETTINGS, COUNTER)
    assert out.text == "Part one" and out.record.status == "error" and len(server.posts) == 1
    assert "reported an error mid-answer (overloaded_error: Overloaded)" in out.record.error


def test_error_event_before_any_text_is_retried(server):
    server.script(Reply(events=aw.stream(["x"])[:3] + (aw.error_event(),)),
                  Reply(events=aw.stream(["second try"])))
    out = run_pump(provider(server.url), SETTINGS, COUNTER)
    assert out.text == "second try" and out.record.attempts == 2
    assert out.notes == ["retrying (2/3): overloaded"]


def test_stop_mid_stream_closes_the_connection_at_once(server):
    # 200 deltas 20 ms apart: the server would send for over 4 s. It must see the client go
    # away before it has sent half of them (2 s of stream, against a stop that takes
    # milliseconds) and so never finish the reply.
    frames = aw.stream([f"w{i} " for i in range(200)])
    server.script(Reply(events=frames, gap_s=0.02))
    pump = StreamPump(provider(server.url), [Message("user", "hi")], SETTINGS,
                      counter=COUNTER).start()
    batches = pump.text_batches()
    while "w3 " not in pump.text:
        next(batches)
    batches.close()
    record = pump.wait(HANG_GUARD_S)
    assert server.disconnect.wait(HANG_GUARD_S), "the server never saw the client go away"
    [post] = server.posts
    assert post.disconnected_at is not None and not post.finished
    assert post.events_sent < len(frames) // 2
    assert record.status == "stopped" and record.text.startswith("w0 w1 w2 w3 ")
    assert len(record.chunk_texts) < 100


def test_stop_while_the_server_is_silent_aborts_the_blocked_read(server):
    # The server sends two frames (no text), then holds the connection silent for 30 s;
    # the read timeout is 60 s. Once both frames are out nothing more comes, so however far
    # the reader got with them, only abort() can end its read before the hold ends. The
    # record must come within the hang guard (a third of the hold), and the server must
    # have seen the disconnect during the hold: it never wrote the end of the reply.
    frames = aw.stream(["never"])[:2]
    server.script(Reply(events=frames, end="hold", hold_s=30))
    stop_during_silence(server, provider(server.url, read_timeout_s=60), frames, SETTINGS,
                        COUNTER)


def test_missing_key_is_a_clear_message_before_any_request(server):
    with pytest.raises(ConfigError, match="No Anthropic API key. Set ANTHROPIC_API_KEY"):
        build_provider(PRESETS["anthropic"], base_url=server.url, key=KeyChoice(None, None))
    assert server.exchanges == []


def test_server_model_list(server):
    assert provider(server.url).list_server_models() == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    assert server.exchanges[-1].path.startswith("/v1/models")


# -- extended thinking ----------------------------------------------------------------------
# The provider's own events, read straight from its stream: what it yields in which order is
# the contract here (the pump and the page decide what to show of it).
THINKING = Settings(model="claude-sonnet-4-6", temperature=0.5, max_tokens=4096,
                    extra={"thinking_budget": 2048})


def events_of(p: AnthropicProvider, messages: list[Message] | None = None,
              settings: Settings = THINKING) -> list:
    return list(p.stream(messages or [Message("user", "hi")], settings))


def test_thinking_streams_as_reasoning_and_the_request_asks_for_it(server):
    server.script(Reply(events=aw.stream(["Four", "."], output_tokens=60,
                                         before=aw.thinking_block(["Two plus", " two."]))))
    assert events_of(provider(server.url)) == [
        ReasoningDelta("Two plus"), ReasoningDelta(" two."),  # the signature_delta shows nothing
        TextDelta("Four"), TextDelta("."),
        Usage(13, 60, reasoning_tokens=None),  # Anthropic counts thinking only in output
        Finish("end_turn"),
    ]
    [post] = server.posts
    assert post.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert post.json["max_tokens"] == 4096
    assert "temperature" not in post.json  # Anthropic refuses a custom one with thinking


def test_without_a_budget_no_thinking_is_asked_for(server):
    server.script(Reply(events=aw.stream(["ok"])))
    settings = Settings(model="claude-sonnet-4-6", temperature=0.5, extra={"thinking_budget": 0})
    assert events_of(provider(server.url), settings=settings)[0] == TextDelta("ok")
    assert "thinking" not in server.posts[0].json and server.posts[0].json["temperature"] == 0.5


def test_redacted_thinking_is_one_empty_redacted_reasoning_event(server):
    before = aw.redacted_thinking_block(0) + aw.thinking_block(["Plain thought."], 1)
    server.script(Reply(events=aw.stream(["Hi"], before=before)))
    assert events_of(provider(server.url)) == [
        ReasoningDelta("", redacted=True), ReasoningDelta("Plain thought."),
        TextDelta("Hi"), Usage(13, 9), Finish("end_turn"),
    ]


def test_an_answer_cut_off_while_thinking_is_reasoning_then_finish(server):
    server.script(Reply(events=aw.stream([], stop_reason="max_tokens", output_tokens=4096,
                                         before=aw.thinking_block(["Step 1", ", step 2"]))))
    assert events_of(provider(server.url)) == [
        ReasoningDelta("Step 1"), ReasoningDelta(", step 2"),
        Usage(13, 4096), Finish("max_tokens"),
    ]


@pytest.mark.parametrize("budget, max_tokens, words", [
    (512, 4096, "below Anthropic's minimum of 1024: raise it to 1024 or more"),
    (1023, 4096, "below Anthropic's minimum of 1024"),
    (4096, 4096, "must be below max tokens (4096), which includes it: raise max tokens above"),
    (8000, 4096, "must be below max tokens (4096)"),
    (-5, 4096, "must be a whole number of tokens"),
    ("2048", 4096, "must be a whole number of tokens"),
])
def test_a_thinking_budget_anthropic_would_refuse_is_refused_before_sending(server, budget,
                                                                            max_tokens, words):
    p = provider(server.url)
    settings = Settings(model="claude-sonnet-4-6", max_tokens=max_tokens,
                        extra={"thinking_budget": budget})
    with pytest.raises(ConfigError, match=re.escape(words)):
        p.stream([Message("user", "hi")], settings)
    assert server.exchanges == []


def test_the_smallest_budget_anthropic_accepts_is_sent(server):
    server.script(Reply(events=aw.stream(["ok"])))
    settings = Settings(model="claude-sonnet-4-6", max_tokens=1025,
                        extra={"thinking_budget": 1024})
    assert TextDelta("ok") in events_of(provider(server.url), settings=settings)
    assert server.posts[0].json["thinking"]["budget_tokens"] == 1024


def test_the_next_request_carries_only_the_visible_answer(server):
    server.script(Reply(events=aw.stream(["Four."], before=aw.thinking_block(["Two plus two."]))),
                  Reply(events=aw.stream(["Eight."])))
    p = provider(server.url)
    answer = "".join(e.text for e in events_of(p) if isinstance(e, TextDelta))
    assert answer == "Four."
    events_of(p, [Message("user", "2+2?"), Message("assistant", answer),
                  Message("user", "Doubled?")])
    second = server.posts[1].json
    assert second["messages"] == [{"role": "user", "content": "2+2?"},
                                  {"role": "assistant", "content": "Four."},
                                  {"role": "user", "content": "Doubled?"}]
    assert "Two plus" not in json.dumps(second) and "signature" not in json.dumps(second)
