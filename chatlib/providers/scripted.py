"""A provider that streams a given text on a given timing schedule.

Used by tests and benchmarks (the schedule is known, so recorded metrics can be checked
against it) and offered in the UI as a demo that shows off markdown with no model at all.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from chatlib.core.errors import ProviderError, StreamError
from chatlib.providers.base import Recipe
from chatlib.core.types import Event, Finish, Message, ReasoningDelta, Settings, TextDelta, Usage

__all__ = [
    "Script", "ScriptedProvider", "DEMO_SCRIPTS", "DEMO_MARKDOWN", "SCRIPTS_ENV", "chunk_text",
    "default_scripts", "load_scripts",
]


def chunk_text(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass(frozen=True)
class Script:
    """What to stream and when.

    ``chunks`` are sent in order; before chunk ``i`` the provider sleeps ``first_delay_s``
    (i == 0) or ``gap_s`` (i > 0), or ``delays_s[i]`` when given. With ``fault_at=k`` it
    raises ``fault`` instead of sending chunk k (k=0: before any text). ``report_usage``
    makes it report one output token per chunk, like an API's usage block.
    ``reasoning_chunks`` are thinking, streamed before the answer as ``ReasoningDelta``s and
    numbered first (with 3 of them, answer chunk 0 is chunk 3 for the delays and faults);
    usage then reports them apart as reasoning tokens, one per chunk. ``capacity``: like a
    server with that many slots, it streams at most that many answers at once (per process
    that reads them) and queues the rest; the wait counts in TTFT.
    """

    chunks: tuple[str, ...]
    first_delay_s: float = 0.0
    gap_s: float = 0.0
    delays_s: tuple[float, ...] | None = None
    fault_at: int | None = None
    fault: ProviderError = field(
        default_factory=lambda: StreamError("The scripted provider failed on purpose.")
    )
    report_usage: bool = True
    finish_reason: str | None = "stop"  # None: end without a terminator (truncated)
    reasoning_chunks: tuple[str, ...] = ()
    capacity: int | None = None
    # The text from the prompt instead of ``chunks`` (a module-level function: it travels
    # to the engine by name), streamed in chunks of 6 characters on the same delays.
    reply: Callable[[Sequence[Message]], str] | None = None

    @classmethod
    def from_text(cls, text: str, chunk_chars: int = 5, **kwargs: object) -> Script:
        return cls(chunks=tuple(chunk_text(text, chunk_chars)), **kwargs)  # type: ignore[arg-type]

    def delay(self, i: int) -> float:
        if self.delays_s is not None:
            return self.delays_s[i]
        return self.first_delay_s if i == 0 else self.gap_s


DEMO_MARKDOWN = r"""Here is what **Chat Lab** renders while it streams.

| Provider | Runs offline | Needs a key |
|---|---|---|
| Embedded SmolLM2 | yes | no |
| OpenAI | no | yes |
| Anthropic | no | yes |

```python
def ttft(t0: float, first_chunk: float) -> float:
    return first_chunk - t0
```

The throughput per request is $\text{tok/s} = \frac{N_{out}}{T_{e2e}}$, and

$$TPOT = \frac{T_{e2e} - TTFT}{N_{out} - 1}$$

1. Type a prompt.
2. Watch it stream.
3. Open **Stats** to see the numbers.
"""

_DEMO_THINKING = (
    "The user wants to see how a reasoning model looks here. I should think for a moment "
    "first, so the thinking block has something to show, then answer briefly: the figures "
    "under the answer give TTFT (first token of any kind) and the first answer token apart."
)

_ANSWER = re.compile(r"\[The Start of the (?:First |Second )?Answer\]\n(.*?)\n\[The End of",
                     re.DOTALL)


def _demo_judge(messages: Sequence[Message]) -> str:
    """The offline demo judge: not a model but a rule, said in its reply. It prefers the
    answer with more distinct words (whatever the order, so its two readings agree), or
    grades one by them, and ends with the judge's fixed line."""
    answers = _ANSWER.findall(messages[-1].content if messages else "")
    words = [len(set(re.findall(r"\w+", a.lower()))) for a in answers]
    if len(words) == 2:
        first, second = words
        verdict = "first" if first > second else "second" if second > first else "tie"
        return (f"A demo judge, not a model: it prefers the answer with more distinct words "
                f"({first} against {second}).\nVERDICT: {verdict}")
    if len(words) == 1:
        return (f"A demo judge, not a model: {words[0]} distinct words.\n"
                f"SCORE: {max(1, min(10, 1 + words[0] // 15))}")
    return "A demo judge, not a model: there was no answer to judge in the prompt."


DEMO_SCRIPTS: dict[str, Script] = {
    "demo-markdown": Script.from_text(DEMO_MARKDOWN, 4, first_delay_s=0.15, gap_s=0.02),
    "demo-fast": Script.from_text(DEMO_MARKDOWN, 4, first_delay_s=0.05, gap_s=0.005),
    "demo-fault": Script.from_text(DEMO_MARKDOWN, 4, first_delay_s=0.1, gap_s=0.02, fault_at=40),
    # A reasoning model's shape: about 1.5 s of thinking, then the answer.
    "demo-thinking": Script.from_text(
        DEMO_MARKDOWN[:DEMO_MARKDOWN.index("```")], 4, first_delay_s=0.1, gap_s=0.02,
        reasoning_chunks=tuple(chunk_text(_DEMO_THINKING, 4))),
    # An offline judge for the quality tools: not a model, a rule (see _demo_judge).
    "demo-judge": Script(chunks=(), first_delay_s=0.05, gap_s=0.005,
                         reply=_demo_judge),
    # A server with 4 slots: past 4 streams at once, requests queue (the Load page's demo).
    "demo-busy": Script.from_text(DEMO_MARKDOWN[:DEMO_MARKDOWN.index("```")], 4,
                                  first_delay_s=0.1, gap_s=0.01, capacity=4),
}


# Tests and benchmarks add their own scripted models (XSS payloads, a long answer at a fixed
# rate, ...) to a running app through this file; the app's default behaviour is unchanged
# when it is not set.
SCRIPTS_ENV = "CHATLAB_SCRIPTS"
_SCRIPT_KEYS = {"text", "chunks", "chunk_chars", "first_delay_s", "gap_s", "fault_at",
                "fault_message", "report_usage", "finish_reason", "reasoning", "capacity"}


def _script_from_spec(model: str, spec: dict[str, Any]) -> Script:
    unknown = set(spec) - _SCRIPT_KEYS
    if unknown:
        raise ValueError(f"scripted model {model!r}: unknown keys {sorted(unknown)}")
    if ("text" in spec) == ("chunks" in spec):
        raise ValueError(f"scripted model {model!r}: give exactly one of 'text' or 'chunks'")
    chunks = (
        tuple(str(c) for c in spec["chunks"]) if "chunks" in spec
        else tuple(chunk_text(str(spec["text"]), int(spec.get("chunk_chars", 5))))
    )
    kwargs: dict[str, Any] = {
        "first_delay_s": float(spec.get("first_delay_s", 0.0)),
        "gap_s": float(spec.get("gap_s", 0.0)),
        "fault_at": None if spec.get("fault_at") is None else int(spec["fault_at"]),
        "report_usage": bool(spec.get("report_usage", True)),
        "finish_reason": spec.get("finish_reason", "stop"),
        "reasoning_chunks": tuple(chunk_text(str(spec.get("reasoning", "")),
                                             int(spec.get("chunk_chars", 5)))),
        "capacity": None if spec.get("capacity") is None else int(spec["capacity"]),
    }
    if "fault_message" in spec:
        message = str(spec["fault_message"])
        kwargs["fault"] = StreamError(message)
    return Script(chunks=chunks, **kwargs)


def load_scripts(path: str | Path) -> dict[str, Script]:
    """Read extra scripted models from a JSON file ``{model_id: spec}``.

    A spec has ``text`` (cut into ``chunk_chars``-character chunks, default 5) or an explicit
    ``chunks`` list, and optionally ``first_delay_s``, ``gap_s``, ``fault_at``,
    ``fault_message``, ``report_usage``, ``finish_reason`` and ``reasoning`` (thinking
    text, cut like ``text``, streamed first) as in ``Script``. Raises
    ``ValueError`` on a malformed file: a typo must not silently fall back to the demos.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected a JSON object of {{model_id: {{...}}}}")
    return {str(model): _script_from_spec(str(model), spec) for model, spec in data.items()}


@lru_cache(maxsize=4)
def _cached_scripts(path: str, mtime_ns: int, size: int) -> dict[str, Script]:
    # Keyed on the file's mtime and size: the page builds a provider on every rerun, and a
    # long script must not be parsed again each time (it would show up in the TTFT bench).
    return load_scripts(path)


def default_scripts() -> dict[str, Script]:
    """The demo scripts, plus (overriding them by name) those in ``$CHATLAB_SCRIPTS``."""
    path = os.environ.get(SCRIPTS_ENV)
    if not path:
        return dict(DEMO_SCRIPTS)
    stat = os.stat(path)
    return {**DEMO_SCRIPTS, **_cached_scripts(path, stat.st_mtime_ns, stat.st_size)}


class ScriptedProvider:
    """Streams ``script`` (or, by model id, one of ``default_scripts()``) whatever the prompt."""

    needs_key: bool = False
    paid: bool = False

    def __init__(
        self,
        script: Script | None = None,
        *,
        scripts: dict[str, Script] | None = None,
        sleep=time.sleep,
    ) -> None:
        self.id = "scripted"
        self.label = "Scripted demo"
        self._script = script
        self._scripts = dict(scripts if scripts is not None else default_scripts())
        self._sleep = sleep
        # What tests inspect: the latest calls (bounded: a load run sends thousands).
        self.calls: deque[tuple[list[Message], Settings]] = deque(maxlen=1000)

    def models(self) -> list[str]:
        return ["scripted"] if self._script else list(self._scripts)

    def engine_recipe(self) -> Recipe | None:
        """The same scripts, on real time; none with a test's own ``sleep`` or subclass."""
        if self._sleep is not time.sleep or type(self) is not ScriptedProvider:
            return None
        return Recipe(ScriptedProvider, {"script": self._script, "scripts": self._scripts})

    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        self.calls.append((list(messages), settings))
        script = self._script or self._scripts.get(settings.model)
        if script is None:
            raise ProviderError(f"Unknown scripted model {settings.model!r}.")
        if script.reply is not None:
            script = replace(script, chunks=tuple(chunk_text(script.reply(messages), 6)))
        with _slot(settings.model, script.capacity):
            yield from self._play(script)

    def _play(self, script: Script) -> Iterator[Event]:
        sent = 0
        thinking = len(script.reasoning_chunks)
        events: list[TextDelta | ReasoningDelta] = [
            *(ReasoningDelta(c) for c in script.reasoning_chunks),
            *(TextDelta(c) for c in script.chunks),
        ]
        for i, event in enumerate(events):
            self._sleep(script.delay(i))
            if script.fault_at == i:
                raise script.fault
            yield event
            sent += 1
        if script.fault_at is not None and script.fault_at >= len(events):
            raise script.fault
        if script.report_usage:
            # Like an API's usage block for the output; the input is left unknown so the
            # caller counts it with a real tokenizer.
            yield Usage(input_tokens=None, output_tokens=sent,
                        reasoning_tokens=min(sent, thinking) if thinking else None)
        if script.finish_reason is not None:
            yield Finish(script.finish_reason)


_SLOTS: dict[tuple[str, int], threading.Semaphore] = {}
_SLOTS_LOCK = threading.Lock()


def _slot(model: str, capacity: int | None) -> threading.Semaphore | nullcontext[None]:
    """The slot a scripted model with a ``capacity`` streams in (waiting for one frees up);
    a model without one never waits."""
    if capacity is None:
        return nullcontext()
    with _SLOTS_LOCK:
        return _SLOTS.setdefault((model, capacity), threading.Semaphore(capacity))
