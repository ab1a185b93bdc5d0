"""The Load page in headless Chromium, with its offline defaults: two scripted servers, one
with 4 slots (demo-busy: a fifth stream waits for a whole answer) and one without (demo-fast).

- A sweep started from the page shows its progress and each level as it ends, ends by itself
  with one knee in words per target, the charts and the table, and its HTML report downloads
  as one self-contained page that says the knees first.
- Stop keeps the levels measured so far, on the page and after a reload, marked stopped.
- A reload and a page switch mid-run find the same run (the same ``?load`` id) still going,
  and it goes on to its end.
- Another replica (a second ``streamlit run`` on the same run store) opens the run's URL with
  the same knees.
- Screenshots of a finished run at 1280×720 and 1920×1080 go to ``$CHATLAB_ARTIFACTS``
  (default ``test-artifacts/``), named ``load-*.png``.

No timing is asserted (see tests/test_load_page.py): on a loaded machine a level may be
flagged client-bound and not counted, so the knee is only pinned when no level of demo-busy
was. Each sweep is 1 s a level up to 8 streams: about 20 s.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from chatlib.load.report import summary_words
from chatlib.load.run import LoadView
from chatlib.store.loads import LoadStore
from testkit.app_server import AppServer
from testkit.browser import exception_texts, wait_idle
from tests.browser.test_report_browser import Offline
from tests.clocks import HANG_GUARD_S

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("CHATLAB_ARTIFACTS", "test-artifacts"))
SIDEBAR = "[data-testid='stSidebar']"
START = ".st-key-load_start button"
# Visible: during a rerun the old button lingers, hidden, until the new one replaces it.
STOP = ".st-key-stop_load button:visible"
PROGRESS = "[data-testid='stProgress']"
CHARTS = "[data-testid='stVegaLiteChart']"
# Far above a 1 s-a-level sweep to 8 streams of both targets (about 20 s when idle): a guard.
SWEEP_GUARD_S = HANG_GUARD_S * 12
# demo-busy's fifth stream waits behind a whole answer (about 0.6 s): 400 ms splits at 4.
SLO = "p99 ttft <= 400ms"
LOAD_ID = re.compile(r"[?&]load=([0-9a-f]{32})")


# -- driving the page ----------------------------------------------------------------------
def nav_link(page: Any, name: str) -> Any:
    return page.locator("[data-testid='stSidebarNav']").get_by_role("link", name=name)


def open_load_page(page: Any) -> None:
    nav_link(page, "Load").click()
    expect(page.locator(START)).to_be_visible(timeout=60_000)
    wait_idle(page, 60_000)


def set_field(page: Any, field: Any, text: str) -> None:
    """Type ``text`` into a sidebar field and leave it (which commits it), then wait for the
    rerun it causes."""
    field.fill(text)
    field.blur()
    page.wait_for_timeout(300)  # let the rerun start (see testkit.browser.select_option)
    wait_idle(page)


def start_load(page: Any, levels: str | None = None, seconds: int = 1) -> str:
    """On the Load page: a run of the default targets with ``SLO``, ``seconds`` a level: a
    sweep up to 8 streams, or the fixed concurrency ``levels`` ("1, 2, 4"; all of them run,
    whatever they measure, where a sweep may end early); the load's id once the URL names
    it."""
    sidebar = page.locator(SIDEBAR)
    if levels is None:
        assert sidebar.get_by_role("radio", name="Sweep: find the knee").is_checked()
        set_field(page, sidebar.get_by_label("Highest concurrency", exact=True), "8")
    else:
        sidebar.get_by_text("Concurrency levels", exact=True).click()
        page.wait_for_timeout(300)
        wait_idle(page)
        set_field(page, sidebar.get_by_role("textbox", name="Concurrent streams"), levels)
    set_field(page, sidebar.get_by_label("Seconds per level", exact=True), str(seconds))
    set_field(page, sidebar.get_by_role("textbox", name="SLOs, one per line"), SLO)
    expect(page.locator(START)).to_be_enabled()
    page.locator(START).click()
    return load_id(page)


def load_id(page: Any) -> str:
    """The id in the page's URL (``?load=<id>``), once the page has set it."""
    expect(page).to_have_url(LOAD_ID, timeout=30_000)
    return LOAD_ID.search(page.url).group(1)  # type: ignore[union-attr]


def table_rows(page: Any) -> int:
    """Rows of the per-level table (0 while there is none): the grid's aria-rowcount counts
    its header too."""
    grid = page.locator("[data-testid='stDataFrame'] table[aria-rowcount]")
    if not grid.count():
        return 0
    count = grid.first.get_attribute("aria-rowcount", timeout=2_000)
    return int(count) - 1 if count else 0


def knee_lines(page: Any) -> list[str]:
    """The knees in words, one per target, in page order."""
    items = page.locator("[data-testid='stMain'] [data-testid='stMarkdownContainer'] li")
    return [t for t in items.all_inner_texts() if re.match(r"[A-D] \(", t)]


def progress_text(page: Any) -> str:
    bar = page.locator(PROGRESS)
    texts = bar.all_inner_texts() if bar.count() else []
    return texts[0] if texts else ""


def wait_until_ended(page: Any) -> None:
    """Until the run has ended by itself: the live view gone (no Stop, no progress) and each
    target's knee said."""
    expect(page.locator(STOP)).to_have_count(0, timeout=SWEEP_GUARD_S * 1000)
    expect(page.locator(PROGRESS)).to_have_count(0, timeout=30_000)
    wait_idle(page, 30_000)


def stored(app_store: Any, wanted: str) -> LoadView:
    load = LoadStore(app_store).get(wanted)
    assert load is not None, f"load {wanted} is not in the store"
    return LoadView.from_stored(load)


def eventually(check: Any, timeout_s: float = HANG_GUARD_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


def stop_any_running_load(browser: Any, url: str) -> None:
    """Stop a load this app still runs (a test that failed midway), so the next test's Start
    is not disabled by it: the page re-attaches to a running load on its own."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{url}/load")
        expect(page.locator(START)).to_be_visible(timeout=60_000)
        wait_idle(page, 60_000)
        if page.locator(STOP).count():
            page.locator(STOP).click()
            expect(page.locator(STOP)).to_have_count(0, timeout=60_000)
    finally:
        context.close()


@pytest.fixture(autouse=True)
def no_load_left_running(browser, app_url) -> Iterator[None]:
    yield
    stop_any_running_load(browser, app_url)


@pytest.fixture
def load_page(page) -> Any:
    open_load_page(page)
    return page


def assert_knees_as_stored(lines: list[str], view: LoadView, *, swept: bool = True) -> None:
    """The page says each target's knee, as the stored figures give it; demo-busy's is 4
    streams unless one of its levels was flagged client-bound (then it is not counted; and
    a sweep ends there)."""
    assert sorted(line[:1] for line in lines) == ["A", "B"], lines
    assert lines == summary_words(view)
    busy = view.target_results("A")
    clean = [r for r in busy if not r.client_bound]
    # Up to its 4 slots nothing queues; past them a stream waits behind a whole answer.
    assert all(r.meets_slos == (r.level <= 4) for r in clean), [
        (r.level, r.meets_slos) for r in clean]
    knees = {k.label: k for k in view.knees()}
    if not any(r.client_bound for r in busy):
        assert knees["A"].level == 4
        assert {5, 8} <= {r.level for r in busy} if swept else len(busy) == 4
        assert next(line for line in lines if line.startswith("A")).startswith(
            "A (scripted:demo-busy) holds p99 TTFT ≤ 400 ms up to 4 concurrent streams")


# The progress bar while a level runs: its target and level, and the levels so far.
IN_LEVEL = r"[AB] at \d+ concurrent streams?: .* levels? measured"


# -- the tests ---------------------------------------------------------------------------------
def test_a_sweep_shows_its_levels_live_ends_with_each_knee_and_its_report_downloads(
        load_page, browser, app_store, tmp_path):
    page = load_page
    expect(page.get_by_text("Pick the targets and the schedule")).to_be_visible()
    wanted = start_load(page)
    # While it runs: the progress bar, and the levels so far in the table, both at once.
    samples: list[tuple[str, int]] = []
    deadline = time.monotonic() + SWEEP_GUARD_S
    while time.monotonic() < deadline:
        running = page.locator(STOP).count() > 0
        sample = (progress_text(page), table_rows(page))
        samples.append(sample)
        if not running or (re.search(IN_LEVEL, sample[0] or "") and sample[1] >= 1):
            break
        time.sleep(0.2)
    live = [(text, rows) for text, rows in samples if text and rows >= 1]
    assert live, f"no level was shown while the run went on: {samples[-5:]}"
    # A level in flight names its target and level (between levels: the count so far).
    assert any(re.search(IN_LEVEL, text) for text, _ in live), live

    wait_until_ended(page)
    expect(page.locator(CHARTS)).to_have_count(2)  # the latency curve and goodput
    view = eventually(lambda: (v := stored(app_store, wanted)).ended_at is not None and v)
    assert view and not view.stopped and load_id(page) == wanted
    assert {r.label for r in view.results} == {"A", "B"}
    lines = knee_lines(page)
    assert_knees_as_stored(lines, view)
    assert eventually(lambda: table_rows(page) == len(view.results)), table_rows(page)
    for chart in page.locator(CHARTS).all():
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
    assert exception_texts(page) == []

    # The report: one self-contained page, the knees first.
    button = page.get_by_role("button", name="Report (HTML)")
    with page.expect_download(timeout=60_000) as download:
        button.click()
    assert download.value.suggested_filename == f"chatlab-load-{wanted[:8]}.html"
    report = tmp_path / download.value.suggested_filename
    download.value.save_as(report)
    text = report.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"https?://", text)
    assert re.search(r"<h2[^>]*>(.*?)</h2>", text).group(1) == "Result"  # type: ignore[union-attr]
    unescaped = html.unescape(text)
    for line in lines:
        assert line in unescaped
    # Opened from disk with every request refused, it asks for nothing and says the knees.
    offline = Offline(browser, report.as_uri())
    try:
        offline.page.goto(report.as_uri())
        offline.page.wait_for_load_state("load")
        expect(offline.page.locator("h2").first).to_have_text("Result")
        verdicts = offline.page.locator("ul.verdicts li")
        expect(verdicts).to_have_count(2)
        for shown, line in zip(verdicts.all_inner_texts(), lines):
            assert line in shown
        assert offline.blocked == [] and offline.csp == []
    finally:
        offline.close()


def test_stop_keeps_the_levels_measured_so_far_also_after_a_reload(load_page, app_store):
    page = load_page
    wanted = start_load(page, "1, 2, 4, 8")
    expect(page.locator(STOP)).to_be_visible(timeout=30_000)
    # At least one level in the table, the run still going: then Stop.
    assert eventually(lambda: table_rows(page) >= 1 and page.locator(STOP).count(),
                      SWEEP_GUARD_S), "no level ended while the run went on"
    seen = table_rows(page)
    page.locator(STOP).click()
    stopped_note = page.get_by_text("Stopped: the levels below are those measured before")
    expect(stopped_note).to_be_visible(timeout=30_000)
    expect(page.locator(STOP)).to_have_count(0)
    wait_idle(page, 30_000)
    view = eventually(lambda: (v := stored(app_store, wanted)).ended_at is not None and v)
    assert view and view.stopped
    # Every level shown before the Stop is kept (and the level in flight, as far as it got),
    # and no level after it ran.
    assert seen <= len(view.results) < 8
    assert eventually(lambda: table_rows(page) == len(view.results)), table_rows(page)
    before = knee_lines(page)
    assert before == summary_words(view)

    page.reload()
    expect(stopped_note).to_be_visible(timeout=60_000)
    wait_idle(page, 30_000)
    assert load_id(page) == wanted
    assert eventually(lambda: table_rows(page) == len(view.results)), table_rows(page)
    assert knee_lines(page) == before
    expect(page.locator(STOP)).to_have_count(0)
    assert exception_texts(page) == []


def test_a_reload_and_a_page_switch_mid_run_find_the_same_run_and_it_ends(
        load_page, app_store):
    page = load_page
    wanted = start_load(page, "1, 2, 4, 8", seconds=2)
    assert eventually(lambda: "level" in progress_text(page) and table_rows(page) >= 1,
                      SWEEP_GUARD_S), f"the run showed no level: {progress_text(page)!r}"

    page.reload()
    # The same run, live again: its progress and the levels so far.
    expect(page.locator(PROGRESS)).to_be_visible(timeout=60_000)
    assert load_id(page) == wanted
    expect(page.locator(STOP)).to_be_visible()
    levels_at_reload = len(stored(app_store, wanted).results)

    nav_link(page, "Chat").click()
    expect(page.locator("[data-testid='stChatInputTextArea']")).to_be_visible(timeout=60_000)
    wait_idle(page, 30_000)
    assert stored(app_store, wanted).ended_at is None, "the run ended before the page switch"
    nav_link(page, "Load").click()
    # Back on the Load page with no id in the link: it finds the run still going.
    expect(page.locator(STOP)).to_be_visible(timeout=60_000)
    expect(page.locator(PROGRESS)).to_be_visible()
    assert load_id(page) == wanted
    expect(page.locator(START)).to_be_disabled()  # one load at a time

    wait_until_ended(page)
    view = eventually(lambda: (v := stored(app_store, wanted)).ended_at is not None and v)
    assert view and not view.stopped
    # Every level of both targets, not only those before the reload.
    assert levels_at_reload < len(view.results) == 8
    assert {(r.label, r.level) for r in view.results} == {
        (label, level) for label in "AB" for level in (1, 2, 4, 8)}
    assert load_id(page) == wanted
    assert_knees_as_stored(knee_lines(page), view, swept=False)
    assert eventually(lambda: table_rows(page) == len(view.results)), table_rows(page)
    assert exception_texts(page) == []
    # Only one load ran: the reload and the switch started none.
    assert [load.id for load in LoadStore(app_store).recent(50)].count(wanted) == 1
    assert not [load for load in LoadStore(app_store).recent(50)
                if load.created_at > view.created_at]


@pytest.fixture(scope="module")
def finished_load(browser, app_url, app_store) -> str:
    """The id of a run of both targets that ended by itself (one an earlier test ran, else a
    new sweep)."""
    for load in LoadStore(app_store).recent(20):
        view = LoadView.from_stored(load)
        if view.ended_at is not None and not view.stopped and {
                r.label for r in view.results} == {"A", "B"}:
            return view.id
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{app_url}/load")
        expect(page.locator(START)).to_be_visible(timeout=60_000)
        wait_idle(page, 60_000)
        wanted = start_load(page)
        wait_until_ended(page)
        return wanted
    finally:
        context.close()


@pytest.fixture
def replica(app_server, browser_data) -> Iterator[AppServer]:
    """A second ``streamlit run app.py`` on the same run store (its own data dir)."""
    data = browser_data / "replica"
    data.mkdir(exist_ok=True)
    server = AppServer({**app_server.env, "CHATLAB_DATA_DIR": str(data)}).start()
    try:
        yield server
    finally:
        server.stop()


def test_another_replica_opens_a_finished_run_with_the_same_knees(
        finished_load, replica, browser, app_url, app_store):
    view = stored(app_store, finished_load)
    pages = []
    try:
        for url in (app_url, replica.url):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(30_000)
            pages.append(page)
            page.goto(f"{url}/load?load={finished_load}")
            expect(page.locator(CHARTS)).to_have_count(2, timeout=60_000)
            wait_idle(page, 60_000)
        here, there = (knee_lines(p) for p in pages)
        assert len(there) == 2 and there == here == summary_words(view)
        other = pages[1]
        assert load_id(other) == finished_load
        assert eventually(lambda: table_rows(other) == len(view.results)), table_rows(other)
        expect(other.locator(STOP)).to_have_count(0)
        expect(other.get_by_role("button", name="Report (HTML)")).to_be_visible()
        assert exception_texts(other) == []
    finally:
        for page in pages:
            page.context.close()


def test_screenshots_of_a_finished_run(finished_load, browser, app_url):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 720), (1920, 1080)):
        # Opened at each size, as a person would (not resized: Vega lays the charts out anew).
        context = browser.new_context(viewport={"width": width, "height": height})
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{app_url}/load?load={finished_load}")
            expect(page.locator(CHARTS)).to_have_count(2, timeout=60_000)
            wait_idle(page, 60_000)
            page.wait_for_timeout(500)  # the charts' last layout pass
            # The result first: each knee in words on the first screen.
            lines = page.locator("[data-testid='stMain'] [data-testid='stMarkdownContainer'] li",
                                 has_text=re.compile(r"^[A-D] \("))
            expect(lines).to_have_count(2)
            for i in range(2):
                expect(lines.nth(i)).to_be_in_viewport()
            page.screenshot(path=str(ARTIFACTS / f"load-finished-{width}x{height}.png"))
            page.locator(CHARTS).nth(1).scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / f"load-charts-{width}x{height}.png"))
            page.locator("[data-testid='stDataFrame']").scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / f"load-table-{width}x{height}.png"))
            assert exception_texts(page) == []
        finally:
            context.close()
