"""AppTest of the chat page, driven with the real scripted and embedded providers."""

import json

import pytest

from chatlib.core.conversation import Chat, ChatTurn, to_messages
from chatlib.providers.scripted import DEMO_MARKDOWN, SCRIPTS_ENV
from chatlib.store import ChatStore, RunFilter
from ui.chats import TITLE_CHARS, chat_date
from ui.first_screen import EXAMPLE_PROMPTS
from ui.plain_text import plain_label

DEMO = DEMO_MARKDOWN.strip()


def answer_text(message) -> str:
    # Finished blocks are frozen in their own markdown elements (Streamlit strips the blank
    # line that ends each); joined back they are the answer.
    return "\n\n".join(m.value.strip() for m in message.markdown)


@pytest.fixture
def scripts_env(tmp_path, monkeypatch):
    """Offer extra scripted models to the app (``$CHATLAB_SCRIPTS``)."""
    def use(scripts: dict) -> None:
        path = tmp_path / "scripts.json"
        path.write_text(json.dumps(scripts))
        monkeypatch.setenv(SCRIPTS_ENV, str(path))
    return use


@pytest.fixture
def chat(app_test):
    at = app_test().run()
    assert not at.exception
    at.sidebar.selectbox(key="provider").set_value("scripted").run()
    at.sidebar.selectbox(key="model").set_value("demo-fast").run()
    return at


def test_prompt_streams_a_markdown_answer_and_records_the_run(chat, store):
    chat.chat_input[0].set_value("Show me markdown").run()
    assert not chat.exception
    user, assistant = chat.chat_message
    assert user.text[0].value == "Show me markdown"  # a prompt is plain text
    assert answer_text(assistant) == DEMO
    assert "TTFT" in assistant.caption[0].value and "(usage)" in assistant.caption[0].value
    runs = store.runs()
    assert list(runs.status) == ["ok"] and runs.response[0] == DEMO_MARKDOWN
    assert runs.page[0] == "chat" and runs.prompt[0] == "Show me markdown"


def test_provider_fault_is_shown_in_the_chat_and_the_next_prompt_works(chat, store):
    chat.sidebar.selectbox(key="model").set_value("demo-fault").run()
    chat.chat_input[0].set_value("first").run()
    assert not chat.exception
    failed = chat.chat_message[1]
    assert failed.error[0].value == "The scripted provider failed on purpose."
    assert DEMO.startswith(answer_text(failed)) and answer_text(failed)  # partial kept
    chat.sidebar.selectbox(key="model").set_value("demo-fast").run()
    chat.chat_input[0].set_value("second").run()
    assert len(chat.chat_message) == 4 and answer_text(chat.chat_message[3]) == DEMO
    assert chat.chat_message[1].error[0].value  # the failed turn is still in the history
    assert list(store.runs().status) == ["error", "ok"]


def test_budget_too_small_is_a_clear_message_and_the_chat_survives(chat, store):
    chat.sidebar.number_input(key="budget").set_value(64).run()
    chat.chat_input[0].set_value("word " * 200).run()
    assert not chat.exception
    assert "token budget is 64" in chat.chat_message[1].error[0].value
    assert store.count() == 0  # nothing was sent
    chat.sidebar.number_input(key="budget").set_value(4096).run()
    chat.chat_input[0].set_value("short").run()
    assert answer_text(chat.chat_message[-1]) == DEMO


def test_budget_trims_old_turns_and_the_sidebar_says_so(chat):
    chat.chat_input[0].set_value("one").run()
    chat.sidebar.number_input(key="budget").set_value(150).run()
    chat.chat_input[0].set_value("two").run()
    summary = chat.sidebar.caption[-1].value
    assert summary.startswith("Context sent: 1 of 3 messages") and "of budget 150" in summary
    assert "estimate (tiktoken o200k_base)" in summary  # no local tokenizer for scripted


def test_stopped_answer_is_shown_marked_in_the_history(app_test, store):
    at = app_test()
    ChatStore(store).create(Chat("c1", "hi", [ChatTurn("user", "hi"),
                                              ChatTurn("assistant", "Half an ans",
                                                       status="stopped")]))
    at.query_params["chat"] = "c1"
    at.run()
    assert at.chat_message[1].markdown[0].value == "Half an ans"
    assert "Stopped" in at.chat_message[1].caption[0].value


def test_regenerate_and_edit_replace_the_answer_and_keep_every_run(chat, store):
    chat.chat_input[0].set_value("original").run()
    regenerate = next(b for b in chat.button if b.label == "Regenerate")
    regenerate.click().run()
    assert not chat.exception
    assert [m.name for m in chat.chat_message] == ["user", "assistant"]
    next(b for b in chat.button if b.label == "Edit prompt").click().run()
    chat.text_area(key="edit_text").set_value("edited prompt")
    next(b for b in chat.button if b.label == "Send edited prompt").click().run()
    assert not chat.exception
    assert [m.text[0].value for m in chat.chat_message if m.name == "user"] == ["edited prompt"]
    assert len(chat.chat_message) == 2 and answer_text(chat.chat_message[1]) == DEMO
    assert list(store.runs().prompt) == ["original", "original", "edited prompt"]


def test_an_empty_edited_prompt_is_refused_and_the_form_stays(chat, store):
    chat.chat_input[0].set_value("original").run()
    next(b for b in chat.button if b.label == "Edit prompt").click().run()
    chat.text_area(key="edit_text").set_value("   ")
    next(b for b in chat.button if b.label == "Send edited prompt").click().run()
    assert not chat.exception
    assert chat.warning[0].value.startswith("Nothing to send")
    assert chat.text_area(key="edit_text")  # still editing
    assert list(store.runs().prompt) == ["original"]  # nothing sent
    next(b for b in chat.button if b.label == "Cancel").click().run()
    assert not [b for b in chat.button if b.label == "Send edited prompt"]
    assert [m.text[0].value for m in chat.chat_message if m.name == "user"] == ["original"]


@pytest.mark.model
def test_sidebar_settings_reach_the_embedded_model(app_test, store):
    at = app_test().run()
    at.sidebar.number_input(key="max_tokens").set_value(5).run()
    at.sidebar.slider(key="temperature").set_value(0.0).run()
    at.sidebar.text_area(key="system_prompt").set_value("Answer in French.").run()
    at.chat_input[0].set_value("Write a long story about a dragon.").run()
    assert not at.exception
    assert answer_text(at.chat_message[1])
    run = store.get(store.runs().id[0])
    assert run.provider == "local" and run.status == "ok"
    assert run.output_tokens <= 5 and run.output_source == "tokenizer"
    assert run.finish_reason == "length"
    assert run.settings["temperature"] == 0.0
    assert run.settings["system_prompt"] == "Answer in French."
    assert run.input_source == "tokenizer" and run.input_tokens > 5


# -- bad input: a clear message, the chat intact, the next prompt works ------------------------
def test_a_whitespace_prompt_is_refused_and_nothing_is_sent(chat, store):
    chat.chat_input[0].set_value("   \n\t ").run()
    assert not chat.exception
    assert chat.chat_message.len == 0 and store.count() == 0
    assert chat.warning[0].value.startswith("Nothing to send: the prompt is empty")
    chat.chat_input[0].set_value("real question").run()
    assert answer_text(chat.chat_message[1]) == DEMO


def test_a_lone_surrogate_in_the_models_output_is_shown_as_valid_text(chat, scripts_env, store):
    """JSON's "\\ud800" escape decodes to a lone surrogate, as a model server's may; the page
    could not send it to the browser. (A lone surrogate typed in the browser: the browser
    test, since AppTest cannot even put one in a widget's state.)"""
    scripts_env({"broken-unicode": {"chunks": ["fine ", "\ud800", " end"]}})
    chat.run()
    chat.sidebar.selectbox(key="model").set_value("broken-unicode").run()
    chat.chat_input[0].set_value("hi").run()
    assert not chat.exception
    assert answer_text(chat.chat_message[1]) == "fine \ufffd end"
    assert store.get(store.runs().id[0]).text == "fine \ufffd end"
    chat.chat_input[0].set_value("next").run()
    assert not chat.exception and answer_text(chat.chat_message[3]) == "fine \ufffd end"


def test_out_of_range_numbers_say_which_value_is_used(chat, store):
    chat.sidebar.number_input(key="budget").set_value(10).run()
    chat.sidebar.number_input(key="max_tokens").set_value(0).run()
    assert not chat.exception
    warnings = [w.value for w in chat.sidebar.warning]
    assert "Token budget for the context sent: 10 is out of range (64 to 1,000,000); using 64." \
        in warnings
    assert "Max output tokens: 0 is out of range (1 to 32,000); using 1." in warnings
    chat.chat_input[0].set_value("hi").run()
    assert not chat.exception
    run = store.get(store.runs().id[0])
    assert run.settings["max_tokens"] == 1
    assert "of budget 64" in chat.sidebar.caption[-1].value


def test_a_failure_before_any_text_says_there_was_no_output(chat, scripts_env):
    scripts_env({"fails-at-once": {"text": "never shown", "fault_at": 0,
                                   "fault_message": "Refused at once."}})
    chat.run()  # the model list now offers it
    chat.sidebar.selectbox(key="model").set_value("fails-at-once").run()
    chat.chat_input[0].set_value("hi").run()
    assert not chat.exception
    footer = chat.chat_message[1].caption[0].value
    assert "no output" in footer and "0 tokens" not in footer


def test_an_empty_model_path_says_what_to_enter(app_test):
    at = app_test().run()
    at.sidebar.text_input(key="gguf_path").set_value("").run()
    assert not at.exception
    at.chat_input[0].set_value("hi").run()
    assert not at.exception
    error = at.chat_message[1].error[0].value
    assert error.startswith("No model file given: enter the path of a .gguf file")


# -- stored chats: the URL, the list, settings kept per chat ------------------------------------
def test_a_chat_is_stored_named_by_the_url_and_reopened_with_its_settings(chat, store,
                                                                         app_test):
    chat.sidebar.slider(key="temperature").set_value(0.3).run()
    chat.chat_input[0].set_value("Rivers of Europe, briefly").run()
    first_id = chat.query_params["chat"]
    stored = ChatStore(store).get(first_id)
    assert stored.title == "Rivers of Europe, briefly" and len(stored.turns) == 2
    assert stored.settings["temperature"] == 0.3 and stored.settings["model"] == "demo-fast"
    assert not any("key" in k for k in stored.settings)

    chat.sidebar.button[0].click().run()  # New chat
    assert chat.chat_message.len == 0 and "chat" not in chat.query_params
    chat.sidebar.slider(key="temperature").set_value(1.5).run()
    chat.sidebar.selectbox(key="model").set_value("demo-markdown").run()
    chat.chat_input[0].set_value("Cats").run()
    assert chat.query_params["chat"] != first_id

    chat.sidebar.text_input(key="chat_search").set_value("europe").run()
    opens = [b for b in chat.sidebar.button if b.key and b.key.startswith("open_")]
    # One line: the title cut to fit, and when the chat was last used.
    (summary,) = ChatStore(store).summaries("europe")
    assert [b.label for b in opens] == [
        plain_label("Rivers of Europe, b…") + f" :small[:gray[{chat_date(summary.updated_at)}]]"]
    assert chat_date(summary.updated_at).startswith("today ")
    assert opens[0].help == plain_label("Rivers of Europe, briefly")  # the whole title
    assert TITLE_CHARS == 20
    opens[0].click().run()
    assert not chat.exception
    assert chat.query_params["chat"] == first_id
    assert chat.chat_message[0].text[0].value == "Rivers of Europe, briefly"
    assert chat.sidebar.slider(key="temperature").value == 0.3  # its settings are back
    assert chat.sidebar.selectbox(key="model").value == "demo-fast"

    # A reload, or another tab: a new session on the same URL shows the same chat.
    other = app_test()
    other.query_params["chat"] = first_id
    other.run()
    assert [m.name for m in other.chat_message] == ["user", "assistant"]
    assert answer_text(other.chat_message[1]) == DEMO


def test_a_chat_opened_from_the_list_brings_its_settings_back_without_a_warning(
        app_test, store, monkeypatch):
    """Issue 25: opening a chat from the list logged Streamlit's warning about a widget
    created with a default value and also set via session state."""
    import logging

    from streamlit.elements.lib import policies

    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("streamlit.elements.lib.policies")
    logger.addHandler(handler)
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)  # said once a process
    try:
        ChatStore(store).create(Chat("c1", "An old chat", [ChatTurn("user", "hi"),
                                                          ChatTurn("assistant", "hello")],
                                     {"provider": "scripted", "model": "demo-thinking",
                                      "system_prompt": "Be terse.", "budget": 1024,
                                      "max_tokens": 128, "temperature": 0.3}))
        at = app_test().run()
        next(b for b in at.sidebar.button if b.key == "open_c1").click().run()
        assert not at.exception
        at.run()  # and on the next run too
    finally:
        logger.removeHandler(handler)
    assert not [m for m in logged if "created with a default value" in m]
    assert at.chat_message[1].markdown[0].value == "hello"
    assert at.sidebar.slider(key="temperature").value == 0.3
    assert at.sidebar.selectbox(key="model").value == "demo-thinking"
    assert at.sidebar.text_area(key="system_prompt").value == "Be terse."
    assert at.sidebar.number_input(key="budget").value == 1024
    assert at.sidebar.number_input(key="max_tokens").value == 128


def test_a_listed_chat_says_when_it_was_last_used_in_a_few_characters():
    import time

    def at(*ymdhm: int) -> float:
        return time.mktime((*ymdhm, 0, 0, 0, -1))

    now = at(2026, 12, 7, 14, 2)
    assert chat_date(at(2026, 12, 7, 0, 1), now) == "today 00:01"
    assert chat_date(now, now) == "today 14:02"
    assert chat_date(at(2026, 12, 6, 23, 59), now) == "yesterday"
    assert chat_date(at(2026, 12, 3, 9, 0), now) == "3 Dec"
    assert chat_date(at(2026, 1, 1, 9, 0), now) == "1 Jan"
    assert chat_date(at(2025, 12, 31, 9, 0), at(2026, 1, 1, 8, 0)) == "yesterday"
    assert chat_date(at(2025, 12, 3, 9, 0), now) == "3 Dec 2025"


def test_a_chat_is_renamed_and_deleted_after_a_confirmation(chat, store):
    chat.chat_input[0].set_value("Temporary").run()
    chat_id = chat.query_params["chat"]
    chat.sidebar.text_input(key=f"title_{chat_id}").set_value("Renamed chat").run()
    assert ChatStore(store).get(chat_id).title == "Renamed chat"
    chat.sidebar.button(key="delete_chat").click().run()
    assert "Delete this chat and its turns?" in chat.sidebar.warning[0].value
    assert ChatStore(store).get(chat_id) is not None  # not yet
    chat.sidebar.button(key="delete_yes").click().run()
    assert not chat.exception
    assert ChatStore(store).get(chat_id) is None and chat.chat_message.len == 0
    assert store.count() == 1  # its run stays on the Stats page


def test_thinking_shows_in_its_own_block_and_never_in_the_answer_or_the_next_request(
        chat, store, scripts_env):
    scripts_env({"thinker": {"reasoning": "Weigh it up first.", "text": "The answer.",
                             "chunk_chars": 3},
                 "overthinker": {"reasoning": "and on and on", "text": "", "chunk_chars": 3,
                                 "finish_reason": "length"}})
    chat.run()
    chat.sidebar.selectbox(key="model").set_value("thinker").run()
    chat.chat_input[0].set_value("think first").run()
    assert not chat.exception
    answer = chat.chat_message[1]
    (block,) = answer.status  # collapsible, with a state icon
    assert block.label.startswith("Thought for ") and block.label.endswith(" s")
    assert block.state == "complete"
    assert block.markdown[0].value == "Weigh it up first."
    assert [m.value for m in answer.markdown if m.value != "Weigh it up first."] == [
        "The answer."]
    assert "first answer token" in answer.caption[0].value
    stored = ChatStore(store).get(chat.query_params["chat"])
    (turn,) = [t for t in stored.turns if t.role == "assistant"]
    assert (turn.content, turn.reasoning) == ("The answer.", "Weigh it up first.")
    # The next prompt's history carries the visible answer only.
    assert [m.content for m in to_messages(stored.turns)] == ["think first", "The answer."]
    # A run that only thought is a failure with a clear message, not an empty ok answer.
    chat.sidebar.selectbox(key="model").set_value("overthinker").run()
    chat.chat_input[0].set_value("too long").run()
    failed = chat.chat_message[-1]
    assert "thinking and gave no answer" in failed.error[0].value
    assert store.runs(RunFilter(prompts=("too long",))).status.tolist() == ["error"]


def test_a_long_chat_draws_its_last_turns_and_the_earlier_ones_on_request(app_test, store):
    turns = [ChatTurn("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(45)]
    ChatStore(store).create(Chat("long", "A long chat", turns))
    at = app_test()
    at.query_params["chat"] = "long"
    at.run()
    assert not at.exception

    def drawn() -> list[str]:
        return [(m.text or m.markdown)[0].value for m in at.chat_message]  # prompt: text

    assert drawn() == [f"turn {i}" for i in range(35, 45)]  # the last 10 (WINDOW)
    (more,) = [b for b in at.button if b.key == "show_earlier"]
    assert "35 not shown" in more.label
    for first in (25, 15, 5, 0):  # 10 more a click
        [b for b in at.button if b.key == "show_earlier"][0].click().run()
        assert drawn() == [f"turn {i}" for i in range(first, 45)]
    assert not [b for b in at.button if b.key == "show_earlier"]  # nothing left to show


def test_app_py_under_apptest_draws_the_app_not_an_empty_page(app_test, store):
    # app.py is the st.App that `streamlit run` serves; the usual AppTest.from_file("app.py")
    # must still test the pages.
    at = app_test("app.py").run()
    assert not at.exception and len(at.chat_input) == 1
    at.sidebar.selectbox(key="provider").set_value("scripted").run()
    at.sidebar.selectbox(key="model").set_value("demo-fast").run()
    at.chat_input[0].set_value("asked through app.py").run()
    assert not at.exception and answer_text(at.chat_message[1]) == DEMO
    assert list(store.runs().prompt) == ["asked through app.py"]


def test_an_empty_chat_says_which_model_answers_and_offers_prompts_that_send(chat, store):
    # What it is and who answers (the sidebar's choice), then three prompts to try.
    assert any("Answering:" in m.value and "Scripted demo" in m.value and "demo-fast" in m.value
               and "no key needed" in m.value for m in chat.markdown)
    examples = [b for b in chat.button if b.label in EXAMPLE_PROMPTS]
    assert len(examples) == 3 and not any(b.disabled for b in examples)
    examples[1].click().run()
    assert not chat.exception
    user, assistant = chat.chat_message
    assert user.text[0].value == EXAMPLE_PROMPTS[1]
    assert answer_text(assistant) == DEMO
    assert list(store.runs().prompt) == [EXAMPLE_PROMPTS[1]]
    # Once the chat has turns, the first screen is gone.
    assert not [b for b in chat.button if b.label in EXAMPLE_PROMPTS]
    assert not any("Answering:" in m.value for m in chat.markdown)


def test_an_answer_cut_at_max_output_tokens_says_so_under_it(chat, scripts_env, store):
    scripts_env({"hits-the-limit": {"text": "This answer stops in the mid", "chunk_chars": 5,
                                    "finish_reason": "length"},
                 "ends-well": {"text": "A whole answer.", "finish_reason": "stop"}})
    chat.run()
    chat.sidebar.selectbox(key="model").set_value("hits-the-limit").run()
    chat.chat_input[0].set_value("Go on").run()
    assert not chat.exception
    footer = chat.chat_message[1].caption[0].value
    assert "cut at Max output tokens (256)" in footer
    chat.sidebar.selectbox(key="model").set_value("ends-well").run()
    chat.chat_input[0].set_value("Again").run()
    assert "cut at" not in chat.chat_message[3].caption[0].value


# -- the sidebar: the essentials first, the engineering folded ----------------------------------
def sidebar_outline(node) -> list:
    """The sidebar top to bottom: each widget by key (a button, by label; a chat's button as
    "open_"), each expander as (label, expanded, what is inside); captions and other text
    left out."""
    outline: list = []
    for index in sorted(node.children):
        child = node.children[index]
        if child.type == "expander":
            outline.append((child.label, child.proto.expanded, sidebar_outline(child)))
        elif getattr(child, "children", None) is not None:  # a plain container
            outline += sidebar_outline(child)
        elif child.type in ("button", "download_button"):
            key = getattr(child, "key", None) or ""
            outline.append("open_" if key.startswith("open_") else child.label)
        elif getattr(child, "key", None):
            outline.append(child.key)
    return outline


def test_the_sidebar_leads_with_new_chat_the_chats_then_provider_and_model(app_test):
    at = app_test().run()  # the embedded model, as a first visit finds it
    assert not at.exception
    advanced = ("Advanced", False, ["system_prompt", "budget", "gguf_path", "repeat_penalty"])
    assert sidebar_outline(at.sidebar) == [
        "New chat", "chat_search",
        "provider", "model", "temperature", "max_tokens",
        advanced,
        "Export Markdown", "Export JSON",
    ]
    # An offline model is never limited: no paid-request setting at all.
    assert "Paid requests" not in page_text(at.sidebar)

    at.sidebar.selectbox(key="provider").set_value("scripted").run()
    at.sidebar.selectbox(key="model").set_value("demo-fast").run()
    at.chat_input[0].set_value("Rivers of Europe").run()
    outline = sidebar_outline(at.sidebar)
    # The stored chat is listed under New chat, before the settings; still nothing paid.
    assert outline[:5] == ["New chat", "chat_search", "open_",
                           ("This chat", False, ["title_" + at.query_params["chat"],
                                                 "Delete this chat"]), "provider"]
    assert outline[5:8] == ["model", "temperature", "max_tokens"]
    assert outline[8] == ("Advanced", False, ["system_prompt", "budget"])
    assert "Paid requests" not in page_text(at.sidebar)
    # What the last prompt sent is a detail of the budget: under Advanced too.
    (folded,) = [e for e in at.sidebar.expander if e.label == "Advanced"]
    assert folded.caption[-1].value.startswith("Context sent: ")


def test_a_paid_provider_adds_the_paid_request_limit_under_advanced(app_test, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sidebar-0123456789abcdef")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)  # OpenAI's own, paid API
    at = app_test().run()
    at.sidebar.selectbox(key="provider").set_value("openai").run()
    assert not at.exception
    (folded,) = [e for e in at.sidebar.expander if e.label == "Advanced"]
    inside = sidebar_outline(folded)
    assert inside == ["system_prompt", "budget", "read_timeout", "paid_rpm"]
    assert folded.number_input(key="paid_rpm").label.startswith("Paid requests per minute")
    outline = sidebar_outline(at.sidebar)
    assert outline.index("provider") < outline.index("model_openai") < outline.index(
        ("Advanced", False, inside))


def page_text(node) -> str:
    """Every label and text in ``node`` (widgets' labels, markdown, captions)."""
    parts = []
    for index in sorted(getattr(node, "children", {}) or {}):
        child = node.children[index]
        for attr in ("label", "value", "body"):
            value = getattr(child, attr, None)
            if isinstance(value, str):
                parts.append(value)
        parts.append(page_text(child))
    return "\n".join(p for p in parts if p)
