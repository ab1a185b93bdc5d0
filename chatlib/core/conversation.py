"""The chat's history and the token budget of the context sent to a model.

``fit_to_budget`` keeps the system prompt and the newest turns that fit, never splits a
message, and says what it left out. ``ChatTurn`` is one entry of the visible history (with
its run id and how it ended); ``export_markdown``/``export_json`` write a chat out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from chatlib.core.errors import ConfigError, OverBudgetError
from chatlib.core.tables import json_text
from chatlib.core.tokens import TokenCounter
from chatlib.core.types import Message, Role

__all__ = [
    "Chat",
    "ChatTurn",
    "TurnStatus",
    "chat_title",
    "BudgetFit",
    "fit_to_budget",
    "to_messages",
    "export_markdown",
    "export_json",
    "MESSAGE_OVERHEAD_TOKENS",
]

# Chat formats wrap each message in role markers (ChatML: <|im_start|>role ... <|im_end|>):
# about 4 tokens a message on OpenAI's and SmolLM2's templates.
MESSAGE_OVERHEAD_TOKENS = 4


# How a turn ended; "streaming" while its answer is still arriving.
TurnStatus = Literal["ok", "stopped", "error", "streaming"]


@dataclass
class ChatTurn:
    role: Role
    content: str
    status: TurnStatus = "ok"
    error: str | None = None
    run_id: str | None = None
    provider: str | None = None
    model: str | None = None
    created_at: float = field(default_factory=time.time)
    summary: str | None = None  # the run's figures line (TTFT, tokens, ...), once it ended
    reasoning: str = ""  # the model's thinking, shown apart and never sent back as content
    reasoning_s: float | None = None  # how long it thought (chatlib.runs.metrics), once it ended
    updated_at: float | None = None  # when the store last got this turn (as an answer arrives)


@dataclass
class Chat:
    """A stored conversation: its turns in order and the settings it was last sent with."""

    id: str
    title: str = "New chat"
    turns: list[ChatTurn] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


def chat_title(prompt: str, limit: int = 60) -> str:
    """A chat's title from its first prompt: one line, at most ``limit`` characters."""
    line = " ".join(prompt.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class BudgetFit:
    """What will be sent: ``messages`` (system prompt first) and how much was left out."""

    messages: list[Message]
    tokens: int
    budget: int
    kept: int  # history messages sent (the system prompt not counted)
    total: int  # history messages in the chat
    counter_name: str

    @property
    def dropped(self) -> int:
        return self.total - self.kept

    def summary(self) -> str:
        return (
            f"{self.kept} of {self.total} messages, {self.tokens} tokens of budget "
            f"{self.budget} (counted by {self.counter_name})"
        )


def to_messages(turns: Sequence[ChatTurn]) -> list[Message]:
    """History as model input: each prompt with its answer, partial answers (stopped or cut
    off) as they were shown. A prompt whose answer has no text (it failed, or was never
    sent) is left out with that answer, rather than merged into the next prompt: sent on its
    own it would make two user turns in a row (some APIs refuse them, and a model reads them
    as one muddled question), and merged it would ask the model to answer a question the
    user has likely asked again. The chat still shows both turns. The last prompt, still
    awaiting its answer, is always sent."""
    out = []
    for i, turn in enumerate(turns):
        if turn.role == "user":
            answer = turns[i + 1] if i + 1 < len(turns) else None
            if answer is not None and (answer.role != "assistant" or not answer.content):
                continue
        elif not turn.content:
            continue
        out.append(Message(turn.role, turn.content))
    return out


def fit_to_budget(
    history: Sequence[Message], budget: int, counter: TokenCounter, system_prompt: str = ""
) -> BudgetFit:
    """Keep ``system_prompt`` and the newest messages of ``history`` within ``budget`` tokens.

    Messages are kept whole and contiguous from the newest back; the oldest kept one is a
    user message (some APIs refuse a leading assistant turn). Raises ``ConfigError`` when
    even the system prompt and the newest message do not fit.
    """
    if budget <= 0:
        raise ConfigError("The token budget must be a positive number.")

    def cost(text: str) -> int:
        return counter.count(text) + MESSAGE_OVERHEAD_TOKENS

    used = cost(system_prompt) if system_prompt else 0
    start = len(history)
    for i in range(len(history) - 1, -1, -1):
        need = cost(history[i].content)
        if used + need > budget:
            break
        used += need
        start = i
    while start < len(history) and history[start].role != "user":
        used -= cost(history[start].content)
        start += 1
    if history and start == len(history):
        newest = cost(history[-1].content)
        system = cost(system_prompt) if system_prompt else 0
        raise OverBudgetError(
            f"Your message needs {newest} tokens (plus {system} for the system prompt) but the "
            f"token budget is {budget}. Raise the budget in the sidebar or shorten the message.",
            needed=newest, system=system, budget=budget)
    kept = list(history[start:])
    messages = ([Message("system", system_prompt)] if system_prompt else []) + kept
    return BudgetFit(messages, used, budget, len(kept), len(history), counter.name)


def export_markdown(turns: Sequence[ChatTurn], title: str = "Chat Lab conversation") -> str:
    lines = [f"# {title}", ""]
    for turn in turns:
        who = "You" if turn.role == "user" else f"Assistant ({turn.provider} · {turn.model})"
        mark = {"stopped": " — stopped", "error": " — failed"}.get(turn.status, "")
        lines += [f"## {who}{mark}", ""]
        if turn.reasoning:  # apart from the answer, as the page shows it
            took = f" ({turn.reasoning_s:.1f} s)" if turn.reasoning_s is not None else ""
            lines += [f"Thinking{took}:", "", "> " + turn.reasoning.replace("\n", "\n> "), ""]
        lines += [turn.content or "_(no text)_", ""]
        if turn.error:
            lines += [f"> Error: {turn.error}", ""]
    return "\n".join(lines)


def export_json(turns: Sequence[ChatTurn], **meta: Any) -> str:
    return json_text({"meta": meta, "turns": [asdict(t) for t in turns]})
