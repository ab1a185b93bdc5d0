"""AppTest of the chat page, driven with the real scripted and embedded providers."""

import pytest

from chatlib.chat import ChatSession
from chatlib.conversation import ChatTurn
from chatlib.providers.scripted import DEMO_MARKDOWN

DEMO = DEMO_MARKDOWN.strip()


def answer_text(message) -> str:
    # Finished blocks are frozen in their own markdown elements (Streamlit strips the blank
    # line that ends each); joined back they are the answer.
    return "\n\n".join(m.value.strip() for m in message.markdown)


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
    assert user.markdown[0].value == "Show me markdown"
    assert answer_text(assistant) == DEMO
    assert len(assistant.markdown) >= 5  # table, code, math, list frozen as separate blocks
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


def test_stopped_answer_is_shown_marked_in_the_history(app_test):
    at = app_test()
    session = ChatSession()
    session.turns += [ChatTurn("user", "hi"), ChatTurn("assistant", "Half an ans", status="stopped")]
    at.session_state["chat"] = session
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
    assert [m.markdown[0].value for m in chat.chat_message][:1] == ["edited prompt"]
    assert len(chat.chat_message) == 2 and answer_text(chat.chat_message[1]) == DEMO
    assert list(store.runs().prompt) == ["original", "original", "edited prompt"]


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
    assert run.settings["temperature"] == 0.0 and run.settings["system_prompt"] == "Answer in French."
    assert run.input_source == "tokenizer" and run.input_tokens > 5
