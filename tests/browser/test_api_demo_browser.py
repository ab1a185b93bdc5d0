"""The API's demo page (/chat/demo: vanilla JS, fetch + getReader, an AbortController for
Stop) in headless Chromium: a typing indicator, then the answer streams; Stop keeps the
partial and closes the provider's stream; a provider failure is shown."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_browser import eventually
from chatlib.store import RunFilter

pytestmark = pytest.mark.browser


def open_demo(browser: Any, app_url: str, model: str) -> Any:
    page = browser.new_context().new_page()
    page.goto(f"{app_url}/chat/demo?provider=scripted&model={model}")
    expect(page.get_by_role("heading", name="Chat Lab API demo")).to_be_visible()
    return page


def ask(page: Any, prompt: str) -> None:
    page.locator("#prompt").fill(prompt)
    page.locator("#prompt").press("Enter")


def test_the_demo_page_streams_stops_and_shows_errors(browser, app_url, app_store, scripts):
    scripts.add({"demo-wait": {"text": "After a pause, **bold** and `code` arrive.",
                               "chunk_chars": 4, "first_delay_s": 1.5, "gap_s": 0.05}})
    page = open_demo(browser, app_url, "demo-wait")
    try:
        ask(page, "Show the typing indicator")
        answer = page.locator(".msg.assistant").last
        expect(answer).to_have_class("msg assistant typing")  # before the first token
        expect(answer.locator("strong")).to_have_text("bold", timeout=15_000)
        expect(answer).to_have_attribute("data-done", "true", timeout=15_000)
        expect(answer.locator("code")).to_have_text("code")
        assert "typing" not in (answer.get_attribute("class") or "")

        page.goto(page.url.replace("demo-wait", "slow-long"))
        ask(page, "A long one to stop (demo)")
        answer = page.locator(".msg.assistant").last
        expect(answer).to_contain_text("grows slowly", timeout=15_000)
        page.locator("#stop").click()
        expect(page.locator(".msg.error").last).to_have_text("Stopped: partial answer kept.")
        expect(page.locator("#send")).to_be_enabled()
        runs = eventually(lambda: app_store.runs(RunFilter(
            pages=("api",), prompts=("A long one to stop (demo)",))).to_dict("records"))
        [run] = runs
        assert run["status"] == "stopped"
        assert 0 < run["chunk_count"] < 700

        page.goto(page.url.replace("slow-long", "demo-fault"))
        ask(page, "This one breaks (demo)")
        expect(page.locator(".msg.error").last).to_have_text(
            "Error: The scripted provider failed on purpose.", timeout=20_000)
    finally:
        page.context.close()
