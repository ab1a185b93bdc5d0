"""The OpenAI path's fault table: the real ``openai`` SDK against a local server that speaks
the Chat Completions streaming wire format, one scripted fault per case, through the real
``StreamPump``. Each test asserts what the user sees (text, notes, message) and what the run
store keeps (status, attempts, tokens and their source)."""

from __future__ import annotations

import json
import logging
import time

import pytest

from chatlib.core.errors import ConfigError
from chatlib.providers.catalog import PRESETS, KeyChoice, build_provider, counter_for_model
from chatlib.providers.http_stream import RetryPolicy
from chatlib.providers.openai_provider import OpenAIProvider, uses_default_temperature_only
from chatlib.streaming.pump import TRUNCATED_MESSAGE, StreamPump
from chatlib.core.tokens import counter_for
from chatlib.core.types import Finish, Message, ReasoningDelta, Retrying, Settings, TextDelta, Usage
from tests.clocks import HANG_GUARD_S, Recorded, wait_for
from tests.wire import openai_wire as ow
from tests.wire.harness import run_pump, stop_during_silence
from tests.wire.server import Reply, WireServer, free_port

KEY = "sk-test-0123456789abcdef"
FAST = RetryPolicy(base_s=0.01, cap_s=0.05)  # retries without the real backoff's seconds
SETTINGS = Settings(model="gpt-4o-mini", temperature=0.3, max_tokens=50)
COUNTER = counter_for("openai", "gpt-4o-mini")


_made: list = []


@pytest.fixture(autouse=True)
def close_clients():
    """Each SDK client's pool is closed after its test (no socket left to the GC)."""
    yield
    while _made:
        _made.pop().close()


def made(p):
    _made.append(p)
    return p


@pytest.fixture
def server():
    with WireServer(lambda: ow.models_body(["gpt-4o-mini", "my-local-model"])) as srv:
        yield srv


def provider(srv: WireServer, **kwargs) -> OpenAIProvider:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("read_timeout_s", 2.0)
    return made(OpenAIProvider(api_key=KEY, base_url=srv.url + "/v1", **kwargs))


def test_normal_stream_reports_provider_usage_and_sends_each_setting(server):
    server.script(Reply(events=ow.stream(["Hello", ", ", "world"], usage=(21, 3))))
    out = run_pump(provider(server), SETTINGS, COUNTER,
                   [Message("system", "Be brief."), Message("user", "hi")])
    assert out.text == "Hello, world" and out.notes == []
    r = out.record
    assert (r.status, r.error, r.attempts, r.finish_reason) == ("ok", None, 1, "stop")
    assert (r.input_tokens, r.input_source) == (21, "usage")
    assert (r.output_tokens, r.output_source) == (3, "usage")
    [post] = server.posts
    assert post.path == "/v1/chat/completions"
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.json["stream"] is True and post.json["stream_options"] == {"include_usage": True}
    assert post.json["messages"] == [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "hi"}]
    assert post.json["temperature"] == 0.3
    assert post.json["max_completion_tokens"] == 50 and "max_tokens" not in post.json


def test_reasoning_models_get_no_temperature_they_would_refuse(server):
    assert uses_default_temperature_only("o3-mini") and uses_default_temperature_only("gpt-5")
    assert not uses_default_temperature_only("gpt-4o")
    assert not uses_default_temperature_only("gpt-5.5")
    server.script(Reply(events=ow.stream(["ok"])))
    assert run_pump(provider(server), Settings(model="o4-mini"), COUNTER).record.status == "ok"
    assert "temperature" not in server.posts[0].json


def test_compatible_server_without_usage_is_counted_and_labelled(server):
    """Ollama-style: no usage chunk. OpenAI's own model ids are counted with tiktoken
    ("tokenizer"); any other model's count is labelled an estimate."""
    ollama = made(build_provider(PRESETS["ollama"], base_url=server.url + "/v1",
                                 key=KeyChoice(None, None)))
    assert ollama.paid is False and ollama.id == "ollama"
    for model, source in (("llama3.2", "estimate"), ("gpt-4o-mini", "tokenizer")):
        server.script(Reply(events=ow.stream(["Two ", "words"], usage=None)))
        counter = counter_for_model(PRESETS["ollama"], model)
        out = run_pump(ollama, Settings(model=model, max_tokens=9), counter)
        r = out.record
        assert out.text == "Two words" and r.status == "ok" and r.finish_reason == "stop"
        assert r.output_source == source and r.output_tokens == counter.count("Two words")
    post = server.posts[-1].json
    assert post["max_tokens"] == 9 and "max_completion_tokens" not in post
    assert server.posts[-1].headers["authorization"] == "Bearer no-key"  # never an env key


def test_refused_connection_is_retried_then_says_what_to_check():
    p = made(OpenAIProvider(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}/v1", retry=FAST))
    out = run_pump(p, SETTINGS, COUNTER)
    assert out.text == ""
    assert out.notes == ["retrying (2/3): connection refused", "retrying (3/3): connection refused"]
    r = out.record
    assert r.status == "error" and r.attempts == 3
    assert "Could not connect to OpenAI" in r.error and "Is the server running" in r.error
    assert "Gave up after 3 attempts" in r.error


def test_401_is_not_retried_and_the_key_never_shows(server, caplog):
    server.script(ow.error(401, f"Incorrect API key provided: {KEY}.", code="invalid_api_key"))
    with caplog.at_level(logging.DEBUG):
        out = run_pump(provider(server), SETTINGS, COUNTER)
    r = out.record
    assert r.status == "error" and r.attempts == 1 and len(server.posts) == 1
    assert r.error.startswith("OpenAI rejected the API key (401") and "Check the key" in r.error
    assert KEY not in r.error and "[redacted]" in r.error
    assert KEY not in json.dumps(r.to_dict()) and KEY not in caplog.text


@pytest.mark.parametrize("status, words", [
    (403, "refused access (403"), (400, "rejected the request (400"),
])
def test_other_permanent_errors_are_not_retried(server, status, words):
    server.script(ow.error(status, "Unsupported value: 'temperature' does not support 0.3"))
    r = run_pump(provider(server), SETTINGS, COUNTER).record
    assert r.status == "error" and r.attempts == 1 and words in r.error
    assert len(server.posts) == 1
    if status == 400:
        assert "set Temperature to 1" in r.error


def test_404_names_the_model_and_the_base_url(server):
    server.script(ow.error(404, "The model `gpt-nope` does not exist", code="model_not_found"))
    r = run_pump(provider(server), Settings(model="gpt-nope"), COUNTER).record
    assert r.status == "error" and r.attempts == 1 and len(server.posts) == 1
    assert "does not know model 'gpt-nope'" in r.error and f"{server.url}/v1" in r.error


def test_429_waits_as_retry_after_asks_then_succeeds(server):
    server.script(ow.error(429, "Rate limit reached", headers={"retry-after": "0.3"}),
                  Reply(events=ow.stream(["fine"])))
    p = Recorded(provider(server))
    out = run_pump(p, SETTINGS, COUNTER)
    assert out.text == "fine" and out.notes == ["retrying (2/3): rate limited (429)"]
    assert out.record.status == "ok" and out.record.attempts == 2
    # 0.3 s asked; the backoff alone would be <= 0.01 s. The wait announced is the one asked
    # for, and it was waited: the server saw the retry no sooner (load only adds to that).
    assert [e.wait_s for e in p.events(Retrying)] == [0.3]
    first, second = server.posts
    assert second.started_at - first.started_at >= 0.28


def test_a_retry_after_longer_than_the_cap_is_not_waited_for(server):
    server.script(ow.error(429, "Rate limit reached", headers={"retry-after": "120"}))
    started = time.monotonic()
    out = run_pump(provider(server), SETTINGS, COUNTER)
    r = out.record
    # No retry was announced (so none was waited for), and the run ended in well under the
    # 120 s asked: 60 s is a bound only waiting for it can cross.
    assert out.notes == [] and len(server.posts) == 1
    assert time.monotonic() - started < 60
    assert r.status == "error" and r.attempts == 1 and "It asks to wait 120 s" in r.error


@pytest.mark.parametrize("status", [500, 408, 409, 502, 503])
def test_transient_status_then_success(server, status):
    server.script(ow.error(status, "upstream trouble"), Reply(events=ow.stream(["ok"])))
    out = run_pump(provider(server), SETTINGS, COUNTER)
    assert out.text == "ok" and out.record.status == "ok" and out.record.attempts == 2
    assert out.notes == [f"retrying (2/3): server error ({status})"]


def test_5xx_every_time_gives_up_after_three_attempts(server):
    server.script(*[ow.error(503, "unavailable")] * 3)
    out = run_pump(provider(server), SETTINGS, COUNTER)
    assert out.record.status == "error" and out.record.attempts == 3 and len(server.posts) == 3
    assert "server error (503" in out.record.error
    assert "Gave up after 3 attempts" in out.record.error


def test_no_first_byte_before_the_read_timeout(server):
    server.script(*[Reply(first_byte_delay_s=5)] * 3)
    out = run_pump(provider(server, read_timeout_s=0.3), SETTINGS, COUNTER)
    r = out.record
    assert r.status == "error" and r.attempts == 3 and out.text == ""
    assert "sent nothing within 0.3 s" in r.error
    assert out.notes[-1] == "retrying (3/3): no response within 0.3 s"
    # The read timeout cut each attempt, not the server's 5 s of silence: the server saw
    # the client hang up on all three before it had sent a byte (after its 5 s it would
    # have written the reply and finished it).
    wait_for(lambda: len(server.posts) == 3
             and all(p.disconnected_at is not None for p in server.posts),
             "the server seeing three hang-ups")
    assert not any(p.finished for p in server.posts)


def test_a_stall_before_any_text_is_retried_and_can_succeed(server):
    server.script(Reply(first_byte_delay_s=5), Reply(events=ow.stream(["late but fine"])))
    out = run_pump(provider(server, read_timeout_s=0.3), SETTINGS, COUNTER)
    assert out.text == "late but fine" and out.record.status == "ok" and out.record.attempts == 2


def test_connection_dropped_mid_stream_keeps_the_partial_and_never_restarts(server):
    frames = ow.stream(["Half ", "an ", "answer", " never seen"])[:4]
    server.script(Reply(events=frames, end="drop"),
                  Reply(events=ow.stream(["a duplicate"])))
    out = run_pump(provider(server), SETTINGS, COUNTER)
    r = out.record
    assert out.text == "Half an answer" and r.text == "Half an answer"
    assert r.status == "error" and r.attempts == 1 and len(server.posts) == 1
    assert "broke mid-answer" in r.error and "The answer above is incomplete." in r.error
    assert (r.output_tokens, r.output_source) == (COUNTER.count("Half an answer"), "tokenizer")


def test_malformed_line_mid_stream_keeps_the_partial(server):
    server.script(Reply(events=ow.stream(["Good ", "start"])[:3] + (ow.MALFORMED,)))
    out = run_pump(provider(server), SETTINGS, COUNTER)
    assert out.text == "Good start" and out.record.status == "error"
    assert "malformed stream event mid-answer" in out.record.error
    assert len(server.posts) == 1


def test_malformed_stream_before_any_text_hints_at_the_base_url(server):
    server.script(Reply(events=(ow.MALFORMED,)))
    r = run_pump(provider(server), SETTINGS, COUNTER).record
    assert r.status == "error" and r.attempts == 1
    assert "is the base URL an OpenAI-compatible server?" in r.error


def test_stream_without_terminator_is_reported_truncated(server):
    server.script(Reply(events=ow.stream(["cut ", "off"], finish=None, usage=None, done=False)))
    out = run_pump(provider(server), SETTINGS, COUNTER)
    r = out.record
    assert out.text == "cut off" and r.status == "error" and r.error == TRUNCATED_MESSAGE
    assert r.finish_reason is None and r.output_source == "tokenizer"


def test_finish_reason_without_done_is_a_complete_answer(server):
    """The terminator is finish_reason; a lost [DONE] (or usage chunk) is not a failure."""
    server.script(Reply(events=ow.stream(["all ", "there"], usage=None, done=False), end="drop"))
    r = run_pump(provider(server), SETTINGS, COUNTER).record
    assert r.status == "ok" and r.finish_reason == "stop" and r.text == "all there"


def test_error_event_mid_stream_keeps_the_partial_and_shows_the_server_message(server):
    frames = ow.stream(["Part ", "one"])[:3] + (ow.stream_error_frame("The server had an error"),)
    server.script(Reply(events=frames))
    out = run_pump(provider(server), SETTINGS, COUNTER)
    assert out.text == "Part one" and out.record.status == "error"
    assert "reported an error mid-answer: The server had an error" in out.record.error
    assert "incomplete" in out.record.error


def test_stop_mid_stream_closes_the_connection_at_once(server):
    # 200 chunks 20 ms apart: the server would send for over 4 s. It must see the client go
    # away before it has sent half of them (2 s of stream, against a stop measured at 1-20
    # ms) and so never finish the reply.
    frames = ow.stream([f"w{i} " for i in range(200)])
    server.script(Reply(events=frames, gap_s=0.02))
    pump = StreamPump(provider(server), [Message("user", "hi")], SETTINGS, counter=COUNTER).start()
    batches = pump.text_batches()
    while "w3 " not in pump.text:
        next(batches)
    batches.close()  # what a Stop does: the UI generator is closed, the pump stops
    record = pump.wait(HANG_GUARD_S)
    assert server.disconnect.wait(HANG_GUARD_S), "the server never saw the client go away"
    [post] = server.posts
    assert post.disconnected_at is not None and not post.finished
    assert post.events_sent < len(frames) // 2
    assert record.status == "stopped" and record.error is None
    assert record.text.startswith("w0 w1 w2 w3 ") and len(record.chunk_texts) < 100


def test_stop_while_the_server_is_silent_aborts_the_blocked_read(server):
    """A model thinking before its first token: nothing arrives for a long while. Stop must
    not wait for the next byte or the read timeout (60 s here) to close the connection."""
    # The server sends one frame (no text), then holds the connection silent for 30 s. Once
    # it is out nothing more comes, so however far the reader got with it, only abort() can
    # end its read before the hold ends. The record must come within the hang guard (a
    # third of the hold), and the server must have seen the disconnect during the hold: it
    # never wrote the end of the reply.
    frames = ow.stream(["never shown"])[:1]
    server.script(Reply(events=frames, end="hold", hold_s=30))
    stop_during_silence(server, provider(server, read_timeout_s=60), frames, SETTINGS,
                        COUNTER)


def test_stop_during_a_retry_wait_ends_at_once(server):
    # The retry waits 20 s; the record must come within the hang guard (half of that):
    # only a stop that does not wake the wait misses it.
    server.script(ow.error(503, "busy", headers={"retry-after": "20"}))
    p = provider(server, retry=RetryPolicy(max_wait_s=60))
    pump = StreamPump(p, [Message("user", "hi")], SETTINGS, counter=COUNTER).start()
    wait_for(lambda: pump.notice, "the retry note")
    assert pump.notice == "retrying (2/3): server error (503)"
    pump.stop()
    record = pump.wait(HANG_GUARD_S)
    assert record is not None and record.status == "stopped" and len(server.posts) == 1


def test_missing_key_is_a_clear_message_before_any_request(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="No OpenAI API key. Set OPENAI_API_KEY"):
        build_provider(PRESETS["openai"], base_url=server.url + "/v1", key=KeyChoice(None, None))
    with pytest.raises(ConfigError, match="must look like"):
        build_provider(PRESETS["openai-compatible"], base_url="localhost:8000",
                       key=KeyChoice(None, None))
    assert server.exchanges == []


def test_server_model_list(server):
    assert provider(server).list_server_models() == ["gpt-4o-mini", "my-local-model"]
    assert server.exchanges[-1].path == "/v1/models"


def test_the_openai_preset_sends_max_tokens_to_any_server_but_openai_itself(server):
    """Regression: the OpenAI preset pointed at a compatible server (llama-cpp-python's
    ignores ``max_completion_tokens``) must cap the answer with ``max_tokens``."""
    p = made(build_provider(PRESETS["openai"], base_url=server.url + "/v1",
                            key=KeyChoice(KEY, "typed in this session"), retry=FAST))
    server.script(Reply(events=ow.stream(["short"])))
    assert run_pump(p, Settings(model="gpt-4o-mini", max_tokens=64), COUNTER).record.status == "ok"
    [post] = server.posts
    assert post.json["max_tokens"] == 64 and "max_completion_tokens" not in post.json
    for url in ("https://api.openai.com/v1", "https://API.openai.com/v1/"):
        real = made(build_provider(PRESETS["openai"], base_url=url,
                                   key=KeyChoice(KEY, "typed in this session")))
        params = real.request_params([Message("user", "hi")], Settings(model="o4-mini",
                                                                       max_tokens=64))
        assert params["max_completion_tokens"] == 64 and "max_tokens" not in params
    lookalike = made(build_provider(PRESETS["openai-compatible"],
                                    base_url="https://api.openai.com.example.net/v1",
                                    key=KeyChoice(None, None)))
    params = lookalike.request_params([Message("user", "hi")], Settings(model="m", max_tokens=8))
    assert params["max_tokens"] == 8 and "max_completion_tokens" not in params


# -- reasoning ------------------------------------------------------------------------------
# The provider's own events, read straight from its stream: what it yields in which order is
# the contract here (the pump and the page decide what to show of it).

def events_of(p: OpenAIProvider, messages: list[Message] | None = None,
              settings: Settings = SETTINGS) -> list:
    return list(p.stream(messages or [Message("user", "hi")], settings))


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "reasoning_content reasoning"])
def test_reasoning_fields_stream_as_reasoning_apart_from_the_answer(server, field):
    """DeepSeek / llama.cpp / older vLLM send ``reasoning_content``, newer vLLM ``reasoning``;
    a server that sends both with the same text gets it shown once."""
    server.script(Reply(events=ow.stream(["The answer", " is 4."], usage=(9, 20),
                                         reasoning=["Two plus ", "two."], reasoning_field=field)))
    assert events_of(provider(server)) == [
        ReasoningDelta("Two plus "), ReasoningDelta("two."),
        TextDelta("The answer"), TextDelta(" is 4."),
        Finish("stop"), Usage(9, 20, reasoning_tokens=None),
    ]


def test_think_tags_in_content_are_split_out_even_when_cut_across_chunks(server):
    # R1 on llama.cpp / Ollama: both tags arrive cut in two.
    server.script(Reply(events=ow.stream(
        ["<thi", "nk>\nTwo plus", " two.</th", "ink>\n\nIt is", " 4."], usage=(9, 20))))
    assert events_of(provider(server)) == [
        ReasoningDelta("Two plus"), ReasoningDelta(" two."),
        TextDelta("It is"), TextDelta(" 4."),
        Finish("stop"), Usage(9, 20),
    ]


def test_hidden_reasoning_is_only_a_count_in_usage(server):
    """OpenAI's reasoning models stream no thinking, only its token count."""
    server.script(Reply(events=ow.stream(["Four."], usage=(12, 140), reasoning_tokens=128)))
    assert events_of(provider(server), settings=Settings(model="o4-mini")) == [
        TextDelta("Four."), Finish("stop"), Usage(12, 140, reasoning_tokens=128),
    ]
    assert "temperature" not in server.posts[0].json


@pytest.mark.parametrize("texts, reasoning, expected", [
    ([], ["Let me think", " more"], [ReasoningDelta("Let me think"), ReasoningDelta(" more")]),
    (["<think>Step 1", ", step 2</th"], [],
     [ReasoningDelta("Step 1"), ReasoningDelta(", step 2"), ReasoningDelta("</th")]),
])
def test_an_answer_cut_off_while_thinking_is_reasoning_then_finish(server, texts, reasoning,
                                                                    expected):
    server.script(Reply(events=ow.stream(texts, reasoning=reasoning, finish="length",
                                         usage=(9, 50))))
    assert events_of(provider(server)) == [*expected, Finish("length"), Usage(9, 50)]


def test_the_next_request_carries_only_the_visible_answer(server):
    server.script(Reply(events=ow.stream(["<think>Two plus two.</think>\n\n", "Four."],
                                         reasoning=["Mm."])),
                  Reply(events=ow.stream(["Eight."])))
    p = provider(server)
    first = events_of(p)
    answer = "".join(e.text for e in first if isinstance(e, TextDelta))
    assert answer == "Four."
    events_of(p, [Message("user", "2+2?"), Message("assistant", answer),
                  Message("user", "Doubled?")])
    second = server.posts[1].json
    assert second["messages"] == [{"role": "user", "content": "2+2?"},
                                  {"role": "assistant", "content": "Four."},
                                  {"role": "user", "content": "Doubled?"}]
    assert "Two plus" not in json.dumps(second) and "Mm." not in json.dumps(second)


def test_the_stream_says_when_each_events_bytes_were_read(server):
    """Read off the socket before the SDK parses them: the pump's timestamp (a parse held up
    by other threads must not count as the provider's time)."""
    server.script(Reply(events=ow.stream(["Hello", ", ", "world"], usage=(21, 3))))
    stream = provider(server).stream([Message("user", "hi")], SETTINGS)
    seen = []
    for event in stream:
        if isinstance(event, TextDelta):
            seen.append(stream.arrived_at)
            assert seen[-1] is not None and seen[-1] <= time.monotonic()
    assert len(seen) == 3 and seen == sorted(seen)
