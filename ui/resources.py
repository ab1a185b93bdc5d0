"""Heavy objects shared by every session of the app process (``st.cache_resource``)."""

from __future__ import annotations

import streamlit as st

from chatlib.providers.local import LocalProvider, load_llama
from chatlib.store import RunStore


@st.cache_resource(show_spinner="Loading the embedded model…")
def local_provider(path: str) -> LocalProvider:
    return LocalProvider(load_llama(path), path)


@st.cache_resource
def run_store() -> RunStore:
    return RunStore()
