"""The record of one answer (a "run"), as the pump builds it and the run store keeps it."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from chatlib.runs.metrics import RunMetrics, first_and_last, run_metrics
from chatlib.core.types import TokenSource

__all__ = ["RunRecord", "RunStatus", "new_run_id"]

RunStatus = Literal["ok", "stopped", "error"]


def new_run_id() -> str:
    return uuid.uuid4().hex


@dataclass
class RunRecord:
    """One answer: who answered, with what settings, how it ended and when each chunk came.

    ``chunk_offsets_s[i]`` is when chunk ``i`` (``chunk_texts[i]``) arrived, in seconds
    since ``t0`` (just before the request was sent), on the monotonic clock of the thread
    that read the stream. ``created_at`` is the wall-clock time of ``t0``. The model's
    thinking is kept apart, timed the same way: ``reasoning_offsets_s[i]`` for
    ``reasoning_texts[i]``. ``output_tokens`` counts thinking and answer together (as the
    providers report it); ``reasoning_tokens`` the thinking part, with its own source.
    ``reasoning_hidden``: the provider thought without streaming it (OpenAI's reasoning
    models, Anthropic's redacted thinking), so the TTFT includes thinking time.
    """

    provider: str
    model: str
    settings: dict[str, Any]
    status: RunStatus
    created_at: float
    chunk_offsets_s: list[float] = field(default_factory=list)
    chunk_texts: list[str] = field(default_factory=list)
    error: str | None = None
    finish_reason: str | None = None
    attempts: int = 1
    input_tokens: int | None = None
    input_source: TokenSource | None = None
    output_tokens: int | None = None
    output_source: TokenSource | None = None
    prompt: str = ""
    page: str = "chat"
    label: str = ""  # the target's name on the compare page ("A", "B", ...)
    group_id: str | None = None  # a conversation or a comparison
    id: str = field(default_factory=new_run_id)
    reasoning_offsets_s: list[float] = field(default_factory=list)
    reasoning_texts: list[str] = field(default_factory=list)
    reasoning_tokens: int | None = None
    reasoning_source: TokenSource | None = None
    reasoning_hidden: bool = False
    cached_input_tokens: int | None = None  # of input_tokens, read from a prompt cache

    @property
    def text(self) -> str:
        return "".join(self.chunk_texts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_texts)

    def metrics(self) -> RunMetrics:
        """This run's figures (definitions: ``chatlib.runs.metrics``)."""
        return run_metrics(
            self.chunk_offsets_s, self.output_tokens, reasoning_offsets_s=self.reasoning_offsets_s,
            reasoning_tokens=self.reasoning_tokens, reasoning_hidden=self.reasoning_hidden,
        )

    @property
    def ttft_s(self) -> float | None:
        """First chunk of any kind (thinking or answer)."""
        return first_and_last(self.chunk_offsets_s, self.reasoning_offsets_s)[0]

    @property
    def e2e_s(self) -> float | None:
        """Last chunk of any kind."""
        return first_and_last(self.chunk_offsets_s, self.reasoning_offsets_s)[1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
