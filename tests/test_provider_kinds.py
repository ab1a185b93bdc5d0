"""Provider kinds are registered in one place (chatlib.providers.kinds, and their sidebar
widgets in ui.providers): a toy kind registered here works by name (the HTTP API and the
prompt-set CLI), in the Chat page, in Compare (its ``shares_cpu`` puts its targets in one
lane) and in a prompt set; unregistered, the app offers what it offered before."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from chatlib.api.chat_endpoint import ApiConfig, api_routes
from chatlib.compare.comparison import Comparison, SharedSettings, TargetSpec, serial_key
from chatlib.core.errors import ConfigError
from chatlib.core.tokens import FunctionCounter, TokenCounter
from chatlib.core.types import Event, Finish, Message, Settings, TextDelta
from chatlib.evals.prompt_sets import PromptCase
from chatlib.evals.runner import resolve_targets, run_prompt_set
from chatlib.providers.catalog import OPENAI_COMPATIBLE, PRESETS
from chatlib.providers.kinds import (
    ProviderKind,
    counter_for_run,
    get_kind,
    kind_of,
    provider_kinds,
    register_kind,
    unregister_kind,
)
from chatlib.providers.local import LocalProvider
from chatlib.providers.named import provider_names, resolve_provider
from chatlib.providers.ratelimit import RateLimitedProvider, RateLimiter
from chatlib.providers.scripted import ScriptedProvider
from tests.clocks import HANG_GUARD_S
from ui.provider_pick import ProviderPick
from ui.providers import (
    KindWidgets,
    chat_settings_for,
    kept_keys,
    offered_kinds,
    register_widgets,
    restored_widgets,
    unregister_widgets,
)

CHARS = FunctionCounter("chars", len)
BUILT_IN = {
    "local": "Embedded model (offline)",
    "scripted": "Scripted demo (offline)",
    "openai": "OpenAI",
    "openai-compatible": "OpenAI-compatible server (Ollama, vLLM, …)",
    "anthropic": "Anthropic",
    "replay": "Replay a recorded run (offline)",
}
TOY_LABEL = "Toy kind (offline)"


class ToyProvider:
    """The smallest provider: the same few text deltas whatever the prompt."""

    needs_key = False
    paid = False

    def __init__(self) -> None:
        self.id = "toy"
        self.label = "Toy"

    def models(self) -> list[str]:
        return ["toy-1", "toy-2"]

    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        for part in ("Hello ", "from ", settings.model, "."):
            yield TextDelta(part)
        yield Finish("stop")


def resolve_toy(name: str, model: str | None) -> tuple[ToyProvider, str, TokenCounter]:
    provider = ToyProvider()
    chosen = model or provider.models()[0]
    if chosen not in provider.models():
        raise ConfigError(f"Unknown model {chosen!r} for provider 'toy'.")
    return provider, chosen, CHARS


def pick_toy(box, key: str, advanced=None) -> ProviderPick:
    provider = ToyProvider()
    model = box.selectbox("Model", provider.models(), key=f"{key}model")
    return ProviderPick(provider, model, CHARS, {})


TOY = ProviderKind("toy", TOY_LABEL, resolve=resolve_toy, shares_cpu=True)


@pytest.fixture
def toy() -> Iterator[ProviderKind]:
    """The toy kind registered (chatlib and the sidebar) for one test."""
    register_kind(TOY)
    register_widgets("toy", KindWidgets(pick_toy, restore=lambda s: {"model": s["model"]}))
    try:
        yield TOY
    finally:
        unregister_widgets("toy")
        unregister_kind("toy")


def test_the_built_in_kinds_keep_their_order_labels_and_names():
    assert {k.id: k.label for k in provider_kinds()} == BUILT_IN
    assert list(BUILT_IN) == [k.id for k in provider_kinds()]  # the sidebar's order
    assert [k.id for k in offered_kinds()] == list(BUILT_IN)
    assert provider_names() == ["local", "scripted", *PRESETS]
    assert get_kind("openai-compatible").provider_ids == OPENAI_COMPATIBLE
    assert {kind_of(p).id for p in PRESETS} == {"openai", "openai-compatible", "anthropic"}
    assert kind_of("replay").id == "replay" and "replay" not in provider_names()
    assert [k.id for k in provider_kinds() if k.shares_cpu] == ["local"]
    assert set(kept_keys()) == {"server", "thinking", "thinking_budget"}


def test_the_embedded_kind_shares_the_cpu_and_the_others_do_not():
    local = LocalProvider(object(), "/models/tiny.gguf")  # never run here
    assert serial_key(local) is not None
    assert serial_key(ScriptedProvider()) is None and serial_key(None) is None


def test_a_chat_restores_the_settings_its_kind_draws():
    assert restored_widgets({"provider": "scripted", "model": "demo-fast"}) == {
        "model": "demo-fast"}
    assert restored_widgets({"provider": "scripted", "model": "gone"}) == {}
    assert restored_widgets({"provider": "openai", "model": "gpt-4o"}) == {
        "model_id_openai": "gpt-4o"}
    assert restored_widgets({"provider": "openai-compatible", "server": "vllm",
                             "model": "m"}) == {"model_id_vllm": "m"}
    assert restored_widgets({"provider": "openai-compatible", "server": "nope",
                             "model": "m"}) == {}
    assert restored_widgets({"provider": "local", "model": "x"}) == {}
    assert restored_widgets({"provider": "toy", "model": "toy-2"}) == {}  # not registered
    # A compare target continued in a chat: its provider id picks the kind (and server).
    assert chat_settings_for("ollama") == {"provider": "openai-compatible", "server": "ollama"}
    assert chat_settings_for("anthropic") == {"provider": "anthropic"}
    assert chat_settings_for("scripted") == {"provider": "scripted"}


def test_unregistering_a_kind_restores_the_old_lists():
    kinds, names, offered = provider_kinds(), provider_names(), offered_kinds()
    register_kind(TOY)
    assert provider_names() == [*names, "toy"]
    assert offered_kinds() == offered  # no widgets yet: not in the sidebar
    register_widgets("toy", KindWidgets(pick_toy))
    assert [k.id for k in offered_kinds()] == [*BUILT_IN, "toy"]
    with pytest.raises(ValueError, match="registered already"):
        register_kind(ProviderKind("toy", "Another toy"))
    with pytest.raises(ValueError, match="local"):
        register_kind(ProviderKind("other", "Other", provider_ids=("local",)))
    with pytest.raises(ValueError, match="widgets already"):
        register_widgets("toy", KindWidgets(pick_toy))
    assert unregister_widgets("toy").pick is pick_toy
    assert unregister_kind("toy") is TOY
    assert (provider_kinds(), provider_names(), offered_kinds()) == (kinds, names, offered)
    with pytest.raises(ConfigError, match="Unknown provider 'toy'"):
        resolve_provider("toy", None)
    with pytest.raises(KeyError):
        unregister_kind("toy")


def test_a_registered_kind_resolves_by_name_for_the_api_and_the_cli(toy):
    assert provider_names()[-1] == "toy"
    provider, model, counter = resolve_provider("toy", None)
    assert (provider.id, model, counter) == ("toy", "toy-1", CHARS)
    assert resolve_provider("toy", "toy-2")[1] == "toy-2"
    with pytest.raises(ConfigError, match="Unknown model 'nope' for provider 'toy'"):
        resolve_provider("toy", "nope")
    assert counter_for_run("toy", "toy-1").source == "estimate"  # a replay of a toy run


def test_a_registered_kind_answers_over_the_http_api(toy, store):
    app = Starlette(routes=api_routes(ApiConfig(per_minute=0), store_factory=lambda: store))
    with TestClient(app) as client:
        response = client.post("/chat", json={"message": "hi", "provider": "toy",
                                               "model": "toy-2"})
    assert response.status_code == 200, response.text
    data = [line.removeprefix("data:").strip() for line in response.text.splitlines()
            if line.startswith("data:")]
    assert data[-1] == "[DONE]"
    assert "".join(json.loads(d).get("content", "") for d in data[:-1]) == "Hello from toy-2."
    [run] = store.runs().itertuples()
    assert (run.provider, run.model, run.page, run.status) == ("toy", "toy-2", "api", "ok")


def test_a_registered_kind_runs_in_the_chat_page(toy, app_test, store):
    at = app_test().run()
    assert not at.exception
    select = at.sidebar.selectbox(key="provider")
    assert select.options == [*BUILT_IN.values(), TOY_LABEL]
    select.set_value("toy").run()
    at.sidebar.selectbox(key="model").set_value("toy-2").run()
    at.chat_input[0].set_value("Who are you?").run()
    assert not at.exception
    user, assistant = at.chat_message
    assert user.text[0].value == "Who are you?"
    assert "".join(m.value for m in assistant.markdown).strip() == "Hello from toy-2."
    [run] = store.runs().itertuples()
    assert (run.provider, run.model, run.page, run.status) == ("toy", "toy-2", "chat", "ok")


def test_a_registered_kind_runs_in_the_compare_page(toy, app_test, store):
    at = app_test()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    at.sidebar.selectbox(key="t0_provider").set_value("toy").run()
    at.sidebar.selectbox(key="t1_provider").set_value("toy").run()
    at.sidebar.selectbox(key="t1_model").set_value("toy-2").run()
    # Both toy targets share the CPU: the page says they run one after another.
    assert any("one after another" in info.value for info in at.info)
    at.chat_input[0].set_value("Who are you?").run()
    assert not at.exception
    texts = ["".join(m.value.strip() for m in column.markdown[1:])
             for column in at.columns[:2]]
    assert texts == ["Hello from toy-1.", "Hello from toy-2."]
    assert sorted((r.label, r.provider, r.model) for r in store.runs().itertuples()) == [
        ("A", "toy", "toy-1"), ("B", "toy", "toy-2")]


def test_targets_of_a_kind_that_shares_the_cpu_run_in_one_lane(toy):
    toy_a, toy_b = (TargetSpec(ToyProvider(), m, CHARS) for m in ("toy-1", "toy-2"))
    demo = TargetSpec(ScriptedProvider(), "demo-fast", CHARS)
    comparison = Comparison("hi", [toy_a, demo, toy_b], SharedSettings())
    a, b, c = comparison.targets
    assert comparison.lanes() == [[a, c], [b]]
    # A provider behind the session's rate limit is still its kind's.
    assert serial_key(RateLimitedProvider(ToyProvider(), RateLimiter())) == serial_key(a.provider)
    comparison.start()
    assert comparison.wait(HANG_GUARD_S)
    assert [t.last_record.status for t in comparison.targets] == ["ok"] * 3
    assert [a.last_record.text, c.last_record.text] == ["Hello from toy-1.", "Hello from toy-2."]


def test_a_registered_kind_runs_in_a_prompt_set_and_the_cli(toy, store, tmp_path):
    targets = resolve_targets(["toy:toy-2", "scripted:demo-fast"])
    assert [name for name, _ in targets] == ["toy:toy-2", "scripted:demo-fast"]
    run = run_prompt_set([PromptCase("hello", "Who are you?", contains="toy-2")],
                         targets, store=store)
    assert run.complete
    assert [(r.target, r.passed) for r in run.results()] == [
        ("toy:toy-2", True), ("scripted:demo-fast", False)]

    from chatlib.cli.evaluate import main as evaluate

    prompts = tmp_path / "set.jsonl"
    prompts.write_text(json.dumps({"id": "hello", "prompt": "Hi?", "contains": "toy-1"}))
    assert evaluate([str(prompts), "--target", "toy", "--json", str(tmp_path / "out.json")]) == 0
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert data["targets"] == ["toy:toy-1"] and data["passed"]
