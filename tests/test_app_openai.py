"""AppTest of the chat page through the cloud paths: the real SDKs talk to a local server
that speaks the wire format; the sidebar picks the server, the model and the key."""

from __future__ import annotations

import json

import pytest

from chatlib.providers.base_url import base_url_problem
from ui.limits import SETTING_KEY
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


def test_openai_via_env_with_usage_retry_and_no_key_on_the_page(app_test, server, store,
                                                                monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")  # the key's own base URL
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai").run()
    assert "Key from the environment (OPENAI_API_KEY)." in page_text(at.sidebar)
    at.sidebar.text_input(key="model_id_openai").set_value("gpt-4o-mini").run()
    # A server on this machine is never limited, so the sidebar offers no limit for it; one
    # set for paid providers (1 a minute) holds for the session.
    assert not [n for n in at.sidebar.number_input if n.key == "paid_rpm"]
    at.session_state[SETTING_KEY] = 1

    server.script(ow.error(429, "Rate limit reached", headers={"retry-after-ms": "10"}),
                  Reply(events=ow.stream(["Fine, ", "thanks."], usage=(30, 4))),
                  Reply(events=ow.stream(["Again."], usage=(40, 2))))
    at.chat_input[0].set_value("How are you?").run()
    assert not at.exception
    answer = at.chat_message[1]
    assert answer_text(answer) == "Fine, thanks."
    caption = answer.caption[0].value
    assert "4 tokens (usage)" in caption and "2 attempts" in caption
    assert server.posts[-1].headers["authorization"] == f"Bearer {KEY}"

    # A server on this machine costs nothing: the paid-request limit (1 a minute) does not
    # apply to it, whatever the preset.
    at.chat_input[0].set_value("And again?").run()
    assert not at.exception
    assert answer_text(at.chat_message[3]) == "Again." and len(server.posts) == 3
    assert store.count() == 2

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
    assert "Key typed in this session for this base URL." in page_text(at.sidebar)
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
    for a base URL serving the compare page's target at that same URL (same session, never
    stored)."""
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
    at.sidebar.text_input(key="base_url_ollama").set_value(server.url + "/v1").run()
    at.sidebar.text_input(key="api_key_ollama").set_value(KEY).run()
    at.switch_page("app_pages/compare.py").run()
    at.sidebar.selectbox(key="t0_provider").set_value("scripted").run()
    at.sidebar.selectbox(key="t0_model").set_value("demo-fast").run()
    at.sidebar.selectbox(key="t1_provider").set_value("openai-compatible").run()
    at.sidebar.text_input(key="t1_base_url_ollama").set_value(server.url + "/v1").run()
    assert at.sidebar.text_input(key="t1_api_key_ollama").value == ""  # never sent back
    assert "Key typed in this session for this base URL." in page_text(at.sidebar)
    assert not at.exception and at.sidebar.error.len == 0
    server.script(Reply(events=ow.stream(["Side ", "by ", "side."], usage=(9, 3))))
    at.chat_input[0].set_value("Compare us").run()
    assert not at.exception
    assert "Side by side." in "".join(m.value for m in at.columns[1].markdown)
    assert server.posts[0].headers["authorization"] == f"Bearer {KEY}"
    runs = {r.provider: r for r in store.runs().itertuples()}
    assert set(runs) == {"scripted", "ollama"} and runs["ollama"].status == "ok"


def all_protos_text(at) -> str:
    """Every element and widget the script sent, as protobuf text: what the browser gets."""
    return "\n".join(str(node.proto) for node in iter_tree(at._tree) if hasattr(node, "proto"))


def iter_tree(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from iter_tree(child)


def test_a_typed_key_goes_only_to_the_base_url_it_was_typed_for(app_test, store):
    """Two servers that log the Authorization header: a key typed for A never reaches B,
    whether the chat's base URL changes to B or a compare target points at B."""
    with WireServer(lambda: ow.models_body(["m"])) as a, \
            WireServer(lambda: ow.models_body(["m"])) as b:
        at = app_test().run()
        at.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
        at.sidebar.selectbox(key="server").set_value("openai-compatible").run()
        at.sidebar.text_input(key="base_url_openai-compatible").set_value(a.url + "/v1").run()
        at.sidebar.text_input(key="api_key_openai-compatible").set_value(KEY).run()
        assert at.sidebar.text_input(key="api_key_openai-compatible").value == ""
        assert KEY not in all_protos_text(at)  # neither the value nor the default
        a.script(Reply(events=ow.stream(["from A"])))
        at.chat_input[0].set_value("to A").run()
        assert a.posts[-1].headers["authorization"] == f"Bearer {KEY}"

        at.sidebar.text_input(key="base_url_openai-compatible").set_value(b.url + "/v1").run()
        assert "Key typed" not in page_text(at.sidebar)
        b.script(Reply(events=ow.stream(["from B"])))
        at.chat_input[0].set_value("to B").run()
        assert not at.exception and answer_text(at.chat_message[-1]) == "from B"
        assert KEY not in json.dumps(b.posts[-1].headers)

        at.switch_page("app_pages/compare.py").run()
        at.sidebar.selectbox(key="t0_provider").set_value("openai-compatible").run()
        at.sidebar.selectbox(key="t0_server").set_value("openai-compatible").run()
        at.sidebar.text_input(key="t0_base_url_openai-compatible").set_value(b.url + "/v1").run()
        at.sidebar.selectbox(key="t1_provider").set_value("openai-compatible").run()
        at.sidebar.selectbox(key="t1_server").set_value("openai-compatible").run()
        at.sidebar.text_input(key="t1_base_url_openai-compatible").set_value(a.url + "/v1").run()
        a.script(Reply(events=ow.stream(["A again"])))
        b.script(Reply(events=ow.stream(["B again"])))
        at.chat_input[0].set_value("both").run()
        assert not at.exception
        assert a.posts[-1].headers["authorization"] == f"Bearer {KEY}"
        assert all(KEY not in json.dumps(ex.headers) for ex in b.exchanges)
        assert KEY not in all_protos_text(at)

        # Forgetting the key: the next request to A goes without it.
        at.switch_page("app_pages/chat.py").run()  # its widgets start afresh; the key stays
        at.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
        at.sidebar.selectbox(key="server").set_value("openai-compatible").run()
        at.sidebar.text_input(key="base_url_openai-compatible").set_value(a.url + "/v1").run()
        assert "Key typed in this session for this base URL." in page_text(at.sidebar)
        at.sidebar.button(key="forget_key_openai-compatible").click().run()
        assert "Key typed" not in page_text(at.sidebar)
        a.script(Reply(events=ow.stream(["A without key"])))
        at.chat_input[0].set_value("to A, no key").run()
        assert KEY not in json.dumps(a.posts[-1].headers)
    assert KEY not in store.runs().to_json()


def test_a_key_that_is_not_plain_ascii_is_refused_with_a_reason(app_test, server, store):
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai").run()
    at.sidebar.text_input(key="base_url_openai").set_value(server.url + "/v1").run()
    at.sidebar.text_input(key="api_key_openai").set_value("ключ-🔑").run()
    assert not at.exception
    assert "API keys are plain ASCII" in at.sidebar.warning[0].value
    at.chat_input[0].set_value("hi").run()
    assert not at.exception
    assert at.chat_message[1].error[0].value.startswith("No OpenAI API key.")
    assert server.posts == [] and store.count() == 0
    assert "ключ" not in all_protos_text(at)


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999/v1"])
def test_a_malformed_base_url_is_a_clear_message_not_an_exception(app_test, url):
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
    at.sidebar.selectbox(key="server").set_value("openai-compatible").run()
    at.sidebar.text_input(key="base_url_openai-compatible").set_value(url).run()
    assert not at.exception
    at.chat_input[0].set_value("hi").run()
    assert not at.exception
    assert at.chat_message[1].error[0].value == (
        f"The base URL for Custom base URL must look like http://localhost:8000/v1 (got {url}). "
        + base_url_problem(url))  # the reason too (tests/test_base_url.py)
    at.sidebar.selectbox(key="provider").set_value("scripted").run()
    at.chat_input[0].set_value("still works?").run()
    assert not at.exception and answer_text(at.chat_message[-1])


def test_server_failures_read_well(app_test, server):
    """A closed port names the server once; an HTML error page from /models is one line."""
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
    at.sidebar.selectbox(key="server").set_value("openai-compatible").run()
    at.sidebar.text_input(key="base_url_openai-compatible").set_value(
        "http://127.0.0.1:1/v1").run()
    assert "Could not connect to the server at http://127.0.0.1:1/v1 (" in page_text(at.sidebar)
    assert "at http://127.0.0.1:1/v1 at" not in page_text(at.sidebar)

    page = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
            "<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")
    with WireServer(lambda: page) as html:  # /models answers 200 with HTML, not JSON
        html.models_status = 502
        at.sidebar.text_input(key="base_url_openai-compatible").set_value(
            html.url + "/v1").run()
    assert not at.exception
    listed = [c for c in page_text(at.sidebar).splitlines() if "list the server" in c]
    assert listed and "<" not in listed[0] and "502" in listed[0], listed


def test_lone_surrogates_from_a_server_are_shown_as_valid_text(app_test, store):
    """A server's model list and error message with JSON "\\ud800" escapes (which decode to
    lone surrogates) reach the page as valid text; the chat goes on."""
    with WireServer(lambda: ow.models_body(["good-model", "bad\ud800model"])) as srv:
        at = app_test().run()
        at.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
        at.sidebar.selectbox(key="server").set_value("openai-compatible").run()
        at.sidebar.text_input(key="base_url_openai-compatible").set_value(srv.url + "/v1").run()
        assert not at.exception
        options = at.sidebar.selectbox(key="model_openai-compatible").options
        assert "bad\ufffdmodel" in options
        srv.script(ow.error(400, "model \ud800 is not loaded"))
        at.chat_input[0].set_value("hi").run()
        assert not at.exception
        assert "model \ufffd is not loaded" in at.chat_message[1].error[0].value
        srv.script(Reply(events=ow.stream(["works"])))
        at.chat_input[0].set_value("again").run()
        assert not at.exception and answer_text(at.chat_message[3]) == "works"
    assert list(store.runs().status) == ["error", "ok"]
