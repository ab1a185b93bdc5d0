"""An answer belongs to its chat, not to a script run or a tab (chatlib.chat.answers's lifecycle),
in headless Chromium: widget changes, a page switch, a reload, a second tab and a killed
server mid-answer; Stop marks the partial at once; a prompt mid-answer stops the first.

Nothing here waits on a clock for the app to be fast: each step waits (bounded, as a hang
guard) for what the page must show, and the run store says how each answer ended.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from chatlib.providers.scripted import SCRIPTS_ENV
from chatlib.store import ChatStore, RunFilter, RunStore
from testkit.app_server import AppServer
from testkit.browser import (
    chat_messages,
    exception_texts,
    select_option,
    send_prompt,
    use_scripted_model,
    wait_idle,
)
from tests.browser.test_chat_browser import (
    STOP_BUTTON,
    eventually,
    expect_finished,
    settled_text,
    snapshot,
    wait_text_longer,
)

pytestmark = pytest.mark.browser

STOPPED = "Stopped: partial answer kept."


def chat_id(page: Any) -> str:
    """The chat the page shows, as its URL names it."""
    page.wait_for_function("() => location.search.includes('chat=')", timeout=15_000)
    return parse_qs(urlparse(page.url).query)["chat"][0]


def same_text(page: Any, stored: str) -> bool:
    """The last answer on the page reads as the stored run (retried: see settled_text)."""
    want = stored.strip()
    return settled_text(page, lambda t: t.strip() == want).strip() == want


def runs_for(store: RunStore, prompt: str) -> list[dict[str, Any]]:
    return store.runs(RunFilter(prompts=(prompt,))).to_dict("records")


def test_widget_changes_mid_answer_keep_it_streaming_and_apply_to_the_next(page, app_store):
    use_scripted_model(page, "medium")
    prompt = "Keep going while I change things"
    send_prompt(page, prompt)
    grown = wait_text_longer(page, 40)["text"]
    sidebar = page.locator("[data-testid='stSidebar']")
    max_tokens = sidebar.get_by_role("spinbutton", name="Max output tokens")
    max_tokens.fill("99")
    max_tokens.press("Enter")
    wait_text_longer(page, len(grown) + 20)  # still there, still growing
    select_option(page, "Model", "demo-fast", sidebar, settle=False)  # mid-answer
    grown = wait_text_longer(page, len(snapshot(page)["text"]) + 20)["text"]
    assert grown and snapshot(page)["running"]  # still streaming, under its Stop button
    expect_finished(page, 0)
    answer = chat_messages(page).nth(0)
    expect(answer).not_to_contain_text(STOPPED)
    [run] = eventually(lambda: runs_for(app_store, prompt))
    assert run["status"] == "ok" and run["model"] == "medium"
    assert same_text(page, run["response"])

    send_prompt(page, "Now with the new settings")
    expect_finished(page, 1)
    [after] = eventually(lambda: runs_for(app_store, "Now with the new settings"))
    assert after["model"] == "demo-fast" and '"max_tokens": 99' in after["settings_json"]
    assert exception_texts(page) == []


def test_switching_to_stats_and_back_mid_answer_finds_it(page, app_store):
    use_scripted_model(page, "medium")
    prompt = "Answer while I look at Stats"
    send_prompt(page, prompt)
    wait_text_longer(page, 30)
    page.get_by_role("link", name="Stats").click()
    expect(page.get_by_role("heading", name="Stats", exact=False).first).to_be_visible()
    page.get_by_role("link", name="Chat").click()
    expect(chat_messages(page, "user").last).to_contain_text(prompt)
    expect_finished(page, 0)
    [run] = eventually(lambda: runs_for(app_store, prompt))
    assert run["status"] == "ok" and chat_messages(page).count() == 1
    assert same_text(page, run["response"])


def test_a_reload_and_a_second_tab_show_the_same_chat_and_the_answer_completes(
        page, browser, app_url, app_store):
    use_scripted_model(page, "medium")
    prompt = "Survive a reload"
    send_prompt(page, prompt)
    wait_text_longer(page, 30)
    url = page.url
    assert "chat=" in url
    page.reload()
    expect(chat_messages(page, "user").last).to_contain_text(prompt, timeout=15_000)
    other = browser.new_context().new_page()
    try:
        other.goto(url)
        expect(chat_messages(other, "user").last).to_contain_text(prompt, timeout=15_000)
        expect_finished(page, 0)
        expect_finished(other, 0)
        [run] = eventually(lambda: runs_for(app_store, prompt))  # one answer, not three
        assert run["status"] == "ok"
        for tab in (page, other):
            assert same_text(tab, run["response"])
            assert exception_texts(tab) == []
    finally:
        other.context.close()


def test_stop_marks_the_partial_at_once_and_the_chat_box_works(page, app_store):
    """Stop → marker, timed from the click to the marker on screen (printed, not asserted:
    the figure for the note), over five stops."""
    use_scripted_model(page, "slow-long")
    times = []
    for i in range(5):
        prompt = f"Stop me ({i})"
        send_prompt(page, prompt)
        expect(chat_messages(page, "user").last).to_contain_text(prompt)
        wait_text_longer(page, 30)
        answer = chat_messages(page).nth(i)
        clicked = time.monotonic()
        page.locator(STOP_BUTTON).click()
        expect(answer).to_contain_text(STOPPED, timeout=15_000)
        times.append(time.monotonic() - clicked)
        wait_idle(page)
        [run] = eventually(lambda p=prompt: runs_for(app_store, p))
        assert run["status"] == "stopped"
        assert same_text(page, run["response"])
        expect(page.locator(STOP_BUTTON)).to_have_count(0)
    print(f"Stop click -> marker visible: p50 {statistics.median(times) * 1000:.0f} ms, "
          f"max {max(times) * 1000:.0f} ms over {len(times)}")
    assert exception_texts(page) == []


def test_a_prompt_or_new_chat_mid_answer_stops_it_first(page, app_store):
    use_scripted_model(page, "slow-long")
    send_prompt(page, "First, long")
    wait_text_longer(page, 30)
    use_scripted_model(page, "instant", settle=False)  # mid-answer
    send_prompt(page, "Second, at once")
    expect_finished(page, 1)
    expect(chat_messages(page).nth(0)).to_contain_text(STOPPED)
    assert chat_messages(page).count() == 2 and chat_messages(page, "user").count() == 2
    assert [r["status"] for r in runs_for(app_store, "First, long")] == ["stopped"]
    assert [r["status"] for r in runs_for(app_store, "Second, at once")] == ["ok"]

    first_chat = chat_id(page)
    use_scripted_model(page, "slow-long")
    send_prompt(page, "Third, then a new chat")
    wait_text_longer(page, 30)
    page.locator("[data-testid='stSidebar']").get_by_role("button", name="New chat").click()
    wait_idle(page)
    assert chat_messages(page).count() == 0
    [third] = eventually(lambda: runs_for(app_store, "Third, then a new chat"))
    assert third["status"] == "stopped" and third["group_id"] == first_chat
    assert exception_texts(page) == []


def test_a_killed_server_gives_back_the_chat_with_its_partial_marked(browser, tmp_path, scripts):
    """SIGKILL the app mid-answer, start it again on the same store: the chat is back."""
    env = {"CHATLAB_DATA_DIR": str(tmp_path), "CHATLAB_DB": str(tmp_path / "runs.sqlite3"),
           SCRIPTS_ENV: str(scripts.path)}
    first = AppServer(env).start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(first.url)
        wait_idle(page, 60_000)
        use_scripted_model(page, "slow-long")
        send_prompt(page, "Long, then the server dies")
        seen = wait_text_longer(page, 60)["text"]
        killed_chat = chat_id(page)
        chats = ChatStore(RunStore(tmp_path / "runs.sqlite3"))
        eventually(lambda: len(chats.get(killed_chat).turns[-1].content) >= 40)
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(30)
        second = AppServer(env).start()
        try:
            page.goto(f"{second.url}/?chat={killed_chat}")
            wait_idle(page, 60_000)
            answer = chat_messages(page).nth(0)
            expect(answer).to_contain_text("The server stopped while this answer was arriving")
            text = snapshot(page)["text"]
            assert len(text) >= 40 and seen.startswith(text[:40])
            assert exception_texts(page) == []
        finally:
            second.stop()
    finally:
        context.close()
        first.stop()
