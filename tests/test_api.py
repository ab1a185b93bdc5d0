"""The streaming chat API (POST /chat over Server-Sent Events) on the app's own port, with a
plain HTTP client against ``streamlit run app.py``: events as they arrive, [DONE] last, the
error event, every refusal before streaming, the token, the rate limit, a client that goes
away, many clients at once, and the run recorded for the Stats page."""

from __future__ import annotations

import codecs
import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chatlib.providers.scripted import chunk_text
from chatlib.store import RunFilter, RunStore
from testkit.app_server import AppServer, scripted_app_env
from tests.clocks import wait_for

SLOW_TEXT = "One slow word after another, never all at once. " * 2
MULTIBYTE_TEXT = "Größe, naïve café — 日本語のテキスト, emoji 🙂🚀 and \"quotes\"\n\nnew line. " * 4
SCRIPTS = {
    "api-slow": {"text": SLOW_TEXT, "chunk_chars": 5, "first_delay_s": 0.05, "gap_s": 0.1},
    "api-long": {"text": "word " * 400, "chunk_chars": 5, "gap_s": 0.05},
    "api-fast": {"text": "Fast and whole.", "chunk_chars": 3, "gap_s": 0.005},
    "api-fault": {"text": "Half of it, then", "chunk_chars": 4, "fault_at": 2,
                  "fault_message": "The model server went away (scripted)."},
    "api-thinking": {"reasoning": "Let me think it over first.", "text": "Then the answer.",
                     "chunk_chars": 4, "gap_s": 0.01},
    # Multi-byte text sent with no gaps: several events share one read, and a chunk can end
    # inside a character's bytes.
    "api-burst": {"text": MULTIBYTE_TEXT, "chunk_chars": 3, "gap_s": 0},
    "api-multibyte": {"text": MULTIBYTE_TEXT, "chunk_chars": 2, "gap_s": 0.01},
}


def start_app(tmp_path, **env: str) -> tuple[AppServer, RunStore]:
    server = AppServer({**scripted_app_env(tmp_path, SCRIPTS), **env}).start()
    return server, RunStore(tmp_path / "runs.sqlite3")


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[tuple[AppServer, RunStore]]:
    server, store = start_app(tmp_path_factory.mktemp("api"))
    try:
        yield server, store
    finally:
        server.stop()


@contextmanager
def post(server: AppServer, body: Any, headers: dict[str, str] | None = None,
         raw: bytes | None = None, method: str = "POST") -> Iterator[http.client.HTTPResponse]:
    """POST /chat; the response is read inside the block, the connection closed after."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        payload = raw if raw is not None else json.dumps(body).encode()
        conn.request(method, "/chat", body=payload,
                     headers={"Content-Type": "application/json", **(headers or {})})
        yield conn.getresponse()
    finally:
        conn.close()


def answer(server: AppServer, body: Any, headers: dict[str, str] | None = None) -> list[str]:
    """Every event of one answer, read to the end."""
    with post(server, body, headers) as response:
        assert response.status == 200, response.read()
        return list(events(response))


def events(response: http.client.HTTPResponse) -> Iterator[str]:
    """The data of each SSE event, as it arrives."""
    data: list[str] = []
    while line := response.readline():
        line = line.rstrip(b"\r\n")
        if line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" ").decode())
        elif not line and data:
            yield "\n".join(data)
            data = []


def api_runs(store: RunStore, prompt: str) -> list[dict[str, Any]]:
    return store.runs(RunFilter(pages=("api",), prompts=(prompt,))).to_dict("records")


def test_events_arrive_as_the_answer_streams_then_done(api):
    server, store = api
    with post(server, {"message": "stream slowly", "provider": "scripted",
                       "model": "api-slow"}) as response:
        assert response.status == 200
        assert response.getheader("Content-Type").startswith("text/event-stream")
        assert response.getheader("Cache-Control") == "no-cache"
        stream = events(response)
        first = json.loads(next(stream))
        # Not buffered to the end: the first text is here while the answer is still in
        # flight (its run is recorded only when it ends, some 2 s of scripted gaps later).
        assert first["content"] and SLOW_TEXT.startswith(first["content"])
        assert api_runs(store, "stream slowly") == []
        rest = list(stream)
    assert rest[-1] == "[DONE]" and "[DONE]" not in rest[:-1]
    text = first["content"] + "".join(json.loads(e)["content"] for e in rest[:-1])
    assert text == SLOW_TEXT and len(rest) > 3  # several batches, not one
    [run] = wait_for(lambda: api_runs(store, "stream slowly"), "the run is recorded")
    assert (run["status"], run["provider"], run["model"]) == ("ok", "scripted", "api-slow")
    assert run["response"] == SLOW_TEXT and run["chunk_count"] == len(chunk_text(SLOW_TEXT, 5))


def test_history_and_settings_reach_the_model(api):
    server, store = api
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "yes"}]
    got = answer(server, {"message": "and now", "conversationHistory": history,
                          "provider": "scripted", "model": "api-fast", "maxTokens": 7,
                          "temperature": 0.1, "systemPrompt": "Be terse."})
    assert got[-1] == "[DONE]"
    [run] = wait_for(lambda: api_runs(store, "and now"), "the run is recorded")
    settings = json.loads(run["settings_json"])
    assert (settings["max_tokens"], settings["temperature"], settings["system_prompt"]) == (
        7, 0.1, "Be terse.")
    assert run["input_tokens"] > 0 and run["input_source"] == "estimate"


def test_thinking_streams_as_reasoning_events_before_the_answer(api):
    server, store = api
    got = answer(server, {"message": "think", "provider": "scripted", "model": "api-thinking"})
    assert got[-1] == "[DONE]"
    kinds = [next(iter(json.loads(e))) for e in got[:-1]]
    assert "reasoning" in kinds and "content" in kinds
    assert kinds.index("content") > max(i for i, k in enumerate(kinds) if k == "reasoning")
    parts = [json.loads(e) for e in got[:-1]]
    assert "".join(p.get("reasoning", "") for p in parts) == "Let me think it over first."
    assert "".join(p.get("content", "") for p in parts) == "Then the answer."
    [run] = wait_for(lambda: api_runs(store, "think"), "the run is recorded")
    assert run["response"] == "Then the answer." and run["reasoning_tokens"] == 7
    assert run["ttfat_s"] > run["ttft_s"]


def test_a_provider_failure_mid_stream_is_an_error_event_and_the_stream_ends(api):
    server, store = api
    got = answer(server, {"message": "fail", "provider": "scripted", "model": "api-fault"})
    assert "".join(json.loads(e)["content"] for e in got[:-1]) == "Half of "
    assert json.loads(got[-1]) == {"error": "The model server went away (scripted)."}
    assert "[DONE]" not in got
    [run] = wait_for(lambda: api_runs(store, "fail"), "the run is recorded")
    assert run["status"] == "error" and run["response"] == "Half of "


@pytest.mark.parametrize("raw, says", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"conversationHistory": []}', "'message' must be a string"),
    (b'{"message": "   "}', "'message' is empty"),
    (b'{"message": "hi", "conversationHistory": [{"role": "system", "content": "x"}]}',
     "conversationHistory[0] must have a role"),
    (b'{"message": "hi", "provider": "nope"}', "Unknown provider 'nope'"),
    (b'{"message": "hi", "provider": "scripted", "model": "nope"}', "Unknown model 'nope'"),
    (b'{"message": "bad \\ud800 unicode"}', "invalid Unicode"),
    (b'{"message": "bad \xff bytes"}', "not valid UTF-8"),
    (b'{"message": "hi", "maxTokens": 0}', "'maxTokens' must be between 1 and 32000"),
    (json.dumps({"message": "word " * 5000, "provider": "scripted"}).encode(),
     "token budget is 2048"),
])
def test_a_bad_request_is_a_400_with_a_clear_message_before_anything_streams(api, raw, says):
    server, store = api
    before = store.count()
    with post(server, None, raw=raw) as response:
        assert response.status == 400
        assert response.getheader("Content-Type") == "application/json"
        assert says in json.loads(response.read())["error"]
    assert store.count() == before  # nothing was sent, nothing recorded


def test_a_client_that_goes_away_stops_the_provider(api):
    server, store = api
    with post(server, {"message": "I will hang up", "provider": "scripted",
                       "model": "api-long"}) as response:
        assert "content" in json.loads(next(events(response)))
    # The connection went, as with an AbortController.abort().
    [run] = wait_for(lambda: api_runs(store, "I will hang up"), "the run is recorded")
    assert run["status"] == "stopped" and 0 < run["chunk_count"] < 400


def test_twenty_clients_at_once_all_complete(api):
    server, store = api
    results: dict[int, list[str]] = {}

    def client(i: int) -> None:
        results[i] = answer(server, {"message": f"client {i}", "provider": "scripted",
                                     "model": "api-fast"})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(results) == list(range(20))
    for got in results.values():
        assert got[-1] == "[DONE]"
        assert "".join(json.loads(e)["content"] for e in got[:-1]) == "Fast and whole."
    wait_for(lambda: all(api_runs(store, f"client {i}") for i in range(20)), "20 runs")


@pytest.mark.model
def test_the_default_is_the_embedded_model(api):
    server, store = api
    got = answer(server, {"message": "Say hello.", "maxTokens": 8})
    assert got[-1] == "[DONE]" and len(got) >= 2
    [run] = wait_for(lambda: api_runs(store, "Say hello."), "the run is recorded",
                     timeout_s=60)
    assert run["provider"] == "local" and run["output_tokens"] <= 8 + 1
    assert run["output_source"] == "tokenizer"


def test_the_token_is_required_when_set_and_the_rate_limit_answers_429(tmp_path):
    server, store = start_app(tmp_path, CHATLAB_API_TOKEN="s3cret-token",
                              CHATLAB_API_RATE_PER_MINUTE="2")
    try:
        body = {"message": "hi", "provider": "scripted", "model": "api-fast"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
            with post(server, body, headers) as refused:
                assert refused.status == 401
                assert "bearer token" in json.loads(refused.read())["error"]
        ok = {"Authorization": "Bearer s3cret-token"}
        for _ in range(2):
            assert answer(server, body, ok)[-1] == "[DONE]"
        with post(server, body, ok) as limited:
            assert limited.status == 429
            wait = int(limited.getheader("Retry-After"))
            assert 1 <= wait <= 60 and "Too many requests" in json.loads(limited.read())["error"]
        assert "s3cret-token" not in server.log()
    finally:
        server.stop()


def test_cors_lets_only_the_configured_origins_call_the_api(tmp_path):
    server, _ = start_app(tmp_path, CHATLAB_API_CORS_ORIGINS="http://frontend.test")
    try:
        def preflight(origin: str) -> http.client.HTTPResponse:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            conn.request("OPTIONS", "/chat", headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type"})
            response = conn.getresponse()
            response.read()
            conn.close()
            return response

        allowed = preflight("http://frontend.test")
        assert allowed.status == 200
        assert allowed.getheader("Access-Control-Allow-Origin") == "http://frontend.test"
        other = preflight("http://elsewhere.test")
        assert other.getheader("Access-Control-Allow-Origin") is None
        got = answer(server, {"message": "cors", "provider": "scripted", "model": "api-fast"},
                     {"Origin": "http://frontend.test"})
        assert got[-1] == "[DONE]"
    finally:
        server.stop()


def seed_client(server: AppServer, body: dict[str, Any]) -> tuple[str, bool, list[str]]:
    """The seed's client, as naive as it is: each read is decoded (a TextDecoder with
    ``stream: true``), split on ``"\n\n"``, every ``data: `` part taken whole; ``[DONE]``
    only if the part is exactly that, anything else through ``JSON.parse``. Returns the text,
    whether ``[DONE]`` came, and the parse errors."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    text, done, errors = [], False, []
    with post(server, body) as response:
        assert response.status == 200
        while chunk := response.read1(65536):
            for part in decoder.decode(chunk).split("\n\n"):
                if not part.startswith("data: "):
                    continue
                data = part[len("data: "):]
                if data == "[DONE]":
                    done = True
                    continue
                try:
                    text.append(json.loads(data)["content"])
                except ValueError as exc:
                    errors.append(f"{exc}: {data!r}")
    return "".join(text), done, errors


@pytest.mark.parametrize("model", ["api-burst", "api-multibyte", "api-slow"])
def test_the_seeds_own_client_gets_every_answer_whole_ending_at_done(api, model):
    server, _ = api
    expected = SLOW_TEXT if model == "api-slow" else MULTIBYTE_TEXT
    text, done, errors = seed_client(server, {"message": f"seed {model}",
                                              "provider": "scripted", "model": model})
    assert errors == [] and done and text == expected


def test_a_page_of_another_site_cannot_make_the_api_spend(api):
    server, store = api
    before = store.count()
    body = {"message": "spend it", "provider": "scripted", "model": "api-fast"}
    # A form or fetch() with a text/plain body needs no CORS preflight: refused for its type.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        headers = {"Content-Type": content_type} if content_type else {}
        conn.request("POST", "/chat", body=json.dumps(body).encode(),
                     headers={**headers, "Origin": "http://evil.test"})
        refused = conn.getresponse()
        assert refused.status in (403, 415), content_type
        refused.read()
        conn.close()
    with post(server, body, {"Content-Type": "text/plain"}) as no_json:
        assert no_json.status == 415 and "application/json" in json.loads(no_json.read())["error"]
    # JSON from another site's page (its Origin), e.g. sent by a proxy or a lax browser.
    with post(server, body, {"Origin": "http://evil.test"}) as foreign:
        assert foreign.status == 403
        assert "CHATLAB_API_CORS_ORIGINS" in json.loads(foreign.read())["error"]
    assert store.count() == before  # nothing was sent to a provider, nothing recorded
    # The server's own pages (the demo at /chat/demo) and clients that are not pages still work.
    own = f"http://127.0.0.1:{server.port}"
    assert answer(server, body, {"Origin": own})[-1] == "[DONE]"
    assert answer(server, body)[-1] == "[DONE]"


def test_oversized_bodies_get_413_and_other_methods_405(api):
    server, store = api
    before = store.count()
    big = json.dumps({"message": "x" * 1_000_001}).encode()
    with post(server, None, raw=big) as too_large:
        assert too_large.status == 413
        assert "over 1,000,000 bytes" in json.loads(too_large.read())["error"]
    for method in ("GET", "PUT", "DELETE"):
        with post(server, None, raw=b"", method=method) as wrong:
            assert wrong.status == 405, method
            assert wrong.getheader("Allow") == "POST"
            assert "POST /chat" in json.loads(wrong.read())["error"]
    assert store.count() == before


def test_refusals_tell_an_api_caller_what_to_send_not_the_sidebar(tmp_path):
    server, _ = start_app(tmp_path, ANTHROPIC_API_KEY="", OPENAI_API_KEY="")
    try:
        for body, says in (
                ({"message": "word " * 5000, "provider": "scripted"}, "send a shorter 'message'"),
                ({"message": "hi", "provider": "anthropic"}, "name another 'provider'")):
            with post(server, body) as refused:
                assert refused.status == 400
                error = json.loads(refused.read())["error"]
            assert says in error and "sidebar" not in error
    finally:
        server.stop()
