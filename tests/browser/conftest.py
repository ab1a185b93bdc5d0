"""Fixtures for the real-browser tests: one ``streamlit run app.py`` per session on a free
loopback port (its own data dir, run store and scripted models), one headless Chromium per
session, a fresh browser context and page per test.

- ``app_url``: the running app; ``app_store``: its run store (a ``RunStore`` on its file).
- ``scripts``: the app's ``$CHATLAB_SCRIPTS`` file; ``scripts.add({model: spec})`` offers
  more scripted models at once (the app re-reads the file when it changes).
- ``page``: a new context's page with the app open and idle (the chat page); dialogs are
  dismissed and recorded in ``dialogs``.

The ``browser`` fixture (tests/conftest.py) is shared with the load tests: one Playwright
per test process. Without Chromium the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatlib.providers.scripted import SCRIPTS_ENV
from chatlib.store import RunStore
from testkit.app_server import AppServer
from testkit.browser import wait_idle

# Scripted models every browser test may use (besides the demos).
BASE_SCRIPTS: dict[str, dict[str, Any]] = {
    # About 20 s in all: a Stop always lands mid-answer, even on a loaded machine.
    "slow-long": {"text": "This answer grows slowly, one word after another. " * 70,
                  "chunk_chars": 5, "first_delay_s": 0.1, "gap_s": 0.03},
    "instant": {"text": "Done at once.", "chunk_chars": 50},
    # About 5 s: long enough to act on mid-answer, short enough to wait for its end.
    "medium": {"text": "A medium answer that keeps coming, word by word. " * 10,
               "chunk_chars": 5, "first_delay_s": 0.1, "gap_s": 0.05},
}


class ScriptsFile:
    """The JSON file of extra scripted models the app reads (see ``load_scripts``)."""

    def __init__(self, path: Path, scripts: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.scripts: dict[str, dict[str, Any]] = {}
        self.add(scripts)

    def add(self, scripts: dict[str, dict[str, Any]]) -> None:
        self.scripts.update(scripts)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.scripts))
        os.replace(tmp, self.path)  # the app never reads a half-written file


@pytest.fixture(scope="session")
def browser_data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser-app")


@pytest.fixture(scope="session")
def scripts(browser_data) -> ScriptsFile:
    return ScriptsFile(browser_data / "scripts.json", BASE_SCRIPTS)


@pytest.fixture(scope="session")
def app_server(browser, browser_data, scripts) -> Iterator[AppServer]:
    env = {
        "CHATLAB_DATA_DIR": str(browser_data),
        "CHATLAB_DB": str(browser_data / "runs.sqlite3"),
        SCRIPTS_ENV: str(scripts.path),
    }
    server = AppServer(env).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def app_url(app_server) -> str:
    return app_server.url


@pytest.fixture(scope="session")
def app_store(app_server, browser_data) -> RunStore:
    return RunStore(browser_data / "runs.sqlite3")


@pytest.fixture
def page(browser, app_url) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.chatlab_dialogs = []

    def on_dialog(dialog: Any) -> None:
        page.chatlab_dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.set_default_timeout(30_000)
    page.goto(app_url)
    wait_idle(page, 60_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def dialogs(page) -> list[str]:
    """Every alert/confirm/prompt the page opened (dismissed at once)."""
    return page.chatlab_dialogs
