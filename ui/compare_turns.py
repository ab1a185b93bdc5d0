"""Multi-turn compare on the page: a target's own settings (overrides of the shared ones),
starting afresh, and "Continue in Chat", which moves one target's conversation into a stored
chat with that target's settings and opens it."""

from __future__ import annotations

from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chatlib.chat.answers import answer_turn, new_chat_id
from chatlib.compare.comparison import Comparison, Target
from chatlib.core.conversation import Chat, ChatTurn, chat_title
from ui.inputs import bounded_int
from ui.providers import chat_settings_for
from ui.resources import chat_answers, comparisons

__all__ = ["target_overrides", "overrides_caption", "forget_comparison", "continue_in_chat"]


def target_overrides(box: DeltaGenerator, key: str) -> dict[str, Any]:
    """A target's own values of the shared settings, when the user asks for them."""
    if not box.toggle("Own settings", key=f"{key}own",
                      help="Give this target its own system prompt, temperature and max "
                      "tokens instead of the shared ones (shown in its column's header)."):
        return {}
    return {
        "system_prompt": box.text_area("Its system prompt", "", key=f"{key}own_system_prompt"),
        "temperature": box.slider("Its temperature", 0.0, 2.0, 0.7, 0.05,
                                  key=f"{key}own_temperature"),
        "max_tokens": bounded_int(box, "Its max output tokens", 1, 32_000, 256, step=64,
                                  key=f"{key}own_max_tokens"),
    }


def overrides_caption(target: Target) -> str | None:
    """"own settings: temperature 0.2, max tokens 64" for the column header."""
    own = target.overrides
    if not own:
        return None
    parts = []
    if "temperature" in own:
        parts.append(f"temperature {own['temperature']:g}")
    if "max_tokens" in own:
        parts.append(f"max tokens {own['max_tokens']}")
    if own.get("system_prompt"):
        parts.append("its own system prompt")
    elif "system_prompt" in own:
        parts.append("no system prompt")
    return "own settings: " + ", ".join(parts)


def forget_comparison() -> None:
    """The "New comparison" button: the next prompt starts afresh."""
    st.session_state.pop("comparison", None)
    st.query_params.pop("compare", None)


def _chat_settings(target: Target) -> dict[str, Any]:
    """What the chat sidebar is set to for this target (as ``ui.chats`` restores it)."""
    s = target.settings
    settings: dict[str, Any] = {"model": s.model, "system_prompt": s.system_prompt,
                                "max_tokens": s.max_tokens, "temperature": s.temperature}
    return {**settings, **chat_settings_for(target.provider_id)}


def _to_chat(comparison: Comparison, target: Target) -> str:
    """A new stored chat of ``target``'s conversation, each answer as a chat turn shows it
    (a stopped partial marked, a failed one with its error, its figures line): from each
    turn's last run, through the comparisons this one continues."""
    chain = comparisons().chain(comparison)
    own = next((t for t in chain[0].targets if t.label == target.label), target)
    turns = [ChatTurn(m.role, m.content, provider=target.provider_id,
                      model=target.settings.model) if m.role == "assistant"
             else ChatTurn("user", m.content) for m in own.history if m.role != "system"]
    for turn in chain:
        same = next((t for t in turn.targets if t.label == target.label), None)
        turns.append(ChatTurn("user", turn.prompt))
        record = same.last_record if same is not None else None
        if record is not None:
            turns.append(answer_turn(record))
        elif same is not None and same.runs and same.runs[-1].text:  # not recorded yet
            turns.append(ChatTurn("assistant", same.runs[-1].text, provider=target.provider_id,
                                  model=target.settings.model))
    first = next((t.content for t in turns if t.role == "user"), comparison.prompt)
    chat = Chat(new_chat_id(), chat_title(first), turns, _chat_settings(target))
    chat_answers().chats.create(chat)
    return chat.id


def continue_in_chat(comparison: Comparison) -> None:
    """Under the columns of an ended comparison: a button per target that moves its
    conversation into a new chat and opens it."""
    if not comparison.done or comparison.blind and not comparison.revealed:
        return  # a blind comparison names no target before the vote
    row = st.container(horizontal=True)
    for target in comparison.targets:
        if row.button(f"Continue with {target.label} in Chat", icon="💬",
                      key=f"to_chat_{comparison.id}_{target.label}"):
            st.switch_page("app_pages/chat.py", query_params={"chat": _to_chat(comparison, target)})
