"""XSS in headless Chromium: a scripted provider answers with classic payloads (script tags,
``onerror`` images, ``javascript:`` links, SVG onload, raw HTML in markdown, in code blocks
and tables, KaTeX links) and the same text is typed as the prompt. None may execute (no
dialog, the ``window.__xss`` sentinel stays unset, no live handler in the DOM), and the text
is still shown, as text.

The detectors are checked first on the same page (a real ``onerror`` and a real ``alert``
must trip them), so a blind detector fails the test instead of passing it.

A prompt is shown as text wherever it appears (chat bubble, chat list title, compare
bubble): a Markdown image in it pointing at a server the test runs is never fetched, on the
pages where it is sent nor on a reload; an image the test adds itself is, so a server the
page could not reach would fail the test rather than pass it.

The HTML report draws the same payloads as Markdown (``chatlib.reports.html``): opened from
disk with its Content-Security-Policy ignored, none runs, even when every link is clicked;
with the policy, the page asks for nothing at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import expect

from chatlib.compare.comparison import SharedSettings, TargetSpec
from chatlib.compare.comparisons import Comparisons
from chatlib.core.conversation import chat_title
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.reports.html import comparison_report
from chatlib.store import ComparisonStore
from tests.browser.test_report_browser import Offline
from tests.clocks import HANG_GUARD_S
from tests.test_report_html import CHARS
from ui.chats import TITLE_CHARS
from testkit.browser import (
    chat_messages, exception_texts, select_option, send_prompt, use_scripted_model, wait_idle,
)

pytestmark = pytest.mark.browser

# (payload, a piece of it that must be visible on the page). Each payload would set
# window.__xss to its number (and most would also open an alert) if it ran.
PAYLOADS: list[tuple[str, str]] = [
    ('<script>window.__xss=1;alert("xss1")</script>',
     '<script>window.__xss=1;alert("xss1")</script>'),
    ('<img src=x onerror="window.__xss=2;alert(2)">',
     '<img src=x onerror="window.__xss=2;alert(2)">'),
    ("[click me](javascript:window.__xss=3)", "click me"),
    ('<a href="javascript:window.__xss=4">html link</a>',
     '<a href="javascript:window.__xss=4">html link</a>'),
    ('<svg onload="window.__xss=5;alert(5)"><circle r="40"></circle></svg>',
     '<svg onload="window.__xss=5;alert(5)">'),
    ('<iframe src="javascript:window.parent.__xss=6"></iframe>',
     '<iframe src="javascript:window.parent.__xss=6"></iframe>'),
    ('<details open ontoggle="window.__xss=7">toggle</details>',
     '<details open ontoggle="window.__xss=7">toggle</details>'),
    ('<input autofocus onfocus="window.__xss=8">', '<input autofocus onfocus="window.__xss=8">'),
    ('```html\n<script>window.__xss=9</script>\n<img src=x onerror="window.__xss=9">\n```',
     '<img src=x onerror="window.__xss=9">'),
    ('| cell | link |\n|---|---|\n'
     '| <img src=x onerror="window.__xss=10"> | [table link](javascript:window.__xss=10) |',
     '<img src=x onerror="window.__xss=10">'),
    ("Inline `<svg/onload=window.__xss=11>` code", "<svg/onload=window.__xss=11>"),
    ("![picture](javascript:window.__xss=12)", ""),
    (r"Math $\href{javascript:window.__xss=13}{math link}$ here", "Math"),
    ('<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=14">',
     'onerror="window.__xss=14"'),
    ('<body onload="window.__xss=15">', '<body onload="window.__xss=15">'),
    ('<object data="javascript:window.__xss=16"></object>',
     '<object data="javascript:window.__xss=16"></object>'),
    ('<a href="data:text/html,<script>alert(17)</script>">data link</a>', "data link"),
    ("Autolink <javascript:window.__xss=18>", "Autolink"),
    ("[reference link][x]\n\n[x]: javascript:window.__xss=19", "reference link"),
    ("[entity link](jav&#x09;ascript:window.__xss=20)", "entity link"),
]
ANSWER = "\n\n".join(p for p, _ in PAYLOADS) + "\n\nEnd of the payloads."

# Whatever a payload could leave behind in the chat: executable elements, inline handlers,
# script URLs. Returns descriptions of the offenders.
LIVE_MARKUP_JS = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('[data-testid="stChatMessage"] *')) {
    const tag = el.tagName.toLowerCase();
    if (['script', 'iframe', 'object', 'embed', 'details', 'input', 'body'].includes(tag))
      bad.push('<' + tag + '>');
    for (const a of el.attributes) {
      const v = a.value.replace(/[\\s\\x00-\\x1f]/g, '').toLowerCase();
      if (a.name.startsWith('on')) bad.push(tag + ' ' + a.name);
      if (['href', 'src', 'data', 'action', 'xlink:href'].includes(a.name) &&
          (v.startsWith('javascript:') || v.startsWith('data:') || v.startsWith('vbscript:')))
        bad.push(tag + ' ' + a.name + '=' + a.value);
    }
  }
  return bad;
}"""


# The same check on every element as it is added, so a tag that lived only mid-stream (a
# half-written payload, a block before it was frozen) is caught too.
WATCH_LIVE_MARKUP_JS = """() => {
  window.__xssLive = [];
  const check = %s;
  new MutationObserver(() => { for (const b of check()) if (!window.__xssLive.includes(b))
    window.__xssLive.push(b); }).observe(document.body,
    {subtree: true, childList: true, attributes: true, characterData: true});
}""" % LIVE_MARKUP_JS


def sentinel(page: Any) -> Any:
    return page.evaluate("window.__xss === undefined ? null : window.__xss")


def check_detectors_work(page: Any, dialogs: list[str]) -> None:
    """A real inline handler and a real alert must trip the sentinel and the dialog log."""
    page.evaluate("""() => { const d = document.createElement('div');
        d.id = 'xss-control'; d.innerHTML = '<img src="x:" onerror="window.__xss=99">';
        document.body.appendChild(d); setTimeout(() => alert('control'), 0); }""")
    page.wait_for_function("window.__xss === 99")
    page.wait_for_function("() => true")  # let the dialog event reach Python
    assert dialogs == ["alert: control"]
    page.evaluate("() => { delete window.__xss; document.getElementById('xss-control').remove(); }")
    dialogs.clear()


def assert_nothing_ran(page: Any, dialogs: list[str], where: str) -> None:
    assert sentinel(page) is None, f"a payload ran ({where}): window.__xss = {sentinel(page)}"
    assert dialogs == [], f"a payload opened a dialog ({where})"
    assert page.evaluate(LIVE_MARKUP_JS) == [], where
    assert page.evaluate("window.__xssLive") == [], f"live markup at some point ({where})"
    assert exception_texts(page) == []


def test_payloads_in_answers_and_prompts_never_execute_and_stay_visible(page, dialogs, scripts):
    scripts.add({"xss": {"text": ANSWER, "chunk_chars": 7, "first_delay_s": 0.05, "gap_s": 0.01}})
    check_detectors_work(page, dialogs)
    page.evaluate(WATCH_LIVE_MARKUP_JS)
    page.evaluate("""() => { const d = document.createElement('div');  // the watcher's control
        d.dataset.testid = 'stChatMessage'; d.id = 'live-control';
        d.innerHTML = '<b onclick="1">x</b>'; document.body.appendChild(d); }""")
    page.wait_for_function("window.__xssLive.includes('b onclick')")
    page.evaluate(
        "() => { document.getElementById('live-control').remove(); window.__xssLive = []; }")
    use_scripted_model(page, "xss")
    send_prompt(page, ANSWER)  # the same payloads, typed by the user

    answer = chat_messages(page).nth(0)
    expect(answer).to_contain_text("End of the payloads.", timeout=30_000)
    wait_idle(page)
    assert_nothing_ran(page, dialogs, "streamed")

    # The finished answer is redrawn from the history (one markdown element); check again.
    expect(answer.locator("[data-testid='stCaptionContainer']").filter(has_text="TTFT")).to_have_count(1)
    wait_idle(page)
    user = chat_messages(page, "user").nth(0)
    for message, who in ((user, "prompt"), (answer, "answer")):
        text = message.inner_text()
        missing = [shown for _, shown in PAYLOADS if shown not in text]
        assert missing == [], f"payload text not shown in the {who}: {missing}"

    # Click every link a payload could have turned into a trigger, and move the focus.
    links = page.locator("[data-testid='stChatMessage'] a")
    assert links.count() >= 5  # the markdown links are rendered as (defused) links
    for link in links.all():
        link.click()
    page.keyboard.press("Tab")
    page.wait_for_timeout(300)  # give a handler, had one run, time to act: absence check
    assert_nothing_ran(page, dialogs, "after clicking the links")
    for other in page.context.pages:  # a link opened in a new tab must not run either
        assert other.evaluate("window.__xss === undefined"), other.url


class _PixelHandler(BaseHTTPRequestHandler):
    PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.PNG)))
        self.end_headers()
        self.wfile.write(self.PNG)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def pixel_server() -> Iterator[Any]:
    """A loopback HTTP server that records every path asked of it (``.paths``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PixelHandler)
    server.paths = []  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_prompt_is_shown_as_text_and_its_image_never_fetched(page, browser, app_url,
                                                                 pixel_server):
    prompt = f"![x]({pixel_server.url}/pixel.png) see [a link]({pixel_server.url}/link) **b**"
    title = chat_title(prompt)
    sidebar = page.locator("[data-testid='stSidebar']")

    # Chat: the prompt bubble, then the chat list's title, and both again after a reload.
    use_scripted_model(page, "instant")
    send_prompt(page, prompt)
    expect(chat_messages(page).nth(0)).to_contain_text("Done at once.", timeout=30_000)
    wait_idle(page)
    page.reload()
    wait_idle(page, 60_000)
    expect(chat_messages(page, "user").nth(0)).to_contain_text(prompt)
    # The list cuts a long title to one line (the whole of it in the button's tooltip).
    cut = title[:TITLE_CHARS - 1].rstrip() + "…"
    expect(sidebar.get_by_role("button", name=cut)).to_have_count(1)
    assert page.locator("[data-testid='stChatMessage'] a, [data-testid='stChatMessage'] img, "
                        "[data-testid='stSidebar'] img").count() == 0

    # Compare: the prompt bubble, and again on the comparison's own URL.
    page.get_by_role("link", name="Compare").click()
    expect(page.get_by_text("Same for every target")).to_be_visible(timeout=60_000)
    wait_idle(page, 60_000)
    target = sidebar.locator("[data-testid='stExpander']", has_text="Target 1")
    select_option(page, "Provider", "Scripted demo (offline)", target)
    send_prompt(page, prompt)
    expect(page.locator("[data-testid='stColumn']").nth(1)).to_contain_text(
        "TTFT", timeout=30_000)
    wait_idle(page)
    page.reload()
    wait_idle(page, 60_000)
    expect(chat_messages(page, "user").nth(0)).to_contain_text(prompt)
    # A second browser, as a shared link would open the chat list for another session.
    context = browser.new_context()
    other = context.new_page()
    other.goto(app_url)
    wait_idle(other, 60_000)
    context.close()

    # The control: an image the test adds is fetched, so the server is reachable from here.
    page.evaluate("url => { const i = new Image(); i.src = url; document.body.append(i); }",
                  f"{pixel_server.url}/control.png")
    page.wait_for_function("() => [...document.images].some(i => i.src.endsWith("
                           "'/control.png') && i.complete)")
    assert pixel_server.paths == ["/control.png"]
    assert exception_texts(page) == []


# Inside the report's answers and thoughts (its own <details> folds are not a payload's).
REPORT_LIVE_MARKUP_JS = LIVE_MARKUP_JS.replace('[data-testid="stChatMessage"] *',
                                               ".answer *, .thought *, pre.prompt *")


def test_payloads_in_a_report_never_execute_and_it_asks_for_nothing(browser, store, tmp_path):
    script = Script.from_text(ANSWER, 7, first_delay_s=0.0, gap_s=0.0,
                              reasoning_chunks=(ANSWER,))
    comparison = Comparisons(ComparisonStore(store)).start(
        ANSWER, [TargetSpec(ScriptedProvider(script), "xss", CHARS),
                 TargetSpec(ScriptedProvider(Script.from_text("Fine.")), "plain", CHARS)],
        SharedSettings(max_tokens=8000))
    assert comparison.wait(HANG_GUARD_S)
    report = tmp_path / "report.html"
    report.write_text(comparison_report(comparison), encoding="utf-8")

    # Its policy ignored: what the markup alone does. The detectors must see a real handler.
    offline = Offline(browser, report.as_uri(), bypass_csp=True)
    page = offline.page
    try:
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        check_detectors_work(page, offline.dialogs)
        answer = page.locator(".answers > .card").first.locator(".answer").first
        expect(answer).to_contain_text("End of the payloads.")
        text = answer.inner_text()
        assert [shown for _, shown in PAYLOADS if shown not in text] == []
        assert page.locator("pre.prompt").first.inner_text() == ANSWER  # the prompt, as text
        thought = page.locator(".thought").first
        thought.evaluate("el => el.closest('details').open = true")
        assert "End of the payloads." in thought.inner_text()
        # The table and the code fence are drawn; the \href is MathML without a link.
        assert answer.locator("table").count() == 1 and answer.locator("pre code").count() == 1
        assert answer.locator("math").count() == 1
        assert page.locator("a, img, iframe, object, embed").count() == 0
        for link in answer.locator(".link").all():  # not links: a click goes nowhere
            link.click()
        page.keyboard.press("Tab")
        page.wait_for_timeout(300)  # give a handler, had one run, time to act: absence check
        assert sentinel(page) is None and offline.dialogs == []
        assert page.evaluate(REPORT_LIVE_MARKUP_JS) == []
        assert page.url == report.as_uri() and len(offline.context.pages) == 1
    finally:
        offline.close()

    # With its policy: not one request but the file, nothing refused, nothing ran.
    offline = Offline(browser, report.as_uri())
    try:
        offline.page.goto(report.as_uri())
        offline.page.wait_for_load_state("load")
        expect(offline.page.locator(".answer").first).to_contain_text("End of the payloads.")
        offline.page.wait_for_timeout(300)
        assert sentinel(offline.page) is None and offline.dialogs == []
        assert offline.requests == [report.as_uri()]
        assert offline.blocked == [] and offline.csp == []
    finally:
        offline.close()
