"""Extra scripted models from ``$CHATLAB_SCRIPTS``: what the browser tests and benches use to
give the running app a known answer on a known schedule."""

import json

import pytest

from chatlib.core.errors import StreamError
from chatlib.providers.scripted import (
    DEMO_SCRIPTS, SCRIPTS_ENV, ScriptedProvider, default_scripts, load_scripts,
)
from chatlib.core.types import Finish, Message, Settings, TextDelta, Usage


def write(tmp_path, data, name="scripts.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def stream(provider, model):
    return list(provider.stream([Message("user", "hi")], Settings(model=model)))


def test_without_the_variable_only_the_demos_are_offered(monkeypatch):
    monkeypatch.delenv(SCRIPTS_ENV, raising=False)
    assert default_scripts() == DEMO_SCRIPTS
    assert ScriptedProvider().models() == list(DEMO_SCRIPTS)


def test_a_text_spec_is_cut_into_chunks_with_its_schedule(tmp_path):
    path = write(tmp_path, {"xss": {"text": "abcdefg", "chunk_chars": 3, "first_delay_s": 0.5,
                                    "gap_s": 0.01}})
    script = load_scripts(path)["xss"]
    assert script.chunks == ("abc", "def", "g")
    assert (script.delay(0), script.delay(1)) == (0.5, 0.01)
    assert script.fault_at is None and script.finish_reason == "stop"


def test_explicit_chunks_and_a_fault_with_its_message(tmp_path):
    path = write(tmp_path, {"bad": {"chunks": ["one ", "two "], "fault_at": 1,
                                    "fault_message": "Boom on purpose."}})
    provider = ScriptedProvider(scripts=load_scripts(path), sleep=lambda s: None)
    events = provider.stream([Message("user", "hi")], Settings(model="bad"))
    assert next(events) == TextDelta("one ")
    with pytest.raises(StreamError, match="Boom on purpose."):
        next(events)


def test_the_variable_adds_models_to_the_app_provider_and_they_stream(tmp_path, monkeypatch):
    path = write(tmp_path, {"mine": {"text": "hello world", "chunk_chars": 6},
                            "demo-fast": {"text": "replaced"}})
    monkeypatch.setenv(SCRIPTS_ENV, str(path))
    provider = ScriptedProvider()
    assert provider.models() == [*DEMO_SCRIPTS, "mine"]
    assert stream(provider, "mine") == [TextDelta("hello "), TextDelta("world"),
                                        Usage(None, 2), Finish("stop")]
    assert [e for e in stream(provider, "demo-fast") if isinstance(e, TextDelta)] == [
        TextDelta("repla"), TextDelta("ced")]  # same name overrides the demo


def test_an_edited_file_is_read_again(tmp_path, monkeypatch):
    path = write(tmp_path, {"a": {"text": "x"}})
    monkeypatch.setenv(SCRIPTS_ENV, str(path))
    assert "a" in default_scripts()
    path.write_text(json.dumps({"b": {"text": "longer text"}}))  # other size: a new cache key
    assert "b" in default_scripts() and "a" not in default_scripts()


@pytest.mark.parametrize("data, message", [
    ({"m": {"text": "x", "gap": 1}}, "unknown keys"),
    ({"m": {"chunk_chars": 3}}, "exactly one of"),
    ({"m": {"text": "x", "chunks": ["x"]}}, "exactly one of"),
    (["not", "a", "mapping"], "expected a JSON object"),
])
def test_a_malformed_file_is_an_error_not_a_silent_fallback(tmp_path, data, message):
    with pytest.raises(ValueError, match=message):
        load_scripts(write(tmp_path, data))
