"""Multi-turn compare in headless Chromium: the next prompt goes to every target with its
own conversation, the earlier turn stays on the page, a reload shows both turns, and one
target's conversation moves into the chat page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from testkit.browser import chat_messages, exception_texts, send_prompt, wait_idle
from tests.browser.test_compare_browser import choose, compare, comparison_id  # noqa: F401
from chatlib.store import RunFilter

pytestmark = pytest.mark.browser


def test_the_next_prompt_continues_every_target_and_a_reload_shows_both_turns(
        compare, app_store):  # noqa: F811 - the fixture, imported above
    page = compare
    for target, model in ((1, "instant"), (2, "demo-fast")):
        choose(page, target, "Provider", "Scripted demo (offline)")
        choose(page, target, "Model", model)
    send_prompt(page, "First turn, please.")
    expect(page.get_by_placeholder("Next prompt: every target goes on")).to_be_visible(
        timeout=30_000)
    wait_idle(page)
    first = comparison_id(page)
    send_prompt(page, "And a second turn.")
    expect(page).not_to_have_url(re.compile(first), timeout=30_000)  # the next turn's URL
    expect(page.get_by_role("button", name="Continue with A in Chat")).to_be_visible(
        timeout=30_000)
    wait_idle(page)
    second = comparison_id(page)
    assert second != first
    users = chat_messages(page, "user")
    expect(users).to_have_count(2)
    assert [users.nth(i).inner_text().split("\n")[-1].strip() for i in range(2)] == [
        "First turn, please.", "And a second turn."]
    # (the app's store is shared by every browser test: this comparison's runs only)
    stored = app_store.runs(RunFilter(pages=("compare",), group_ids=(first, second)))
    assert sorted(set(stored.group_id)) == sorted({first, second})
    assert sorted(stored.prompt) == sorted(["First turn, please."] * 2 + ["And a second turn."] * 2)

    page.reload()  # the URL names the second turn: both turns come back
    expect(chat_messages(page, "user")).to_have_count(2, timeout=60_000)
    wait_idle(page, 60_000)
    assert comparison_id(page) == second

    page.get_by_role("button", name="Continue with A in Chat").click()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=30_000)
    expect(chat_messages(page, "user")).to_have_count(2, timeout=30_000)
    expect(chat_messages(page)).to_have_count(2)
    assert "chat=" in page.url
    assert exception_texts(page) == []
