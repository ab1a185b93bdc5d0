"""Which stored chat the chat page shows, and the sidebar's chat list.

The URL names the chat (``?chat=<id>``): a reload, a second tab or a shared link opens it.
The session remembers it too, since a switch to another page and back drops the query
string. A new chat is only stored with its first prompt (no empty chats in the list).
Opening a chat puts its settings back in the sidebar (provider, model, system prompt,
budget, sampling; keys are never part of them). The list shows each chat on one line: its
title, cut to fit, and when it was last used ("today 14:02", "yesterday", "3 Dec").
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from chatlib.chat.answers import ChatAnswers, new_chat_id
from chatlib.core.conversation import Chat, export_json, export_markdown
from chatlib.store.chats import ChatSummary
from chatlib.streaming.pump import StreamPump
from ui.plain_text import plain_label
from ui.providers import kept_keys, restored_widgets

__all__ = ["current_chat", "chat_sidebar", "chat_exports", "sidebar_settings", "chat_date",
           "chat_label", "TITLE_CHARS"]

_CURRENT = "_chatlab_chat_id"
# Chats listed in the sidebar, newest first: it is drawn on every run (each prompt's too),
# so its cost must not grow with the number of chats; search reaches the rest.
LISTED = 10
# A title longer than this is cut ("…") so its button holds one line with the date at the
# default sidebar width, even in capitals (checked in Chromium: tests/browser/
# test_chat_browser.py); the whole title is the button's tooltip.
TITLE_CHARS = 20
_CONFIRM_DELETE = "_chatlab_confirm_delete"
# Widget keys of the chat sidebar (ui.sidebar) that a chat keeps, besides each provider
# kind's own (ui.providers.kept_keys).
_KEPT = ("provider", "system_prompt", "budget", "max_tokens", "temperature")


def _kept() -> tuple[str, ...]:
    return _KEPT + kept_keys()


def sidebar_settings(model: str) -> dict[str, Any]:
    """What the sidebar is set to, as a chat keeps it (no key among them)."""
    saved = {k: st.session_state[k] for k in _kept() if k in st.session_state}
    return {**saved, "model": model}


def _restore_settings(settings: dict[str, Any]) -> None:
    for key in _kept():
        if key in settings:
            st.session_state[key] = settings[key]
    st.session_state.update(restored_widgets(settings))  # the model, as its kind draws it


def _open(chat_id: str, settings: dict[str, Any] | None = None) -> None:
    st.session_state[_CURRENT] = chat_id
    st.session_state.pop(_CONFIRM_DELETE, None)
    st.query_params["chat"] = chat_id
    if settings:
        _restore_settings(settings)


def _new_chat(answers: ChatAnswers | None = None, leaving: str | None = None) -> None:
    """Start a new chat; the one being left has its answer in flight stopped first (the
    partial stays in it, marked), as Regenerate and Edit do."""
    if answers is not None and leaving is not None:
        answers.stop(leaving)
    st.session_state[_CURRENT] = new_chat_id()
    st.session_state.pop(_CONFIRM_DELETE, None)
    st.query_params.clear()


def current_chat(answers: ChatAnswers) -> tuple[Chat, StreamPump | None]:
    """The chat to show (the URL's, else the session's, else a new unstored one) and its
    answer in flight, if any (``ChatAnswers.view``)."""
    wanted = st.query_params.get("chat")
    if wanted and wanted != st.session_state.get(_CURRENT):
        stored, live = answers.view(wanted)
        if stored is None:
            st.info("That chat no longer exists (deleted?): here is a new one.", icon="ℹ️")
            _new_chat()
        else:
            _open(wanted, stored.settings)
            return stored, live
    chat_id = st.session_state.setdefault(_CURRENT, new_chat_id())
    chat, live = answers.view(chat_id)
    if chat is None:
        return Chat(chat_id), None
    if st.query_params.get("chat") != chat_id:
        st.query_params["chat"] = chat_id  # back from another page: the URL names it again
    return chat, live


def _rename(answers: ChatAnswers, chat_id: str, widget: str) -> None:
    title = " ".join(str(st.session_state.get(widget) or "").split())
    if title:
        answers.chats.rename(chat_id, title[:120])


def _delete(answers: ChatAnswers, chat_id: str) -> None:
    answers.stop(chat_id)
    answers.chats.delete(chat_id)
    _new_chat()


def chat_date(epoch: float, now: float | None = None) -> str:
    """When a chat was last used, as the list says it (local time): "today 14:02",
    "yesterday", "3 Dec", or "3 Dec 2025" for another year."""
    when = time.localtime(epoch)
    today = time.localtime(time.time() if now is None else now)
    days = _day(today) - _day(when)
    if days == 0:
        return time.strftime("today %H:%M", when)
    if days == 1:
        return "yesterday"
    day = f"{when.tm_mday} {time.strftime('%b', when)}"
    return day if when.tm_year == today.tm_year else f"{day} {when.tm_year}"


def _day(t: time.struct_time) -> int:
    # Days since the epoch of that local calendar date (a DST change moves no date).
    return int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 12, 0, 0, 0, 0, -1)) // 86_400)


def chat_label(summary: ChatSummary, *, here: bool = False, now: float | None = None) -> str:
    """A chat's button in the list: one line, its title (Markdown escaped, cut to
    ``TITLE_CHARS``) and its date; "▶" marks the chat shown."""
    title = " ".join(summary.title.split())
    if len(title) > TITLE_CHARS:
        title = title[:TITLE_CHARS - 1].rstrip() + "…"
    # The date small and grey: it reads apart from the title without a separator.
    return (f"{'▶ ' if here else ''}{plain_label(title)} "
            f":small[:gray[{chat_date(summary.updated_at, now)}]]")


def chat_sidebar(answers: ChatAnswers, chat: Chat, box: DeltaGenerator) -> None:
    """New chat, the chat list (search, open), rename and delete this one, in ``box``.
    Drawn before the chat itself, so it works while an answer streams."""
    box.button("New chat", icon="🆕", use_container_width=True, on_click=_new_chat,
               args=(answers, chat.id))
    search = box.text_input("Search chats", key="chat_search", placeholder="Search chats",
                            label_visibility="collapsed")
    found = answers.chats.summaries(search, limit=LISTED + 1)
    if not found:
        box.caption("No chat matches." if search.strip() else "No stored chat yet.")
    now = time.time()
    for summary in found[:LISTED]:
        here = summary.id == chat.id
        # A title is the first prompt: shown as text, never fetched or followed.
        box.button(chat_label(summary, here=here, now=now), key=f"open_{summary.id}",
                   help=plain_label(summary.title), use_container_width=True,
                   type="tertiary", disabled=here, on_click=_open_stored,
                   args=(answers, summary.id))
    if len(found) > LISTED:
        box.caption(f"The {LISTED} newest are listed: search for a word in an older one.")
    if answers.chats.exists(chat.id):
        with box.expander("This chat", expanded=False):
            widget = f"title_{chat.id}"
            st.text_input("Title", chat.title, key=widget, on_change=_rename,
                          args=(answers, chat.id, widget))
            if st.session_state.get(_CONFIRM_DELETE) == chat.id:
                st.warning("Delete this chat and its turns? Its runs stay on the Stats page.")
                yes, no = st.columns(2)
                yes.button("Delete", type="primary", key="delete_yes", on_click=_delete,
                           args=(answers, chat.id))
                no.button("Cancel", key="delete_no",
                          on_click=lambda: st.session_state.pop(_CONFIRM_DELETE, None))
            else:
                st.button("Delete this chat", icon="🗑️", key="delete_chat",
                          on_click=lambda: st.session_state.update({_CONFIRM_DELETE: chat.id}))


def chat_exports(chat: Chat, box: DeltaGenerator) -> None:
    """The chat's Markdown and JSON downloads, in ``box``."""
    stamp = chat.id[:8]
    # Built when clicked, not on every rerun (a long chat's exports are its whole history).
    turns, title, chat_id = chat.turns, chat.title, chat.id
    box.download_button("Export Markdown", lambda: export_markdown(turns, title),
                        f"chat-{stamp}.md", "text/markdown", on_click="ignore")
    box.download_button("Export JSON", lambda: export_json(turns, chat_id=chat_id, title=title),
                        f"chat-{stamp}.json", "application/json", on_click="ignore")


def _open_stored(answers: ChatAnswers, chat_id: str) -> None:
    stored = answers.chats.get(chat_id)
    _open(chat_id, stored.settings if stored is not None else None)
