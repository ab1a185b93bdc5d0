"""A user's prompt and a chat's title are drawn as text, on every page that shows them: no
Markdown element (so no image is fetched and no link is made), the text as typed. The
browser check of the same (no request reaches the image's server) is
tests/browser/test_xss_browser.py."""

from __future__ import annotations

import re

import pytest

from chatlib.core.conversation import chat_title
from chatlib.store import ChatStore
from ui.chats import TITLE_CHARS, chat_date
from ui.plain_text import plain_label

PROMPT = ("![pixel](http://127.0.0.1:9/pixel.png) [a link](http://127.0.0.1:9/) **bold** "
          "<b>html</b> www.example.com :red[red] $x^2$\n  indented line")


def unescape(label: str) -> str:
    return re.sub(r"\\(.)", r"\1", label)


@pytest.mark.parametrize("text", [PROMPT, "Rivers of Europe, briefly", "a\\b `c` _d_ ~e~"])
def test_a_plain_label_shows_the_text_literally(text):
    label = plain_label(text)
    assert unescape(label) == " ".join(text.split())  # one line, nothing lost
    # Every Markdown character is escaped: no image, link, emphasis or autolink can start.
    assert not re.search(r"(?<!\\)[!\[\]()*_`<>:.~$\\]", re.sub(r"\\.", "", label))


def test_the_chat_page_draws_the_prompt_and_its_title_as_text(app_test, store):
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("scripted").run()
    at.sidebar.selectbox(key="model").set_value("demo-fast").run()
    at.chat_input[0].set_value(PROMPT).run()
    assert not at.exception
    user = at.chat_message[0]
    assert user.name == "user" and [t.value for t in user.text] == [PROMPT]
    assert len(user.markdown) == 0
    again = app_test()  # a reload: the chat drawn from the store
    again.query_params["chat"] = at.query_params["chat"]
    again.run()
    assert [t.value for t in again.chat_message[0].text] == [PROMPT]
    opens = [b for b in again.sidebar.button if b.key and b.key.startswith("open_")]
    # One line: the title cut to fit (all of it in the tooltip), then the date.
    (summary,) = ChatStore(store).summaries()
    cut = chat_title(PROMPT)[:TITLE_CHARS - 1].rstrip() + "…"
    date = f":small[:gray[{chat_date(summary.updated_at)}]]"
    assert [b.label for b in opens] == [f"▶ {plain_label(cut)} {date}"]
    assert unescape(plain_label(cut)) == cut  # the title's part is escaped, all of it kept
    assert [b.help for b in opens] == [plain_label(chat_title(PROMPT))]


def test_the_compare_page_draws_each_prompt_as_text(app_test, store):
    at = app_test()
    at.switch_page("app_pages/compare.py").run()
    at.sidebar.selectbox(key="t0_provider").set_value("scripted").run()
    at.chat_input[0].set_value(PROMPT).run()
    at.chat_input[0].set_value("**second** turn").run()
    assert not at.exception
    users = [m for m in at.chat_message if m.name == "user"]
    assert [[t.value for t in m.text] for m in users] == [[PROMPT], ["**second** turn"]]
    assert all(len(m.markdown) == 0 for m in users)


def test_a_typed_model_id_in_a_header_shows_literally():
    # Compare's column headers and the prompt-set line are Markdown around a model id that
    # can be typed ("Other model id"): an image or link in it must not fetch or link.
    from ui.plain_text import markdown_literal

    shown = markdown_literal("A · Ollama · ![x](http://127.0.0.1:9/p.png) [y](http://e.test)")
    assert "![" not in shown and "](" not in shown and "http:" not in shown
    assert markdown_literal("A · OpenAI · gpt-4o-mini") == "A · OpenAI · gpt-4o-mini"
