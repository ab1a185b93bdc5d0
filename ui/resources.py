"""Heavy objects shared by every session of the app process (``st.cache_resource``), and
the views of the store a session may use: scoped to the signed-in user (``ui.auth.owner``)
when sign-in is set up, so a page cannot forget whose data it reads."""

from __future__ import annotations

import streamlit as st

from chatlib.chat.answers import ChatAnswers
from chatlib.compare.comparisons import Comparisons
from chatlib.load.registry import LoadRuns
from chatlib.quality.jobs import JudgeJobs
from chatlib.providers.local import LocalProvider, shared_local_provider
from chatlib.store import ChatStore, ComparisonStore, RunStore
from chatlib.store.judgements import JudgementStore
from chatlib.store.loads import LoadStore
from ui.auth import is_admin, owner


@st.cache_resource(show_spinner="Loading the embedded model…")
def local_provider(path: str) -> LocalProvider:
    return shared_local_provider(path)  # the same model (and lock) as the HTTP API


@st.cache_resource
def _database_store() -> RunStore:
    # One connection (SQLite) or pool (PostgreSQL) for the process; sessions get views.
    return RunStore()


def run_store() -> RunStore:
    """This session's runs: the signed-in user's (everyone's without sign-in)."""
    return _database_store().for_owner(owner())


def stats_store() -> RunStore:
    """The runs the Stats page counts: everyone's for an admin, else the user's own."""
    return _database_store().for_owner(None if is_admin() else owner())


def chat_answers() -> ChatAnswers:
    """The stored chats of this session's user and their answers in flight (one process
    table of live answers: a reload or a second tab re-attaches to the same answer)."""
    return _chat_answers(owner())


@st.cache_resource
def _chat_answers(user: str | None) -> ChatAnswers:
    return ChatAnswers(ChatStore(_database_store().for_owner(user)))


def comparisons() -> Comparisons:
    """Starts, stores and finds this session's user's comparisons (the comparisons in
    flight are one process table: a reload or a second tab re-attaches to the same one)."""
    return _comparisons(owner())


@st.cache_resource
def _comparisons(user: str | None) -> Comparisons:
    return Comparisons(ComparisonStore(_database_store().for_owner(user)))


def load_runs() -> LoadRuns:
    """Starts and finds this session's user's load runs (the ones running are one process
    table: a reload or a second tab finds the same run going)."""
    return _load_runs(owner())


@st.cache_resource
def _load_runs(user: str | None) -> LoadRuns:
    return LoadRuns(LoadStore(_database_store().for_owner(user)))


def judge_jobs() -> JudgeJobs:
    """This session's user's judges at work, and their stored judgements."""
    return _judge_jobs(owner())


@st.cache_resource
def _judge_jobs(user: str | None) -> JudgeJobs:
    return JudgeJobs(JudgementStore(_database_store().for_owner(user)))
