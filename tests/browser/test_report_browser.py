"""The HTML report of a comparison opened from disk (``file://``) in headless Chromium with
every network request aborted: it asks for nothing (no request but the file itself, none
blocked, no Content-Security-Policy violation), it leads with the result (in view on a
1280×720 screen), its inline SVG charts render with real size, the answers are drawn as
Markdown (a table, code, MathML with real size) and none of their HTML runs. The compare
page's "Export report (HTML)" button downloads such a file. Screenshots at 1280×720 and
1920×1080 are kept under ``$CHATLAB_ARTIFACTS`` (default ``test-artifacts/``), named
``report-*.png``, for a person to look at.

The request detector is checked first on a page that does ask for a URL, so a blind
detector fails the test instead of passing it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from chatlib.reports.html import comparison_report
from testkit.browser import send_prompt, wait_idle
from tests.browser.test_compare_browser import choose
from tests.test_report_html import ANSWER_A, ANSWER_B, run_comparison, run_demo

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("CHATLAB_ARTIFACTS", "test-artifacts"))


class Offline:
    """A browser context where only ``allowed`` loads: every other request is aborted and
    noted (``blocked``); every request made (``requests``) and every console message about
    the page's Content-Security-Policy (``csp``) is noted too."""

    def __init__(self, browser: Any, allowed: str, *, bypass_csp: bool = False,
                 viewport: tuple[int, int] = (1280, 900)) -> None:
        # bypass_csp: the page's own policy is ignored, so a test sees what its markup alone
        # would do.
        self.context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, bypass_csp=bypass_csp)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.allowed = allowed
        self.blocked: list[str] = []
        self.requests: list[str] = []
        self.csp: list[str] = []
        self.dialogs: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)

    def _route(self, route: Any) -> None:
        if route.request.url == self.allowed:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def close(self) -> None:
        self.context.close()


def test_the_detector_sees_a_page_that_asks_for_the_network(browser, tmp_path):
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<!DOCTYPE html><p>hi</p><img src="http://127.0.0.1:9/pixel.png">',
                     encoding="utf-8")
    offline = Offline(browser, leaky.as_uri())
    try:
        offline.page.goto(leaky.as_uri())
        offline.page.wait_for_load_state("load")
        assert offline.blocked == ["http://127.0.0.1:9/pixel.png"]
        assert offline.requests == [leaky.as_uri(), "http://127.0.0.1:9/pixel.png"]
    finally:
        offline.close()
    # Under the report's policy the same image is refused before any request: the console
    # says so, and that is what the report test listens for.
    guarded = tmp_path / "guarded.html"
    guarded.write_text('<!DOCTYPE html><meta http-equiv="Content-Security-Policy" '
                       "content=\"default-src 'none'\"><p>hi</p>"
                       '<img src="http://127.0.0.1:9/pixel.png">', encoding="utf-8")
    offline = Offline(browser, guarded.as_uri())
    try:
        offline.page.goto(guarded.as_uri())
        offline.page.wait_for_load_state("load")
        for _ in range(200):  # a hang guard: the console message comes within milliseconds
            if offline.csp:
                break
            offline.page.wait_for_timeout(50)  # lets Playwright deliver the page's events
        assert offline.csp and offline.blocked == []
    finally:
        offline.close()


def test_the_report_opens_offline_with_its_charts_and_answers(browser, store, tmp_path: Path):
    comparison = run_comparison(store)
    report = tmp_path / "report.html"
    report.write_text(comparison_report(comparison), encoding="utf-8")
    offline = Offline(browser, report.as_uri())
    page = offline.page
    try:
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        expect(page.locator("h1")).to_have_text(f"Chat Lab comparison {comparison.id[:8]}")

        # The charts: three inline SVGs (race, two distributions), drawn with marks.
        charts = page.locator("figure.chart svg")
        expect(charts).to_have_count(3)
        for i in range(3):
            chart = charts.nth(i)
            chart.scroll_into_view_if_needed()
            box = chart.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50
            marks = chart.locator("path, line, rect, circle")
            assert marks.count() > 10
        race_line = charts.nth(0).locator(".mark-line path").first
        line_box = race_line.bounding_box()
        assert line_box is not None and line_box["width"] > 10 and line_box["height"] > 10

        # The answers, side by side, shown as text (their markup does not run).
        cards = page.locator(".answers > .card")
        expect(cards).to_have_count(2)
        first, second = (cards.nth(i).locator(".answer").first for i in range(2))
        expect(first).to_be_visible()
        expect(second).to_be_visible()
        expect(first).to_have_text(ANSWER_A)
        expect(second).to_have_text(ANSWER_B)
        a_box, b_box = first.bounding_box(), second.bounding_box()
        assert a_box is not None and b_box is not None and a_box["x"] < b_box["x"]
        assert abs(a_box["y"] - b_box["y"]) < 60  # the same row of the grid
        # B's thinking is folded away until asked for.
        thinking = cards.nth(1).locator("details.thinking").first
        expect(thinking.locator(".thought")).to_be_hidden()
        thinking.locator("summary").click()
        expect(thinking.locator(".thought")).to_be_visible()

        assert page.evaluate("() => window.__xss") is None and not offline.dialogs
        assert page.locator("img").count() == 0
        # Nothing was fetched, or even tried.
        assert offline.blocked == [] and offline.csp == []
        assert set(offline.requests) <= {report.as_uri()}
    finally:
        offline.close()


def test_the_report_leads_with_the_result_and_draws_the_answers_as_markdown(browser, store,
                                                                           tmp_path: Path):
    comparison = run_demo(store, ["demo-fast", "demo-markdown"])  # 6 runs each: a verdict
    report = tmp_path / "report.html"
    report.write_text(comparison_report(comparison), encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1280, 720), (1920, 1080)):
        offline = Offline(browser, report.as_uri(), viewport=(width, height))
        page = offline.page
        try:
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            # The first section is the result, and it is on the first screen.
            expect(page.locator("h2").first).to_have_text("Result")
            result = page.locator("p.result")
            expect(result).to_contain_text("A · Scripted demo · demo-fast: first token 100 ms "
                                           "sooner")
            expect(result).to_be_in_viewport(ratio=1)
            page.screenshot(path=str(ARTIFACTS / f"report-{width}x{height}.png"))

            # The answers: a table, code and MathML, drawn with real size.
            cards = page.locator(".answers > .card")
            expect(cards).to_have_count(2)
            answer = cards.nth(1).locator(".answer").first
            answer.scroll_into_view_if_needed()
            for what in ("table", "pre code", 'math[display="block"]', 'math[display="inline"]',
                         "ol"):
                element = answer.locator(what).first
                expect(element).to_be_visible()
                box = element.bounding_box()
                assert box is not None and box["width"] > 20 and box["height"] > 5, what
            expect(answer.locator("table tr")).to_have_count(4)
            expect(answer.locator("pre code")).to_contain_text("def ttft(t0: float")
            fraction = answer.locator('math[display="block"] mfrac').first.bounding_box()
            assert fraction is not None and fraction["height"] > 20  # stacked, not inline
            assert "$$" not in answer.inner_text() and "|---|" not in answer.inner_text()
            page.screenshot(path=str(ARTIFACTS / f"report-answers-{width}x{height}.png"))

            assert page.evaluate("() => window.__xss") is None and not offline.dialogs
            assert offline.blocked == [] and offline.csp == []
            assert set(offline.requests) <= {report.as_uri()}
        finally:
            offline.close()
    for name in ("report-1280x720.png", "report-1920x1080.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000


def test_the_compare_page_offers_the_report_and_it_opens_offline(page, browser, tmp_path):
    page.get_by_role("link", name="Compare").click()
    expect(page.get_by_text("Same for every target")).to_be_visible(timeout=60_000)
    wait_idle(page, 60_000)
    for target, model in ((1, "instant"), (2, "demo-fast")):
        choose(page, target, "Provider", "Scripted demo (offline)")
        choose(page, target, "Model", model)
    send_prompt(page, "Report <b>me</b>.")
    button = page.get_by_role("button", name="Export report (HTML)")
    expect(button).to_be_visible(timeout=60_000)
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"[?&]compare=[0-9a-f]{32}"), timeout=15_000)
    wanted = re.search(r"compare=([0-9a-f]{32})", page.url).group(1)  # type: ignore[union-attr]
    with page.expect_download(timeout=60_000) as download:
        button.click()
    assert download.value.suggested_filename == f"compare-{wanted[:8]}.html"
    report = tmp_path / download.value.suggested_filename
    download.value.save_as(report)

    offline = Offline(browser, report.as_uri())
    try:
        offline.page.goto(report.as_uri())
        offline.page.wait_for_load_state("load")
        expect(offline.page.locator("h1")).to_have_text(f"Chat Lab comparison {wanted[:8]}")
        expect(offline.page.locator(".answers .answer").first).to_have_text("Done at once.")
        expect(offline.page.get_by_text("Report <b>me</b>.")).to_be_visible()
        expect(offline.page.locator("figure.chart svg")).to_have_count(3)
        assert offline.blocked == [] and offline.csp == []
    finally:
        offline.close()
