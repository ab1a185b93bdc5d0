"""AppTest of the chat page through the cloud paths: the real SDKs talk to a local server
that speaks the wire format; the sidebar picks the server, the model and the key."""

from __future__ import annotations

import json

import pytest

from tests.wire import anthropic_wire as aw
from tests.wire import openai_wire as ow
from tests.wire.server import Reply, WireServer

KEY = "sk-apptest-0123456789abcdef"


@pytest.fixture(autouse=True)
def no_keys_from_the_machine(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    with WireServer(lambda: ow.models_body(["gpt-4o-mini", "local-model"])) as srv:
        yield srv


def answer_text(message) -> str:
    return "\n\n".join(m.value.strip() for m in message.markdown)


def page_text(at) -> str:
    """Everything the page shows as text (answers, captions, errors, widget labels)."""
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "text"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def test_chat_with_a_custom_openai_compatible_server(app_test, server, store):
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
    at.sidebar.selectbox(key="server").set_value("openai-compatible").run()
    at.sidebar.text_input(key="base_url_openai-compatible").set_value(server.url + "/v1").run()
    assert not at.exception
    model_box = at.sidebar.selectbox(key="model_openai-compatible")
    assert model_box.options == ["gpt-4o-mini", "local-model"]  # the server's /models
    assert model_box.value == "gpt-4o-mini"  # the first listed model, chosen for the user
    model_box.set_value("local-model").run()

    server.script(Reply(events=ow.stream(["Hello ", "from ", "the server."], usage=None)))
    at.chat_input[0].set_value("Say hello").run()
    assert not at.exception
    user, assistant = at.chat_message
    assert answer_text(assistant) == "Hello from the server."
    assert "(estimate)" in assistant.caption[0].value  # no usage, not an OpenAI model
    [post] = server.posts
    assert post.json["model"] == "local-model" and post.json["messages"][-1] == {
        "role": "user", "content": "Say hello"}
    assert post.json["max_tokens"] == 256 and post.json["temperature"] == 0.7
    runs = store.runs()
    assert list(runs.status) == ["ok"] and runs.provider[0] == "openai-compatible"
    run = store.get(runs.id[0])
    assert run.model == "local-model" and run.output_source == "estimate"


def test_openai_via_env_with_usage_rate_limit_and_no_key_on_the_page(app_test, server, store,
                                                                     monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")  # a gateway: still paid
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai").run()
    assert "Key from the environment (OPENAI_API_KEY)." in page_text(at.sidebar)
    at.sidebar.text_input(key="model_id_openai").set_value("gpt-4o-mini").run()
    at.sidebar.number_input(key="paid_rpm").set_value(1).run()

    server.script(ow.error(429, "Rate limit reached", headers={"retry-after-ms": "10"}),
                  Reply(events=ow.stream(["Fine, ", "thanks."], usage=(30, 4))))
    at.chat_input[0].set_value("How are you?").run()
    assert not at.exception
    answer = at.chat_message[1]
    assert answer_text(answer) == "Fine, thanks."
    caption = answer.caption[0].value
    assert "4 tokens (usage)" in caption and "2 attempts" in caption
    assert server.posts[-1].headers["authorization"] == f"Bearer {KEY}"

    at.chat_input[0].set_value("And again?").run()  # over 1 a minute: refused before sending
    assert not at.exception
    refused = at.chat_message[3]
    assert refused.error[0].value.startswith("Rate limit: next request allowed in ")
    assert len(server.posts) == 2 and store.count() == 1  # nothing sent, nothing stored

    assert KEY not in page_text(at) + page_text(at.sidebar)
    assert KEY not in store.runs().to_json()
    assert KEY not in json.dumps(store.get(store.runs().id[0]).to_dict())


def test_missing_key_and_a_rejected_key_say_what_to_fix(app_test, server, store):
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai").run()
    assert "No key set." in page_text(at.sidebar)
    at.chat_input[0].set_value("hi").run()
    assert not at.exception
    assert at.chat_message[1].error[0].value.startswith("No OpenAI API key. Set OPENAI_API_KEY")
    assert server.exchanges == [] and store.count() == 0

    at.sidebar.text_input(key="base_url_openai").set_value(server.url + "/v1").run()
    at.sidebar.text_input(key="api_key_openai").set_value(KEY).run()  # typed: this session only
    assert "Key typed in this session." in page_text(at.sidebar)
    server.script(ow.error(401, f"Incorrect API key provided: {KEY}"))
    at.chat_input[0].set_value("hi again").run()
    error = at.chat_message[-1].error[0].value
    assert "rejected the API key (401" in error and "Check the key" in error and KEY not in error
    assert list(store.runs().status) == ["error"]


def test_chat_through_anthropic_with_a_typed_key(app_test, store):
    with WireServer(lambda: aw.models_body(["claude-test-1"])) as srv:
        at = app_test().run()
        at.sidebar.selectbox(key="provider").set_value("anthropic").run()
        at.sidebar.text_input(key="base_url_anthropic").set_value(srv.url).run()
        at.sidebar.text_input(key="api_key_anthropic").set_value(KEY).run()
        at.sidebar.text_input(key="model_id_anthropic").set_value("claude-test-1").run()
        srv.script(Reply(events=aw.stream(["Bonjour", "!"], input_tokens=40, output_tokens=3)))
        at.chat_input[0].set_value("hi").run()
        assert not at.exception
        assert answer_text(at.chat_message[1]) == "Bonjour!"
        assert "3 tokens (usage)" in at.chat_message[1].caption[0].value
        run = store.get(store.runs().id[0])
        assert run.provider == "anthropic" and run.input_tokens == 40 and run.status == "ok"
        assert srv.posts[0].json["max_tokens"] == 256


def test_compare_a_scripted_target_with_a_server_and_share_the_typed_key(app_test, server,
                                                                         store):
    """The picker inside a compare target (an expander), and a key typed on the chat page
    serving the compare page too (same session, never stored)."""
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
    at.sidebar.text_input(key="api_key_ollama").set_value(KEY).run()
    at.switch_page("app_pages/compare.py").run()
    at.sidebar.selectbox(key="t0_provider").set_value("scripted").run()
    at.sidebar.selectbox(key="t0_model").set_value("demo-fast").run()
    at.sidebar.selectbox(key="t1_provider").set_value("openai-compatible").run()
    assert at.sidebar.text_input(key="t1_api_key_ollama").value == KEY
    at.sidebar.text_input(key="t1_base_url_ollama").set_value(server.url + "/v1").run()
    assert not at.exception and at.sidebar.error.len == 0
    server.script(Reply(events=ow.stream(["Side ", "by ", "side."], usage=(9, 3))))
    at.chat_input[0].set_value("Compare us").run()
    assert not at.exception
    assert "Side by side." in "".join(m.value for m in at.columns[1].markdown)
    assert server.posts[0].headers["authorization"] == f"Bearer {KEY}"
    runs = {r.provider: r for r in store.runs().itertuples()}
    assert set(runs) == {"scripted", "ollama"} and runs["ollama"].status == "ok"
