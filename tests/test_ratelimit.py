"""The per-session limit on paid requests (injected clock), and the provider catalog's key
and base-URL resolution."""

from __future__ import annotations

import pytest

from chatlib.errors import RateLimitError
from chatlib.providers.catalog import (
    PRESETS,
    counter_for_model,
    default_base_url,
    is_local_url,
    is_paid,
    resolve_key,
)
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.ratelimit import RateLimitedProvider, RateLimiter
from chatlib.types import Message, Settings


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
    env = {"OPENAI_API_KEY": "sk-env", "ANTHROPIC_API_KEY": "sk-ant-env"}
    assert resolve_key(openai, "", {}, env).source == "environment: OPENAI_API_KEY"
    assert resolve_key(openai, "", {"OPENAI_API_KEY": "sk-sec"}, env).value == "sk-sec"
    assert resolve_key(openai, "", {"openai": {"api_key": "sk-sec2"}}, env).source == \
        "secrets: [openai] api_key"
    assert resolve_key(openai, " sk-typed ", {"OPENAI_API_KEY": "x"}, env).value == "sk-typed"
    assert resolve_key(PRESETS["anthropic"], "", {}, env).value == "sk-ant-env"
    for local in ("ollama", "vllm", "llamacpp", "lmstudio", "openai-compatible"):
        assert resolve_key(PRESETS[local], "", {}, env).value is None  # no OpenAI key leaks
    assert resolve_key(PRESETS["gemini"], "", {}, {"GOOGLE_API_KEY": "g"}).value == "g"
    assert "sk-env" not in repr(resolve_key(openai, "", {}, env))
    assert resolve_key(openai, "", {}, env).describe() == \
        "Key from the environment (OPENAI_API_KEY)."
    assert resolve_key(openai, "", {"OPENAI_API_KEY": "s"}, env).describe() == \
        "Key from secrets.toml (OPENAI_API_KEY)."


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


def test_paid_is_off_for_local_servers():
    assert is_local_url("http://localhost:11434/v1") and is_local_url("http://127.0.0.1:8000")
    assert is_local_url("http://192.168.1.20:8000/v1") and is_local_url("http://box.local/v1")
    assert not is_local_url("https://api.together.xyz/v1")
    custom = PRESETS["openai-compatible"]
    assert not is_paid(custom, "http://10.0.0.5:8000/v1") and is_paid(custom, "https://x.ai/v1")
    assert not is_paid(PRESETS["ollama"], "http://gpu-box.example:11434/v1")
    assert is_paid(PRESETS["openai"], "http://127.0.0.1:9999/v1")  # a gateway to a paid API


def test_token_counters_by_model():
    assert counter_for_model(PRESETS["openai"], "gpt-5.5").source == "tokenizer"
    assert counter_for_model(PRESETS["vllm"], "gpt-4o-mini").source == "tokenizer"
    assert counter_for_model(PRESETS["vllm"], "Qwen/Qwen3-8B").source == "estimate"
    assert counter_for_model(PRESETS["anthropic"], "claude-sonnet-4-6").source == "estimate"
