"""Heavy objects shared by every session of the app process (``st.cache_resource``)."""

from __future__ import annotations

import streamlit as st

from chatlib.chat import ChatAnswers
from chatlib.comparisons import Comparisons
from chatlib.providers.local import LocalProvider, shared_local_provider
from chatlib.store import ChatStore, ComparisonStore, RunStore


@st.cache_resource(show_spinner="Loading the embedded model…")
def local_provider(path: str) -> LocalProvider:
    return shared_local_provider(path)  # the same model (and lock) as the HTTP API


@st.cache_resource
def run_store() -> RunStore:
    return RunStore()


@st.cache_resource
def chat_answers() -> ChatAnswers:
    """The stored chats and their answers in flight, shared by every session (one process
    table of live answers: a reload or a second tab re-attaches to the same answer)."""
    return ChatAnswers(ChatStore(run_store()))


@st.cache_resource
def comparisons() -> Comparisons:
    """Starts, stores and finds comparisons for every session (the comparisons in flight
    are one process table: a reload or a second tab re-attaches to the same one)."""
    return Comparisons(ComparisonStore(run_store()))
