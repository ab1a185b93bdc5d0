"""A base URL is judged before any request: each reason it cannot be used is named (unit
tests of ``base_url_problem``), the sidebar says it under the field as it is typed, and every
path that builds a provider (sidebar, HTTP API, prompt-set CLI) refuses it with that reason
instead of failing later as a stream error."""

from __future__ import annotations

import pytest

from chatlib.core.errors import ConfigError
from chatlib.providers.base_url import MAX_URL_CHARS, base_url_problem
from chatlib.providers.catalog import PRESETS, KeyChoice, build_provider
from chatlib.providers.named import resolve_provider
from tests.wire import openai_wire as ow
from tests.wire.server import WireServer

# About 2,000 characters, as typed in QA: 32 dot-separated parts of 60, each part fine.
LONG_HOST = ".".join(["a" * 60] * 32)
LONG_URL = f"http://{LONG_HOST}/v1"


@pytest.mark.parametrize("url", [
    "http://localhost:11434/v1", "https://api.openai.com/v1", "http://127.0.0.1:8000/v1",
    "http://[::1]:8080/v1", "http://gpu_box.local:8000/v1", "http://bücher.example/v1",
    "http://host:/v1", "http://user:pw@host:1/v1", "http://example.com./v1",
    "  http://localhost:8000/v1  ", f"http://{'a' * 63}.example/v1",
    "http://" + ".".join(["a" * 63] * 3 + ["a" * 61]) + "/v1",  # 253 exactly
])
def test_usable_base_urls_have_no_problem(url):
    assert base_url_problem(url) is None


@pytest.mark.parametrize(("url", "reason"), [
    ("", "No base URL"),
    ("ftp://host/v1", "must start with http:// or https:// (not ftp:)"),
    ("localhost:8000", "must start with http:// or https:// (not localhost:)"),
    ("host/v1", "must start with http:// or https://."),
    ("http://", "has no host name"),
    ("http://:8000/v1", "has no host name"),
    (LONG_URL, f"host name is {len(LONG_HOST):,} characters long; a host name has at most 253"),
    ("http://" + ".".join(["a" * 63] * 3 + ["a" * 62]) + "/v1", "254 characters long"),
    (f"http://{'a' * 64}.example/v1", "is 64 characters long; each part has at most 63"),
    ("http://a..b/v1", "empty part between dots"),
    ("http://127.0.0.1:99999/v1", "The port must be from 1 to 65535 (got 99999)."),
    ("http://127.0.0.1:0/v1", "The port must be from 1 to 65535 (got 0)."),
    ("http://h:abc/v1", "The port must be a number from 1 to 65535 (got 'abc')."),
    ("http://h:-1/v1", "must be a number"),
    ("http://local host:8000/v1", "a space at position 13"),
    ("http://localhost:8000/v1\x00", "a control character at position 25"),
    ("http://localhost\u200b:8000/v1", "a control character at position 17"),
    ("http://[::1", "does not parse"),
    ("http://[nothing]:8000/v1", "must be an IPv6 address"),
    ("http://<script>/v1", "only letters, digits, hyphens and dots"),
    ("http://localhost:8000/" + "v" * MAX_URL_CHARS,
     f"characters long; at most {MAX_URL_CHARS:,} are accepted"),
])
def test_each_reason_is_named(url, reason):
    problem = base_url_problem(url)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(("url", "reason"), [
    (LONG_URL, "host name is 1,951 characters long"),
    ("http://127.0.0.1:99999/v1", "The port must be from 1 to 65535 (got 99999)."),
])
def test_building_a_provider_refuses_it_with_the_reason(url, reason):
    with pytest.raises(ConfigError) as caught:
        build_provider(PRESETS["openai-compatible"], base_url=url, key=KeyChoice(None, None))
    message = caught.value.user_message
    assert reason in message and len(message) < 400  # the long URL is not quoted whole


def test_the_api_and_cli_path_gets_the_reason_for_a_configured_base_url(monkeypatch):
    """``resolve_provider`` (POST /chat and the prompt-set CLI) builds from the environment."""
    monkeypatch.setenv("OPENAI_BASE_URL", LONG_URL)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(ConfigError, match="host name is 1,951 characters long"):
        resolve_provider("openai", None)


@pytest.fixture
def server():
    with WireServer(lambda: ow.models_body(["gpt-4o-mini"])) as srv:
        yield srv


def test_the_sidebar_says_why_at_once_and_nothing_is_sent(app_test, server, store, monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    at = app_test().run()
    # Ollama, as in QA: its preset has default models, so the old code went on and sent.
    at.sidebar.selectbox(key="provider").set_value("openai-compatible").run()
    at.sidebar.selectbox(key="server").set_value("ollama").run()
    at.sidebar.text_input(key="base_url_ollama").set_value(server.url + "/v1").run()
    assert not at.exception and not at.sidebar.error
    seen = len(server.exchanges)  # the local server's model list, asked at once

    for url, reason in ((LONG_URL, "The host name is 1,951 characters long"),
                        (f"http://{'a' * 1990}/v1", "The host name is 1,990 characters long"),
                        ("http://127.0.0.1:99999/v1", "The port must be from 1 to 65535")):
        at.sidebar.text_input(key="base_url_ollama").set_value(url).run()
        assert not at.exception
        assert [e.value for e in at.sidebar.error] == [base_url_problem(url)]
        assert reason in at.sidebar.error[0].value  # under the field, before any prompt
        at.chat_input[0].set_value("hi").run()
        assert not at.exception
        error = at.chat_message[-1].error[0].value
        assert reason in error and "stream" not in error
    assert len(server.exchanges) == seen and store.count() == 0
