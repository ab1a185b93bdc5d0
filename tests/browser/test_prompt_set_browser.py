"""A prompt set run from the Compare page in headless Chromium: upload a CSV, run it on the
picked targets with a progress bar, read the grid; the URL names it and a reload shows it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from testkit.browser import exception_texts, wait_idle
from tests.browser.test_compare_browser import choose, compare  # noqa: F401
from chatlib.store import RunFilter

pytestmark = pytest.mark.browser


def test_a_prompt_set_runs_from_the_page_and_its_grid_survives_a_reload(
        compare, app_store, tmp_path):  # noqa: F811 - the fixture, imported above
    page = compare
    for target, model in ((1, "instant"), (2, "demo-fast")):
        choose(page, target, "Provider", "Scripted demo (offline)")
        choose(page, target, "Model", model)
    prompts = tmp_path / "set.csv"
    prompts.write_text("id,prompt,contains\nonce,Say it once,Done\ntwice,Say more,Chat Lab\n")
    page.get_by_text("Prompt set: many prompts").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(prompts))
    expect(page.get_by_text("2 prompts × 2 targets × 1 run = 4 answers.")).to_be_visible(
        timeout=30_000)
    page.get_by_role("button", name="Run the prompt set").click()
    expect(page.get_by_text("checks passed", exact=False).first).to_be_visible(timeout=60_000)
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"[?&]prompt_set=[0-9a-f]{32}"), timeout=15_000)
    # instant says "Done at once." (passes "once", fails "twice"); demo-fast the reverse.
    expect(page.get_by_text("❌ 6 of 8 checks passed")).to_be_visible()
    runs = app_store.runs(RunFilter(pages=("compare",),
                                     prompts=("Say it once", "Say more")))
    assert sorted(runs.prompt) == ["Say it once", "Say it once", "Say more", "Say more"]
    page.reload()
    expect(page.get_by_text("❌ 6 of 8 checks passed")).to_be_visible(timeout=60_000)
    assert exception_texts(page) == []
