"""The chat page in headless Chromium, driven as a person would: type a prompt and watch
the answer grow, stop an answer mid-way, meet a provider fault. Every answer comes from the
scripted provider, so what the page must show is known in advance."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from chatlib.providers.scripted import DEMO_MARKDOWN
from testkit.browser import (
    chat_messages,
    exception_texts,
    open_expander,
    send_prompt,
    use_scripted_model,
    wait_idle,
)
from chatlib.store import RunFilter

pytestmark = pytest.mark.browser

# The Stop button under an answer in flight (a keyed st.button: Streamlit's st-key class).
STOP_BUTTON = ".st-key-stop_answer button"

# The answer's own text in the last assistant message: its markdown elements, not the
# captions (waiting note, figures) or an error box. Also whether the script still runs.
SNAPSHOT_JS = """() => {
  const msgs = [...document.querySelectorAll('[data-testid="stChatMessage"]')]
    .filter(m => m.querySelector('[data-testid="stChatMessageAvatarAssistant"]'));
  const last = msgs[msgs.length - 1];
  const text = last ? [...last.querySelectorAll('[data-testid="stMarkdownContainer"]')]
    .filter(e => !e.closest('[data-testid="stAlert"]') && !e.closest('button'))
    .map(e => e.innerText).join('\\n') : '';
  return {text, running: !!document.querySelector("%s")};
}""" % STOP_BUTTON


def snapshot(page: Any) -> dict[str, Any]:
    return page.evaluate(SNAPSHOT_JS)


def settled_text(page: Any, check: Callable[[str], bool], timeout_s: float = 15) -> str:
    """The last answer's text once ``check`` holds (it is retried, as Playwright's own
    assertions are: the page may be between two script runs); what the page shows if not."""
    text = ""

    def holds() -> bool:
        nonlocal text
        text = snapshot(page)["text"]
        return check(text)

    eventually(holds, timeout_s)
    return text


def wait_text_longer(page: Any, than: int, timeout_ms: float = 20_000) -> dict[str, Any]:
    page.wait_for_function(f"() => ({SNAPSHOT_JS})().text.length > {than}", timeout=timeout_ms)
    return snapshot(page)


def eventually(check: Callable[[], Any], timeout_s: float = 15) -> Any:
    """Poll ``check`` until it returns something truthy (for state outside the page)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def run_for(store, prompt: str) -> dict[str, Any] | None:
    """The newest recorded run for ``prompt`` (a row of the run store), if any."""
    runs = store.runs(RunFilter(prompts=(prompt,)))
    return runs.iloc[-1].to_dict() if len(runs) else None


def expect_finished(page: Any, index: int) -> None:
    """The ``index``-th answer shows its figures line (written once the run is recorded)."""
    figures = chat_messages(page).nth(index).locator("[data-testid='stCaptionContainer']")
    expect(figures.filter(has_text="TTFT")).to_have_count(1, timeout=30_000)
    wait_idle(page)


def test_prompt_streams_an_answer_that_grows_over_time_then_completes(page, app_store):
    use_scripted_model(page, "demo-markdown")  # ~120 chunks over ~2.6 s
    prompt = "Show me what you can render (growth test)"
    send_prompt(page, prompt)
    expect(chat_messages(page, "user").last).to_contain_text(prompt)

    snapshots = [wait_text_longer(page, 0)]
    while len(snapshots) < 5:  # each one at least 20 characters further on
        snapshots.append(wait_text_longer(page, len(snapshots[-1]["text"]) + 20))
    expect_finished(page, 0)
    final = snapshot(page)

    lengths = [len(s["text"]) for s in snapshots]
    assert lengths == sorted(set(lengths)), lengths  # strictly growing
    assert all(s["running"] for s in snapshots), "snapshots must be taken mid-answer"
    assert lengths[-1] < len(final["text"]) and not final["running"]
    assert snapshots[0]["text"].startswith("Here")  # the first token(s), rendered
    for piece in ("Here is what Chat Lab renders while it streams.", "Embedded SmolLM2",
                  "def ttft(t0: float, first_chunk: float) -> float:", "Watch it stream.",
                  "Open Stats to see the numbers."):
        assert piece in final["text"]
    assert exception_texts(page) == []
    run = eventually(lambda: run_for(app_store, prompt))
    assert run is not None and run["status"] == "ok" and run["response"] == DEMO_MARKDOWN


def test_stop_mid_answer_keeps_the_partial_answer_marked_and_the_next_prompt_works(
    page, app_store, scripts
):
    full = scripts.scripts["slow-long"]["text"]
    use_scripted_model(page, "slow-long")  # ~20 s in all
    prompt = "Tell me a long story (stop test)"
    send_prompt(page, prompt)
    wait_text_longer(page, 60)
    page.locator(STOP_BUTTON).click()

    stopped = chat_messages(page).nth(0)
    expect(stopped).to_contain_text("Stopped: partial answer kept.", timeout=15_000)
    wait_idle(page)
    run = eventually(lambda: run_for(app_store, prompt))
    assert run is not None and run["status"] == "stopped"
    partial = snapshot(page)["text"]
    assert 60 <= len(partial) < len(full) / 2  # stopped well before the end
    assert full.startswith(partial.strip()) and run["response"].strip() == partial.strip()

    use_scripted_model(page, "demo-fast")
    send_prompt(page, "And now a whole answer, please")
    expect_finished(page, 1)
    assert "Open Stats to see the numbers." in settled_text(
        page, lambda t: "Open Stats to see the numbers." in t)
    expect(stopped).to_contain_text("Stopped: partial answer kept.")  # still in the history
    expect(stopped).to_contain_text(partial.strip()[:40])
    assert exception_texts(page) == []


def test_regenerate_and_edit_stream_a_new_answer_in_place(page, app_store):
    """Regenerate and Edit start the new answer from their button's callback: it streams
    (Stop shown) where the old one was, and the chat keeps one prompt and one answer."""
    use_scripted_model(page, "demo-markdown")  # ~2.6 s an answer
    send_prompt(page, "First version (regenerate test)")
    expect_finished(page, 0)
    page.get_by_role("button", name="Regenerate").click()
    expect(page.locator(STOP_BUTTON)).to_have_count(1, timeout=15_000)  # streaming again
    expect_finished(page, 0)
    expect(chat_messages(page)).to_have_count(1)
    expect(chat_messages(page, "user")).to_have_count(1)

    page.get_by_role("button", name="Edit prompt").click()
    box = page.get_by_label("Edit your last prompt")
    expect(box).to_have_value("First version (regenerate test)")
    box.fill("Second version (edit test)")
    page.get_by_role("button", name="Send edited prompt").click()
    expect(chat_messages(page, "user")).to_have_count(1)
    expect(chat_messages(page, "user").first).to_contain_text("Second version (edit test)")
    expect_finished(page, 0)
    assert "Open Stats to see the numbers." in settled_text(
        page, lambda t: "Open Stats to see the numbers." in t)
    assert exception_texts(page) == []
    assert eventually(lambda: run_for(app_store, "Second version (edit test)"))["status"] == "ok"
    assert len(app_store.runs(RunFilter(prompts=("First version (regenerate test)",)))) == 2


def test_provider_fault_is_a_clear_message_in_the_chat_and_no_traceback(page, app_store, scripts):
    scripts.add({"fault-first": {"text": "never shown", "fault_at": 0,
                                 "fault_message": "The provider is down (scripted fault)."}})
    use_scripted_model(page, "demo-fault")  # fails after 40 chunks
    send_prompt(page, "This answer breaks mid-way (fault test)")
    failed = chat_messages(page).nth(0)
    expect(failed.locator("[data-testid='stAlert']")).to_have_text(
        "⚠️The scripted provider failed on purpose.", timeout=20_000)
    wait_idle(page)
    assert settled_text(page, lambda t: t.startswith("Here is what")).startswith(
        "Here is what")  # the partial answer is kept

    use_scripted_model(page, "fault-first")  # fails before any text
    send_prompt(page, "This one fails at once (fault test)")
    expect(chat_messages(page).nth(1).locator("[data-testid='stAlert']")).to_contain_text(
        "The provider is down (scripted fault).", timeout=20_000)
    wait_idle(page)

    body = page.locator("body").inner_text()
    assert exception_texts(page) == [] and "Traceback" not in body and "File \"" not in body
    runs = [eventually(lambda p=p: run_for(app_store, p)) for p in (
        "This answer breaks mid-way (fault test)", "This one fails at once (fault test)")]
    assert [r and r["status"] for r in runs] == ["error", "error"]
    assert runs[1]["error"] == "The provider is down (scripted fault)."
    assert runs[1]["response"] == ""

    use_scripted_model(page, "instant")
    send_prompt(page, "Still there?")
    expect_finished(page, 2)
    assert settled_text(page, lambda t: t == "Done at once.") == "Done at once."


def test_a_lone_surrogate_in_the_prompt_is_answered_and_the_chat_box_comes_back(page):
    """A lone surrogate (set as the textarea's value, as a paste of half an emoji does) must
    not lock the chat box in its Stop state: the server used to drop the whole message."""
    use_scripted_model(page, "instant")
    box = page.locator("[data-testid='stChatInputTextArea']")
    box.evaluate("""(el) => {
        const set = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value').set;
        set.call(el, 'half \\ud800 an emoji');
        el.dispatchEvent(new Event('input', {bubbles: true}));
    }""")
    assert box.evaluate("el => el.value.charCodeAt(5)") == 0xD800
    box.press("Enter")
    expect_finished(page, 0)
    expect(chat_messages(page, "user").last).to_contain_text("half \ufffd an emoji")
    expect(page.locator(STOP_BUTTON)).to_have_count(0)
    assert exception_texts(page) == []
    send_prompt(page, "And the next prompt?")
    expect_finished(page, 1)


def test_a_whitespace_prompt_is_refused_with_a_message(page, app_store):
    use_scripted_model(page, "instant")
    send_prompt(page, "   ")
    expect(page.get_by_text("Nothing to send: the prompt is empty")).to_be_visible(
        timeout=15_000)
    wait_idle(page)
    assert chat_messages(page, "user").count() == 0
    expect(page.locator(STOP_BUTTON)).to_have_count(0)


def test_a_long_chat_draws_its_last_turns_and_keeps_the_rest_reachable(page, app_url, app_store):
    """A 60-turn chat: the page draws the last 10; "Show earlier turns" brings the rest
    back, and the Markdown export holds every turn."""
    from chatlib.core.conversation import Chat, ChatTurn
    from chatlib.store import ChatStore

    turns = [ChatTurn("user" if i % 2 == 0 else "assistant", f"long chat turn {i:02d}")
             for i in range(60)]
    ChatStore(app_store).create(Chat("long-chat-browser", "A long chat", turns))
    page.goto(f"{app_url}/?chat=long-chat-browser")
    wait_idle(page, 60_000)
    messages = page.locator("[data-testid='stChatMessage']")
    expect(messages).to_have_count(10)
    expect(messages.first).to_contain_text("long chat turn 50")
    with page.expect_download() as download:
        page.locator("[data-testid='stSidebar']").get_by_role(
            "button", name="Export Markdown").click()
    exported = download.value.path().read_text()
    assert all(f"long chat turn {i:02d}" in exported for i in range(60))
    for shown in (20, 30, 40, 50, 60):
        page.get_by_role("button", name=re.compile("Show earlier turns")).click()
        expect(messages).to_have_count(shown)
    expect(messages.first).to_contain_text("long chat turn 00")
    expect(page.get_by_role("button", name=re.compile("Show earlier turns"))).to_have_count(0)
    assert exception_texts(page) == []


def test_the_sidebar_lists_chats_one_line_each_above_the_settings_and_folds_the_rest(
        page, app_url, app_store):
    """New chat and the chats first, one line each with its date; then provider and model;
    the engineering settings folded under Advanced; for the embedded model, no paid limit."""
    import os
    from pathlib import Path

    from chatlib.core.conversation import Chat, ChatTurn
    from chatlib.store import ChatStore

    chats = ChatStore(app_store)
    # Wide letters: the longest a cut title takes.
    titles = ["WHAT MAKES A MANDARIN TONE CONTOUR HARD TO HEAR?", "Short one"]
    for i, title in enumerate(titles):
        chats.create(Chat(f"sidebar-chat-{i}", title,
                          [ChatTurn("user", title), ChatTurn("assistant", "An answer.")]))
    page.goto(f"{app_url}/?chat=sidebar-chat-1")
    wait_idle(page, 60_000)
    sidebar = page.locator("[data-testid='stSidebar']")
    new_chat = sidebar.get_by_role("button", name="New chat")
    listed = [sidebar.get_by_role("button", name=re.compile(re.escape(t[:15])))
              for t in titles]
    provider = sidebar.get_by_role("combobox", name="Provider")
    for button in listed:
        expect(button).to_contain_text(re.compile(r" ?today \d\d:\d\d$"))
    expect(provider).to_be_visible()
    artifacts = Path(os.environ.get("CHATLAB_ARTIFACTS", "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifacts / "chat-sidebar-1280x900.png"))
    for button in listed:
        # One line: no taller than New chat, and above the provider.
        assert button.bounding_box()["height"] <= new_chat.bounding_box()["height"] + 1
        assert button.bounding_box()["y"] < provider.bounding_box()["y"]
    assert new_chat.bounding_box()["y"] < listed[0].bounding_box()["y"]
    assert provider.bounding_box()["y"] < sidebar.get_by_role(
        "combobox", name="Model").bounding_box()["y"]
    # The engineering settings are folded away, and the embedded model is never paid for.
    expect(sidebar.get_by_label("GGUF model file", exact=True)).to_be_hidden()
    expect(sidebar.get_by_label("Token budget for the context sent", exact=True)).to_be_hidden()
    expect(sidebar.get_by_text("Paid requests per minute")).to_have_count(0)
    advanced = open_expander(page, "Advanced")
    expect(advanced.get_by_label("GGUF model file", exact=True)).to_be_visible()
    expect(advanced.get_by_label("Token budget for the context sent", exact=True)).to_be_visible()
    assert exception_texts(page) == []
