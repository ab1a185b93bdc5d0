"""The first screen a newcomer sees, in Chromium: what Chat Lab is, which model answers, and
three prompts to try; one click sends a prompt and its answer streams. Screenshots at
1280×720 and 1920×1080 are kept under ``$CHATLAB_ARTIFACTS`` (default
``test-artifacts/``) for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from testkit.browser import chat_messages, use_scripted_model, wait_idle
from ui.first_screen import EXAMPLE_PROMPTS

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("CHATLAB_ARTIFACTS", "test-artifacts"))


def test_the_first_screen_names_the_model_and_a_click_on_a_prompt_asks_it(page, app_store):
    use_scripted_model(page, "demo-fast")
    main = page.locator("[data-testid='stMainBlockContainer']")
    expect(main.locator("p", has_text="Answering:")).to_contain_text("Scripted demo · demo-fast")
    buttons = [main.get_by_role("button", name=prompt) for prompt in EXAMPLE_PROMPTS]
    for button in buttons:
        expect(button).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 720), (1920, 1080)):
        page.set_viewport_size({"width": width, "height": height})
        wait_idle(page)
        page.screenshot(path=str(ARTIFACTS / f"first-screen-{width}x{height}.png"))
        # The whole first screen fits without scrolling: its last prompt button is in view.
        expect(buttons[-1]).to_be_in_viewport()
    buttons[0].click()
    expect(chat_messages(page, "user")).to_have_count(1)
    expect(chat_messages(page, "user").first).to_contain_text(EXAMPLE_PROMPTS[0])
    expect(chat_messages(page, "assistant").first).to_contain_text("Chat Lab", timeout=30_000)
    expect(main.locator("p", has_text="Answering:")).to_have_count(0)
    wait_idle(page)
    assert EXAMPLE_PROMPTS[0] in list(app_store.runs().prompt)
