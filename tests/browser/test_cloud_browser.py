"""The cloud path in headless Chromium: the app (its own process) streams from a local
server that speaks the OpenAI wire format. Stop must close that HTTP connection at once,
and a retry must be visible while it waits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from testkit.browser import chat_messages, exception_texts, select_option, send_prompt, wait_idle
from tests.wire import openai_wire as ow
from tests.wire.server import Reply, WireServer
from chatlib.store import RunFilter

pytestmark = pytest.mark.browser

STOP_BUTTON = ".st-key-stop_answer button"  # under the answer in flight
COMPATIBLE = "OpenAI-compatible server (Ollama, vLLM, …)"


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer(lambda: ow.models_body(["gpt-4o-mini"])) as srv:
        yield srv


def use_server(page: Any, url: str) -> None:
    sidebar = page.locator("[data-testid='stSidebar']")
    select_option(page, "Provider", COMPATIBLE, sidebar)
    select_option(page, "Server", "Custom base URL", sidebar)
    model = sidebar.get_by_role("combobox", name="Model")
    for attempt in range(3):
        field = sidebar.get_by_label("Base URL", exact=True)
        expect(field).to_have_count(1)
        field.fill(url)
        # Commit by leaving the field, not by Enter: with Enter the field keeps the focus,
        # and its blur when the prompt box is clicked starts a rerun that races the
        # prompt's run.
        field.blur()
        try:
            # The server's /models answered: the URL was committed and the list drawn.
            expect(model).to_have_value("gpt-4o-mini")
            break
        except AssertionError:
            # A rerun still in flight redrew the field under the fill: type it again.
            if attempt == 2:
                raise
            wait_idle(page)
    wait_idle(page)


def test_stop_closes_the_http_stream_at_once(page, server, app_store):
    server.script(Reply(events=ow.stream([f"word{i} " for i in range(400)]), gap_s=0.05))
    use_server(page, server.url + "/v1")
    prompt = "A long answer to stop (cloud)"
    send_prompt(page, prompt)
    answer = chat_messages(page).last
    expect(answer).to_contain_text("word20 ", timeout=30_000)
    clicked = time.monotonic()
    page.locator(STOP_BUTTON).click()
    assert server.disconnect.wait(10), "the provider's server never saw the connection close"
    latency = server.posts[0].disconnected_at - clicked
    # Click → websocket → script stop → pump.stop() → socket shutdown: measured 90-170 ms
    # here, printed, not asserted (a loaded machine stretches it). What is asserted: the
    # server saw the client go before it had sent the rest of its 20 s answer.
    print(f"browser Stop click -> provider server saw the disconnect: {latency * 1000:.0f} ms")
    assert server.posts[0].events_sent < 300 and not server.posts[0].finished
    expect(answer.get_by_text("Stopped: partial answer kept.")).to_be_visible(timeout=15_000)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        runs = app_store.runs(RunFilter(prompts=(prompt,)))
        if len(runs):
            break
        time.sleep(0.1)
    assert list(runs.status) == ["stopped"] and runs.provider[0] == "openai-compatible"
    assert exception_texts(page) == []


def test_a_retry_is_visible_while_it_waits_then_the_answer_arrives(page, server):
    server.script(ow.error(503, "busy", headers={"retry-after": "3"}),
                  Reply(events=ow.stream(["Here ", "it ", "is."])))
    use_server(page, server.url + "/v1")
    send_prompt(page, "Retry me (cloud)")
    answer = chat_messages(page).last
    expect(answer).to_contain_text("retrying (2/3): server error (503)", timeout=10_000)
    expect(answer).to_contain_text("Here it is.", timeout=15_000)
    expect(answer).to_contain_text("2 attempts", timeout=15_000)
    expect(answer).not_to_contain_text("retrying")  # the note goes once text arrives
    assert exception_texts(page) == []


KEY = "sk-browser-test-0123456789abcdef"


def test_a_typed_key_is_used_but_never_sent_back_to_the_browser(page, server):
    """The key travels browser → server once; no websocket frame from the server carries it,
    and the field holds nothing (it says a key is set)."""
    frames: list[bytes] = []
    page.on("websocket", lambda ws: ws.on(
        "framereceived", lambda data: frames.append(data if isinstance(data, bytes)
                                                    else data.encode())))
    page.reload()
    wait_idle(page)
    use_server(page, server.url + "/v1")
    sidebar = page.locator("[data-testid='stSidebar']")
    field = sidebar.get_by_role("textbox", name="API key (optional)")
    field.fill(KEY)
    field.press("Enter")
    expect(sidebar).to_contain_text("Key typed in this session for this base URL.",
                                    timeout=15_000)
    wait_idle(page)
    assert field.input_value() == ""
    server.script(Reply(events=ow.stream(["Keyed ", "answer."])))
    send_prompt(page, "Answer with my key")
    expect(chat_messages(page).last).to_contain_text("Keyed answer.", timeout=15_000)
    assert server.posts[-1].headers["authorization"] == f"Bearer {KEY}"
    assert frames and KEY.encode() not in b"".join(frames)
    assert exception_texts(page) == []
