"""One chat's state and its answer cycle, independent of the UI.

``ChatSession`` holds the visible history and the answer being streamed. The UI keeps one
in ``st.session_state`` and mutates it directly: after a Stop, Streamlit raises again at
every later session-state access, so the code that keeps the partial answer must only touch
this plain object.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from chatlib.conversation import BudgetFit, ChatTurn, fit_to_budget, to_messages
from chatlib.errors import ProviderError
from chatlib.metrics import run_metrics
from chatlib.providers.base import Provider
from chatlib.pump import StreamPump
from chatlib.record import RunRecord, RunStatus
from chatlib.tokens import TokenCounter
from chatlib.types import Settings

__all__ = ["ChatSession", "AnswerRequest", "run_summary"]


@dataclass(frozen=True)
class AnswerRequest:
    """Everything needed to ask for one answer."""

    provider: Provider
    settings: Settings
    counter: TokenCounter
    budget: int
    on_done: Callable[[RunRecord], None] | None = None


def run_summary(record: RunRecord) -> str:
    """One line for under an answer: TTFT, speed and where the token count came from."""
    m = run_metrics(record.chunk_offsets_s, record.output_tokens)
    parts = []
    if m.ttft_s is not None:
        parts.append(f"TTFT {m.ttft_s * 1000:.0f} ms")
    if m.e2e_s is not None:
        parts.append(f"total {m.e2e_s:.2f} s")
    if not record.chunk_texts:  # failed or stopped before any text: nothing to count
        parts.append("no output")
    elif record.output_tokens is not None:
        parts.append(f"{record.output_tokens} tokens ({record.output_source})")
    if m.output_tps is not None:
        parts.append(f"{m.output_tps:.1f} tok/s")
    if record.attempts > 1:
        parts.append(f"{record.attempts} attempts")
    return " · ".join(parts)


@dataclass
class ChatSession:
    turns: list[ChatTurn] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    active: StreamPump | None = None
    last_fit: BudgetFit | None = None
    summaries: dict[str, str] = field(default_factory=dict)  # run id -> run_summary

    def add_user(self, text: str) -> None:
        self.turns.append(ChatTurn("user", text))

    def start_answer(self, request: AnswerRequest) -> StreamPump:
        """Fit the history to the budget and start streaming. Raises ``ProviderError``
        (e.g. the budget is too small) before anything is sent."""
        if self.active is not None:  # never two answers at once: keep the old partial
            self.finish_answer(self.active)
        fit = fit_to_budget(
            to_messages(self.turns), request.budget, request.counter, request.settings.system_prompt
        )
        self.last_fit = fit
        self.active = StreamPump(
            request.provider,
            fit.messages,
            request.settings,
            counter=request.counter,
            input_tokens=fit.tokens,
            input_source=request.counter.source,
            on_done=request.on_done,
            record_fields={"page": "chat", "group_id": self.id},
        ).start()
        return self.active

    def finish_answer(self, pump: StreamPump, wait_s: float = 2.0) -> ChatTurn | None:
        """Put the answer (whole, partial or failed) into the history. Safe to call twice."""
        if pump is not self.active:
            return None
        self.active = None
        if not pump.done:
            pump.stop()
        record = pump.wait(wait_s)
        status: RunStatus
        if record is None:  # the reader is blocked on the network; it records later
            status, error = "stopped", None
        else:
            status, error = record.status, record.error
            self.summaries[record.id] = run_summary(record)
        turn = ChatTurn(
            "assistant",
            pump.text,
            status=status,
            error=error,
            run_id=pump.run_id,
            provider=pump.provider.id,
            model=pump.settings.model,
        )
        self.turns.append(turn)
        return turn

    def add_error(self, error: ProviderError, provider: str, model: str) -> None:
        """A failure before any request (bad settings, no key): shown as the answer."""
        self.turns.append(
            ChatTurn("assistant", "", status="error", error=error.user_message,
                     provider=provider, model=model)
        )

    def drop_last_answer(self) -> str | None:
        """For regenerate: remove the last answer; returns the prompt it answered."""
        if self.active is not None:
            self.finish_answer(self.active)
        if self.turns and self.turns[-1].role == "assistant":
            self.turns.pop()
        return self.turns[-1].content if self.turns and self.turns[-1].role == "user" else None

    def replace_last_prompt(self, text: str) -> None:
        """For edit-and-resend: the last prompt and its answer are replaced."""
        self.drop_last_answer()
        if self.turns and self.turns[-1].role == "user":
            self.turns.pop()
        self.add_user(text)

    def clear(self) -> None:
        if self.active is not None:
            self.finish_answer(self.active)
        self.turns.clear()
        self.last_fit = None
        self.id = uuid.uuid4().hex
