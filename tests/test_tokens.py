"""Token counters load offline and count with the right tokenizer."""

import hashlib
import os

from chatlib.core.tokens import counter_for, encoding_for_model, ensure_tiktoken_offline


def test_tiktoken_encodings_come_from_the_shipped_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tk"))
    cache = ensure_tiktoken_offline()
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    assert (cache / hashlib.sha1(url.encode()).hexdigest()).stat().st_size > 1_000_000
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "tk")
    import tiktoken

    # tiktoken verifies the sha256 of cached files, so a good count proves a good file.
    assert len(tiktoken.get_encoding("o200k_base").encode("hello world")) == 2


def test_models_map_to_their_encodings():
    assert encoding_for_model("gpt-4o-mini") == "o200k_base"
    assert encoding_for_model("gpt-5") == "o200k_base"
    assert encoding_for_model("gpt-4") == "cl100k_base"
    assert encoding_for_model("gpt-3.5-turbo") == "cl100k_base"


def test_counters_say_where_counts_come_from():
    openai = counter_for("openai", "gpt-4o")
    assert (openai.source, openai.name) == ("tokenizer", "tiktoken o200k_base")
    other = counter_for("anthropic", "claude-sonnet-4-5")
    assert other.source == "estimate" and "estimate" in other.name
    assert openai.count("The quick brown fox") == 4
