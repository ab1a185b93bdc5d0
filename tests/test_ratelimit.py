"""The per-session limit on paid requests (injected clock), and the provider catalog's key
and base-URL resolution."""

from __future__ import annotations

import pytest

from chatlib.core.errors import RateLimitError
from chatlib.core.errors import ConfigError
from chatlib.providers.catalog import (
    PRESETS,
    KeyChoice,
    build_provider,
    counter_for_model,
    default_base_url,
    is_local_url,
    is_paid,
    key_problem,
    resolve_key,
)
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.providers.ratelimit import RateLimitedProvider, RateLimiter
from chatlib.core.types import Message, Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_allows_n_a_minute_and_says_when_the_next_is_allowed():
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    for t in (0, 10, 20):
        clock.now = 1000 + t
        limiter.acquire()
    clock.now = 1000 + 48  # the first request was 48 s ago: 12 s to go
    with pytest.raises(RateLimitError) as caught:
        limiter.acquire()
    assert str(caught.value).startswith("Rate limit: next request allowed in 12 s")
    assert limiter.wait_s() == pytest.approx(12)
    clock.now = 1000 + 60  # the oldest left the window
    limiter.acquire()
    with pytest.raises(RateLimitError, match="allowed in 10 s"):
        limiter.check()  # the next slot frees when the request made at +10 s is a minute old


def test_refused_requests_do_not_count_and_zero_turns_the_limit_off():
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    limiter.acquire()
    for _ in range(5):
        with pytest.raises(RateLimitError):
            limiter.acquire()
    clock.now += 60
    limiter.acquire()  # the refusals did not extend the wait
    limiter.per_minute = 0
    for _ in range(100):
        limiter.acquire()
    assert limiter.wait_s() == 0


def test_lowering_the_limit_applies_at_once():
    clock = Clock()
    limiter = RateLimiter(10, clock=clock)
    for _ in range(5):
        limiter.acquire()
        clock.now += 1
    limiter.per_minute = 2
    # 5 requests at t=0..4 (now t=5): allowed again once the 4th (t=3) is a minute old.
    assert limiter.wait_s() == pytest.approx(58)


def test_limited_provider_counts_each_stream_and_refuses_over_the_limit():
    clock = Clock()
    limiter = RateLimiter(2, clock=clock)
    inner = ScriptedProvider(Script(chunks=("a",)))
    p = RateLimitedProvider(inner, limiter)
    assert p.id == "scripted" and p.models() == ["scripted"] and p.paid is False
    for _ in range(2):
        assert list(p.stream([Message("user", "hi")], Settings(model="scripted")))
    with pytest.raises(RateLimitError, match="next request allowed in 60 s"):
        p.stream([Message("user", "hi")], Settings(model="scripted"))
    assert len(inner.calls) == 2  # the refused request never reached the provider


def test_keys_come_from_typed_then_secrets_then_env_and_never_cross_presets():
    openai = PRESETS["openai"]
    home = "https://api.openai.com/v1"
    env = {"OPENAI_API_KEY": "sk-env", "ANTHROPIC_API_KEY": "sk-ant-env"}
    assert resolve_key(openai, home, "", {}, env).source == "environment: OPENAI_API_KEY"
    assert resolve_key(openai, home, "", {"OPENAI_API_KEY": "sk-sec"}, env).value == "sk-sec"
    assert resolve_key(openai, home, "", {"openai": {"api_key": "sk-sec2"}}, env).source == \
        "secrets: [openai] api_key"
    assert resolve_key(openai, home, " sk-typed ", {"OPENAI_API_KEY": "x"}, env).value == \
        "sk-typed"
    anthropic = PRESETS["anthropic"]
    assert resolve_key(anthropic, anthropic.base_url, "", {}, env).value == "sk-ant-env"
    for local in ("ollama", "vllm", "llamacpp", "lmstudio", "openai-compatible"):
        preset = PRESETS[local]
        assert resolve_key(preset, preset.base_url, "", {}, env).value is None  # no leak
    gemini = PRESETS["gemini"]
    assert resolve_key(gemini, gemini.base_url, "", {}, {"GOOGLE_API_KEY": "g"}).value == "g"
    assert "sk-env" not in repr(resolve_key(openai, home, "", {}, env))
    assert resolve_key(openai, home, "", {}, env).describe() == \
        "Key from the environment (OPENAI_API_KEY)."
    assert resolve_key(openai, home + "/", "", {"OPENAI_API_KEY": "s"}, env).describe() == \
        "Key from secrets.toml (OPENAI_API_KEY)."


def test_a_stored_key_goes_only_to_the_base_url_configured_with_it():
    openai = PRESETS["openai"]
    env = {"OPENAI_API_KEY": "sk-env"}
    elsewhere = resolve_key(openai, "http://127.0.0.1:9/v1", "", {}, env)
    assert elsewhere.value is None and "sk-env" not in repr(elsewhere)
    assert elsewhere.describe().startswith("No key for this base URL: the key in the "
                                           "environment (OPENAI_API_KEY) is for "
                                           "https://api.openai.com/v1 only.")
    gateway = {"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "http://gw.example/v1"}
    assert resolve_key(openai, "http://gw.example/v1", "", {}, gateway).value == "sk-env"
    assert resolve_key(openai, "https://api.openai.com/v1", "", {}, gateway).value is None
    secrets = {"openai_compatible": {"api_key": "sk-box", "base_url": "http://box:8000/v1"}}
    custom = PRESETS["openai-compatible"]
    assert resolve_key(custom, "http://box:8000/v1", "", secrets, {}).value == "sk-box"
    assert resolve_key(custom, "http://other:8000/v1", "", secrets, {}).value is None
    # What the user typed for this URL always wins (the UI binds it to the URL).
    assert resolve_key(custom, "http://other:8000/v1", "sk-t", secrets, {}).value == "sk-t"


def test_base_urls_presets_and_overrides():
    assert default_base_url(PRESETS["ollama"], {}, {}) == "http://localhost:11434/v1"
    assert default_base_url(PRESETS["vllm"], {}, {}).endswith(":8000/v1")
    assert default_base_url(PRESETS["llamacpp"], {}, {}).endswith(":8080/v1")
    assert default_base_url(PRESETS["lmstudio"], {}, {}).endswith(":1234/v1")
    assert "generativelanguage.googleapis.com" in default_base_url(PRESETS["gemini"], {}, {})
    env = {"OPENAI_BASE_URL": "http://gw.example/v1", "ANTHROPIC_BASE_URL": "http://a.example"}
    assert default_base_url(PRESETS["openai"], {}, env) == "http://gw.example/v1"
    assert default_base_url(PRESETS["anthropic"], {}, env) == "http://a.example"
    assert default_base_url(PRESETS["anthropic"], {}, {}) == "https://api.anthropic.com"


def test_paid_is_off_for_servers_on_this_machine_or_network():
    assert is_local_url("http://localhost:11434/v1") and is_local_url("http://127.0.0.1:8000")
    assert is_local_url("http://192.168.1.20:8000/v1") and is_local_url("http://box.local/v1")
    assert is_local_url("http://[::1]:8000/v1") and not is_local_url("http://[::1")
    assert not is_local_url("https://api.together.xyz/v1")
    assert not is_paid("http://10.0.0.5:8000/v1") and is_paid("https://x.ai/v1")
    assert is_paid("http://gpu-box.example:11434/v1")  # a remote host: may cost money
    # Whatever the preset: OpenAI's pointed at a llama.cpp server on loopback is free.
    assert not is_paid("http://127.0.0.1:9999/v1") and is_paid("https://api.openai.com/v1")
    for preset, url in (("openai", "http://127.0.0.1:9/v1"), ("anthropic", "http://127.0.0.1:9"),
                        ("openai", "https://api.openai.com/v1")):
        built = build_provider(PRESETS[preset], base_url=url, key=KeyChoice("sk-x", "typed"))
        assert built.paid is (url.startswith("https")), (preset, url)
        built.close()


def test_token_counters_by_model():
    assert counter_for_model(PRESETS["openai"], "gpt-5.5").source == "tokenizer"
    assert counter_for_model(PRESETS["vllm"], "gpt-4o-mini").source == "tokenizer"
    assert counter_for_model(PRESETS["vllm"], "Qwen/Qwen3-8B").source == "estimate"
    assert counter_for_model(PRESETS["anthropic"], "claude-sonnet-4-6").source == "estimate"
    # A SmolLM2 behind llama.cpp, reached through the OpenAI preset, is not OpenAI's model:
    # a tiktoken count of it is an estimate, and says so.
    smol = counter_for_model(PRESETS["openai"], "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert smol.source == "estimate" and "estimate" in smol.name
    assert counter_for_model(PRESETS["openai"], "ft:gpt-4o-mini:acme::x1").source == "tokenizer"


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999/v1", "http://h:abc/v1",
                                 "localhost:8000", "", "ftp://h/v1", "http://"])
def test_every_malformed_base_url_gets_the_same_clear_message(url):
    with pytest.raises(ConfigError) as caught:
        build_provider(PRESETS["openai-compatible"], base_url=url, key=KeyChoice(None, None))
    assert str(caught.value).startswith("The base URL for Custom base URL must look like "
                                        "http://localhost:8000/v1 (got ")


def test_a_key_that_is_not_plain_ascii_is_refused_before_any_request():
    assert key_problem("sk-proj-AZaz09_-.") is None
    problem = key_problem("ключ-🔑")
    assert problem is not None and "plain ASCII" in problem and "ключ" not in problem
    assert "a space at position 4" in key_problem("sk- x")
    with pytest.raises(ConfigError, match="API key in the environment \\(OPENAI_API_KEY\\) "
                                          "cannot be used. API keys are plain ASCII"):
        build_provider(PRESETS["openai"], base_url="https://api.openai.com/v1",
                       key=KeyChoice("sk-é", "environment: OPENAI_API_KEY"))
