"""The stats page in headless Chromium shows the runs just made on the chat page: their
count, the headline figures for their model, each run's detail (a failed one with its
error), and the CSV export holds exactly them."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from testkit.browser import (
    chat_messages, exception_texts, open_options, send_prompt, use_scripted_model, wait_idle,
)
from chatlib.store import RunFilter

pytestmark = pytest.mark.browser

OK_MODEL, FAULT_MODEL = "stats-ok", "stats-fault"
PROMPTS = {"How fast is this? (stats 1)": OK_MODEL, "And this one? (stats 2)": OK_MODEL,
           "This one fails (stats 3)": FAULT_MODEL}


def make_runs(page) -> None:
    for i, (prompt, model) in enumerate(PROMPTS.items()):
        if i == 0 or model != list(PROMPTS.values())[i - 1]:
            use_scripted_model(page, model)
        send_prompt(page, prompt)
        # Finished: the figures line; failed: the error box (its figures line follows).
        expect(chat_messages(page).nth(i).locator("[data-testid='stCaptionContainer']")
               .filter(has_text="TTFT")).to_have_count(1, timeout=30_000)
        wait_idle(page)


def pick_in_multiselect(page, label: str, options: list[str]) -> None:
    box = page.locator("[data-testid='stSidebar']").get_by_role("combobox", name=label)
    for option in options:
        open_options(page, box)
        # Typing filters the list: with many models in the store the option may not be
        # among those the dropdown renders.
        box.fill(option)
        page.get_by_role("option", name=option, exact=True).click()
        wait_idle(page)
    page.keyboard.press("Escape")
    wait_idle(page)


def test_stats_page_shows_the_runs_just_made(page, scripts, app_store):
    scripts.add({
        OK_MODEL: {"text": "A short answer to time. " * 4, "chunk_chars": 6,
                   "first_delay_s": 0.05, "gap_s": 0.01},
        FAULT_MODEL: {"text": "This breaks soon. " * 4, "chunk_chars": 6, "fault_at": 3,
                      "fault_message": "Scripted failure for the stats page."},
    })
    make_runs(page)
    page.get_by_role("link", name="Stats").click()
    page.wait_for_url("**/stats")
    main = page.locator("[data-testid='stMain']")
    expect(main).to_contain_text("Latency and throughput", timeout=60_000)
    wait_idle(page, 60_000)

    pick_in_multiselect(page, "Model", [OK_MODEL, FAULT_MODEL])
    expect(main).to_contain_text("3 runs match the filters.")
    # The headline speaks of our finished model, and of its two finished runs.
    expect(main).to_contain_text(f"scripted · {OK_MODEL}")
    expect(main).to_contain_text("n = 2")

    # Run detail: our three runs are offered; the failed one shows its error.
    run_box = main.get_by_role("combobox", name="Run (newest 200 matching the filters)")
    options = open_options(page, run_box)
    expect(options).to_have_count(3)
    texts = options.all_inner_texts()
    assert sum(f"scripted/{OK_MODEL} · ok" in t for t in texts) == 2
    options.filter(has_text=f"scripted/{FAULT_MODEL} · error").click()
    wait_idle(page)
    expect(main.locator("[data-testid='stAlert']")).to_contain_text(
        "Scripted failure for the stats page.")

    # The export holds exactly these runs, with their prompts and statuses.
    with page.expect_download() as download:
        main.get_by_role("button", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert sorted((r["prompt"], r["status"]) for r in rows) == sorted(
        (p, "error" if m == FAULT_MODEL else "ok") for p, m in PROMPTS.items())
    stored = app_store.runs(RunFilter(models=(OK_MODEL, FAULT_MODEL)))
    assert sorted(stored.id) == sorted(r["id"] for r in rows)

    body = page.locator("body").inner_text()
    assert exception_texts(page) == [] and "Traceback" not in body
