"""A provider that streams a given text on a given timing schedule.

Used by tests and benchmarks (the schedule is known, so recorded metrics can be checked
against it) and offered in the UI as a demo that shows off markdown with no model at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from chatlib.errors import ProviderError, StreamError
from chatlib.types import Event, Finish, Message, Settings, TextDelta, Usage

__all__ = ["Script", "ScriptedProvider", "DEMO_SCRIPTS", "DEMO_MARKDOWN", "chunk_text"]


def chunk_text(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass(frozen=True)
class Script:
    """What to stream and when.

    ``chunks`` are sent in order; before chunk ``i`` the provider sleeps ``first_delay_s``
    (i == 0) or ``gap_s`` (i > 0), or ``delays_s[i]`` when given. With ``fault_at=k`` it
    raises ``fault`` instead of sending chunk k (k=0: before any text). ``report_usage``
    makes it report one output token per chunk, like an API's usage block.
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

DEMO_SCRIPTS: dict[str, Script] = {
    "demo-markdown": Script.from_text(DEMO_MARKDOWN, 4, first_delay_s=0.15, gap_s=0.02),
    "demo-fast": Script.from_text(DEMO_MARKDOWN, 4, first_delay_s=0.05, gap_s=0.005),
    "demo-fault": Script.from_text(DEMO_MARKDOWN, 4, first_delay_s=0.1, gap_s=0.02, fault_at=40),
}


class ScriptedProvider:
    """Streams ``script`` (or, by model id, one of ``DEMO_SCRIPTS``) whatever the prompt."""

    needs_key: ClassVar[bool] = False
    paid: ClassVar[bool] = False

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
        self._scripts = dict(scripts if scripts is not None else DEMO_SCRIPTS)
        self._sleep = sleep
        self.calls: list[tuple[list[Message], Settings]] = []  # what tests inspect

    def models(self) -> list[str]:
        return ["scripted"] if self._script else list(self._scripts)

    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        self.calls.append((list(messages), settings))
        script = self._script or self._scripts.get(settings.model)
        if script is None:
            raise ProviderError(f"Unknown scripted model {settings.model!r}.")
        sent = 0
        for i, chunk in enumerate(script.chunks):
            self._sleep(script.delay(i))
            if script.fault_at == i:
                raise script.fault
            yield TextDelta(chunk)
            sent += 1
        if script.fault_at is not None and script.fault_at >= len(script.chunks):
            raise script.fault
        if script.report_usage:
            # Like an API's usage block for the output; the input is left unknown so the
            # caller counts it with a real tokenizer.
            yield Usage(input_tokens=None, output_tokens=sent)
        if script.finish_reason is not None:
            yield Finish(script.finish_reason)
