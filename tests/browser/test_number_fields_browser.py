"""Number fields in headless Chromium, typed as a person would: "1e9" and a number beyond
what JavaScript holds as an integer are read whole, and the page says which value is used
(an int-typed Streamlit field read "1e9" as 1, and kept a huge number in the field while the
old value was used, both without a word)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from testkit.browser import (exception_texts, open_expander, send_prompt, use_scripted_model,
                             wait_idle)
from tests.browser.test_chat_browser import eventually, run_for

pytestmark = pytest.mark.browser

MAX_TOKENS = "Max output tokens"


def type_number(page: Any, label: str, text: str) -> Any:
    """Type ``text`` into the sidebar's number field ``label`` and leave it (which commits
    it; Enter would keep the focus, and its later blur would race the next action)."""
    field = page.locator("[data-testid='stSidebar']").get_by_label(label, exact=True)
    field.fill(text)
    field.blur()
    return field


def test_1e9_and_a_huge_number_in_max_output_tokens_say_which_value_is_used(page, app_store):
    sidebar = page.locator("[data-testid='stSidebar']")
    use_scripted_model(page, "instant")
    field = type_number(page, MAX_TOKENS, "1e9")
    expect(sidebar.get_by_text(
        "Max output tokens: 1,000,000,000 is out of range (1 to 32,000); using 32,000.")
    ).to_be_visible(timeout=30_000)
    expect(field).to_have_value("1000000000")  # read whole, not parseInt's 1
    wait_idle(page)

    prompt = "Which max tokens reached the provider? (number fields)"
    send_prompt(page, prompt)
    run = eventually(lambda: run_for(app_store, prompt), timeout_s=30)
    assert run is not None and app_store.get(run["id"]).settings["max_tokens"] == 32_000
    wait_idle(page)

    type_number(page, MAX_TOKENS, "999999999999999999999")
    expect(sidebar.get_by_text(
        "Max output tokens: 1e+21 is out of range (1 to 32,000); using 32,000.")
    ).to_be_visible(timeout=30_000)
    # Back in range: the warning goes, the value shown is the value used.
    type_number(page, MAX_TOKENS, "100")
    expect(sidebar.get_by_text("Max output tokens:", exact=False)).to_have_count(
        0, timeout=30_000)
    assert exception_texts(page) == []


def test_1e9_as_token_budget_is_not_read_as_1(page):
    sidebar = page.locator("[data-testid='stSidebar']")
    open_expander(page, "Advanced")  # the token budget is folded there
    type_number(page, "Token budget for the context sent", "1e9")
    expect(sidebar.get_by_text(
        "Token budget for the context sent: 1,000,000,000 is out of range "
        "(64 to 1,000,000); using 1,000,000.")).to_be_visible(timeout=30_000)
    type_number(page, "Token budget for the context sent", "2.5e3")
    expect(sidebar.get_by_label("Token budget for the context sent", exact=True)).to_have_value(
        "2500")
    expect(sidebar.get_by_text("Token budget for the context sent:", exact=False)).to_have_count(
        0, timeout=30_000)
    assert exception_texts(page) == []
