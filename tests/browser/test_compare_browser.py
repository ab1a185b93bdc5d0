"""The compare page in headless Chromium: two targets stream side by side with live
figures, and Stop stops both and keeps each partial answer; the URL names the comparison
(``?compare=<id>``): a fresh page opens a finished one with its answers and vote, and a
reload mid-comparison re-attaches to the columns still streaming.

Uses the browser suite's session app and Chromium (tests/browser/conftest.py) and adds
slow scripted models, so a Stop or a reload lands mid-stream whatever the load."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from testkit.browser import exception_texts, send_prompt, wait_idle
from chatlib.store import RunFilter

STOP_BUTTON = ".st-key-stop_compare button"  # above the columns while they stream

pytestmark = pytest.mark.browser

SLOW_SCRIPTS = {
    # About 18 s each: the stop test stops them as soon as both have streamed a few words.
    "slow-a": {"text": "alpha " * 600, "chunk_chars": 6, "first_delay_s": 0.1, "gap_s": 0.03},
    "slow-b": {"text": "beta " * 600, "chunk_chars": 5, "first_delay_s": 0.2, "gap_s": 0.03},
    # About 36 s: outlasts a 32-token answer of the embedded model even on a loaded machine
    # (the test stops it once the embedded model has finished).
    "slow-c": {"text": "gamma " * 1200, "chunk_chars": 6, "first_delay_s": 0.1, "gap_s": 0.03},
    # About 12 s each: a reload lands mid-stream, and the test waits for their ends.
    "steady-a": {"text": "steady alpha " * 60, "chunk_chars": 6, "first_delay_s": 0.1,
                 "gap_s": 0.09},
    "steady-b": {"text": "steady beta " * 60, "chunk_chars": 6, "first_delay_s": 0.2,
                 "gap_s": 0.09},
}
COLUMNS = "[data-testid='stColumn']"
CAPTION = "[data-testid='stCaptionContainer']"


@pytest.fixture
def compare(page, scripts) -> Any:
    """The compare page, open and idle, with the slow scripted models on offer."""
    scripts.add(SLOW_SCRIPTS)
    page.get_by_role("link", name="Compare").click()
    expect(page.get_by_text("Same for every target")).to_be_visible(timeout=60_000)
    wait_idle(page, 60_000)
    return page


def choose(page, target: int, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox ``label`` of sidebar expander "Target <target>"."""
    box = page.locator("[data-testid='stExpander']", has_text=f"Target {target}")
    select = box.locator("[data-testid='stSelectbox']", has_text=label)
    if select.get_by_role("combobox").input_value() == option:
        return
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):  # a rerun landing at the same moment can close the list again
        select.get_by_role("button", name="Open").click()
        try:
            wanted.click(timeout=2_000)
            break
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: open it again
            page.keyboard.press("Escape")
    expect(select.get_by_role("combobox")).to_have_value(option)
    page.wait_for_timeout(300)  # let the choice's rerun start (see testkit.browser.select_option)
    wait_idle(page)


def columns(page) -> list[tuple[str, str]]:
    """(text, first caption) of the two target columns."""
    out = []
    cols = page.locator(COLUMNS)
    for i in range(min(2, cols.count())):
        col = cols.nth(i)
        captions = col.locator(CAPTION).all_inner_texts()
        out.append((col.inner_text(), captions[0] if captions else ""))
    return out


def last_comparison(store) -> dict[str, Any]:
    """The runs of the newest comparison in the app's store, by label."""
    runs = store.runs(RunFilter(pages=("compare",)))
    if runs.empty:
        return {}
    latest = runs[runs.group_id == runs.group_id.iloc[-1]]
    return {row.label: row for row in latest.itertuples()}


def eventually(check, timeout_s: float = 10) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return result


@pytest.mark.model
def test_embedded_model_and_scripted_demo_stream_side_by_side_with_live_figures(compare, app_store):
    page = compare
    # Defaults: target 1 is the embedded model, target 2 the scripted demo.
    choose(page, 1, "Provider", "Embedded model (offline)")
    choose(page, 2, "Provider", "Scripted demo (offline)")
    choose(page, 2, "Model", "slow-c")
    max_tokens = page.get_by_label("Max output tokens")
    # Long enough for several samples of both columns live (32 tokens took 0.4 s at ~90
    # tok/s: a sample every 0.1 s or more sometimes caught only one).
    max_tokens.fill("128")
    max_tokens.press("Enter")
    wait_idle(page)
    send_prompt(page, "Write a long poem about the sea, verse after verse.")
    page.wait_for_selector(f"{COLUMNS} >> nth=1", timeout=10_000)
    samples = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # until the embedded model has finished its answer
        samples.append(columns(page))
        if len(samples[-1]) == 2 and samples[-1][0][1].startswith("✅"):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the embedded model did not finish: {samples[-1]}")
    # At some moments both columns were streaming at once, each with live figures...
    both_live = [s for s in samples
                 if len(s) == 2 and all(c.startswith("🔴 Answering") and "TTFT" in c for _, c in s)]
    assert len(both_live) >= 2, samples[-5:]
    assert re.search(r"tokens? so far \(tokenizer\)", both_live[0][0][1])
    assert re.search(r"tokens? so far \(estimate\)", both_live[0][1][1])
    assert "tok/s" in both_live[0][1][1]
    # ...and both grew while the other was still streaming.
    first, last = both_live[0], both_live[-1]
    assert len(last[0][0]) > len(first[0][0]) and len(last[1][0]) > len(first[1][0])
    final = columns(page)
    assert final[0][1].startswith("✅ TTFT") and "(tokenizer)" in final[0][1]
    stop = page.locator(STOP_BUTTON)
    if final[1][1].startswith("🔴") and stop.count():  # the scripted answer streams on: stop it
        try:
            stop.click(timeout=2_000)
        except Exception:  # noqa: BLE001 - it ended between the check and the click
            pass
    wait_idle(page, 60_000)
    runs = eventually(lambda: (r := last_comparison(app_store)) and len(r) == 2
                      and r["A"].prompt == "Write a long poem about the sea, verse after verse."
                      and r)
    a, b = runs["A"], runs["B"]
    assert (a.provider, a.status, b.provider) == ("local", "ok", "scripted")
    assert b.status in ("stopped", "ok")  # "ok" only on a machine so loaded it ran 36 s first
    assert a.output_tokens <= 128 and b.response.startswith("gamma gamma")
    # Their streams overlapped in time (wall clock at t0 plus the time of the last chunk).
    assert b.created_at < a.created_at + a.e2e_s and a.created_at < b.created_at + b.e2e_s


def two_slow_targets(page: Any) -> None:
    for target, model in ((1, "slow-a"), (2, "slow-b")):
        choose(page, target, "Provider", "Scripted demo (offline)")
        choose(page, target, "Model", model)


def test_stop_stops_every_target_and_keeps_each_partial(compare, app_store):
    page = compare
    two_slow_targets(page)
    send_prompt(page, "Go slowly.")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # both mid-stream: live figures and some text
        cols = columns(page)
        if (len(cols) == 2 and all(c.startswith("🔴") for _, c in cols)
                and cols[0][0].count("alpha") > 10 and cols[1][0].count("beta") > 10):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the columns never streamed together: {columns(page)}")
    page.locator(STOP_BUTTON).click()
    # At once, with no other click: every column says it stopped, and there is no vote.
    expect(page.get_by_text("Stopped: no vote on a stopped comparison.")).to_be_visible(
        timeout=15_000)
    wait_idle(page, 15_000)
    stopped_at_once = columns(page)
    assert all(c.startswith("⏹ Stopped") for _, c in stopped_at_once), stopped_at_once
    shown = [t for t, _ in stopped_at_once]
    assert "alpha" in shown[0] and "beta" in shown[1]
    # The store has both runs, stopped, each with the partial text it received.
    runs = eventually(lambda: (r := last_comparison(app_store)) and len(r) == 2
                      and r["A"].prompt == "Go slowly." and r)
    assert (runs["A"].status, runs["B"].status) == ("stopped", "stopped")
    a_text, b_text = runs["A"].response, runs["B"].response
    assert a_text.startswith("alpha alpha") and len(a_text) < len("alpha " * 600)
    assert b_text.startswith("beta beta") and len(b_text) < len("beta " * 600)
    # A later rerun draws the stopped comparison the same way, partials marked.
    page.get_by_text("Warm-up run first").click()
    expect(page.get_by_text("Stopped: no vote on a stopped comparison.")).to_be_visible()
    wait_idle(page)
    after = columns(page)
    assert all(c.startswith("⏹ Stopped") for _, c in after), after
    for (text, _), stored in zip(after, (a_text, b_text)):
        assert " ".join(stored.split()) in " ".join(text.split())


def test_a_widget_change_mid_comparison_leaves_every_target_streaming(compare, app_store):
    page = compare
    two_slow_targets(page)
    send_prompt(page, "Keep streaming through a rerun.")

    def both_streaming(more_than: int = 0) -> list[tuple[str, str]]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            cols = columns(page)
            if (len(cols) == 2 and all(c.startswith("🔴") for _, c in cols)
                    and cols[0][0].count("alpha") > more_than
                    and cols[1][0].count("beta") > more_than):
                return cols
            time.sleep(0.1)
        pytest.fail(f"the columns did not stream together: {columns(page)}")

    before = both_streaming(5)
    page.get_by_text("Blind: hide names").click()  # a rerun of the whole page
    both_streaming(max(before[0][0].count("alpha"), before[1][0].count("beta")) + 10)
    page.locator(STOP_BUTTON).click()
    expect(page.get_by_text("Stopped: no vote on a stopped comparison.")).to_be_visible(
        timeout=15_000)
    runs = eventually(lambda: (r := last_comparison(app_store)) and len(r) == 2
                      and r["A"].prompt == "Keep streaming through a rerun." and r)
    assert (runs["A"].status, runs["B"].status) == ("stopped", "stopped")
    assert runs["A"].response.count("alpha") > before[0][0].count("alpha") + 10


def comparison_id(page: Any) -> str:
    """The id in the page's URL (``?compare=<id>``), once the page has set it."""
    expect(page).to_have_url(re.compile(r"[?&]compare=[0-9a-f]{32}"), timeout=15_000)
    return re.search(r"[?&]compare=([0-9a-f]{32})", page.url).group(1)


def test_a_finished_comparisons_url_opens_in_a_fresh_page_with_its_answers_and_vote(
        compare, browser, app_store):
    page = compare
    for target, model in ((1, "instant"), (2, "demo-fast")):
        choose(page, target, "Provider", "Scripted demo (offline)")
        choose(page, target, "Model", model)
    page.get_by_text("Blind: hide names").click()
    wait_idle(page)
    send_prompt(page, "Open me again.")
    page.get_by_role("button", name="B is better").click(timeout=30_000)
    expect(page.get_by_text("Vote saved:")).to_be_visible(timeout=15_000)
    wait_idle(page)
    wanted = comparison_id(page)
    finished = columns(page)
    answers = " | ".join(text for text, _ in finished)  # blind: in either order
    assert "Chat Lab" in answers and "Done at once." in answers
    runs = eventually(lambda: (r := last_comparison(app_store)) and len(r) == 2 and r)
    assert {row.group_id for row in runs.values()} == {wanted}

    other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        other.goto(page.url)
        expect(other.get_by_text("Vote saved:")).to_be_visible(timeout=60_000)
        wait_idle(other, 60_000)
        assert "B" in other.get_by_text("Vote saved:").inner_text()
        # The same headers, answers and figures (once its markdown and math have rendered).
        assert eventually(lambda: columns(other) == finished, 30), (columns(other), finished)
        assert other.get_by_role("button", name="A is better").count() == 0
        assert exception_texts(other) == []
        assert comparison_id(other) == wanted
    finally:
        other.context.close()


def test_a_reload_mid_comparison_shows_the_columns_again_and_they_finish(compare, app_store):
    page = compare
    for target, model in ((1, "steady-a"), (2, "steady-b")):
        choose(page, target, "Provider", "Scripted demo (offline)")
        choose(page, target, "Model", model)
    send_prompt(page, "Survive a reload.")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # both mid-stream, with some text
        cols = columns(page)
        if (len(cols) == 2 and all(c.startswith("🔴") for _, c in cols)
                and cols[0][0].count("alpha") > 3 and cols[1][0].count("beta") > 3):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the columns never streamed together: {columns(page)}")
    wanted = comparison_id(page)
    before = [text.count(word) for (text, _), word in zip(cols, ("alpha", "beta"))]
    page.reload()
    # The new page re-attaches to the runs still streaming: both columns live again, each
    # with at least the text it had before the reload...
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cols = columns(page)
        if (len(cols) == 2 and all(c.startswith("🔴") for _, c in cols)
                and cols[0][0].count("alpha") >= before[0]
                and cols[1][0].count("beta") >= before[1]):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the reloaded page did not show the columns streaming: {columns(page)}")
    assert comparison_id(page) == wanted
    # ...and they finish, each with its whole answer, and the vote is offered.
    expect(page.get_by_role("button", name="A is better")).to_be_visible(timeout=60_000)
    wait_idle(page, 30_000)
    done = columns(page)
    assert all(c.startswith("✅") for _, c in done), done
    assert done[0][0].count("steady alpha") == 60 and done[1][0].count("steady beta") == 60
    assert exception_texts(page) == []
    runs = eventually(lambda: (r := last_comparison(app_store)) and len(r) == 2
                      and r["A"].prompt == "Survive a reload." and r)
    assert {row.group_id for row in runs.values()} == {wanted}  # one run each, not two
    assert (runs["A"].status, runs["B"].status) == ("ok", "ok")


RACE_CHART = "[data-testid='stVegaLiteChart']"


def test_the_race_chart_grows_while_the_answers_stream_and_stays_after_a_stop(
        compare, app_store):
    page = compare
    two_slow_targets(page)
    send_prompt(page, "Race slowly.")
    live = page.get_by_text("Live: each answer sampled every")
    expect(live).to_be_visible(timeout=30_000)
    # Drawn under the columns while both still stream.
    assert all(c.startswith("🔴") for _, c in columns(page)), columns(page)
    expect(page.locator(RACE_CHART)).to_have_count(1)
    page.locator(STOP_BUTTON).click()
    expect(page.get_by_text("Stopped: no vote on a stopped comparison.")).to_be_visible(
        timeout=15_000)
    wait_idle(page, 15_000)
    # The results draw it again from the records, once, with each target's figures.
    expect(live).to_have_count(0)
    expect(page.locator(RACE_CHART)).to_have_count(1)
    caption = page.locator(CAPTION, has_text="Answer characters received").inner_text()
    for name in ("A · Scripted demo · slow-a", "B · Scripted demo · slow-b"):
        assert re.search(re.escape(name) + r" \(stopped\): first 100 answer characters at "
                         r"\d+\.\d\d s · longest stall \d+ ms at \d+\.\d\d s", caption), caption
    assert exception_texts(page) == []
