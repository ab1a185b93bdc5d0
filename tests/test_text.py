"""Text from outside made safe (lone surrogates), and server messages worded for a person."""

from __future__ import annotations

from chatlib.core.errors import ProviderError
from chatlib.providers.http_stream import format_wait, in_sentence, status_failure
from chatlib.streaming.pump import StreamPump
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.core.text import clean_text, count_of, one_line
from chatlib.core.types import Message, Settings

HTML_PAGE = """<!DOCTYPE html><html><head><title>502 Bad Gateway</title>
<style>body { color: red }</style></head><body><center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center></body></html>"""


def test_lone_surrogates_become_replacement_characters_and_pairs_their_character():
    assert clean_text("ok \ud800 end") == "ok \ufffd end"
    assert clean_text("\udfff") == "\ufffd"
    assert clean_text("pair \ud83d\ude00") == "pair 😀"  # as JSON's "\ud83d\ude00" decodes
    assert clean_text("plain ✓ text") == "plain ✓ text"
    for text in ("ok \ud800 end", "\ud83d", "a\udc00b\ud800"):
        clean_text(text).encode("utf-8")  # never raises


def test_an_error_message_with_a_lone_surrogate_is_valid_text():
    error = ProviderError('The server said: "bad \ud800 thing"')
    assert error.user_message == 'The server said: "bad \ufffd thing"'
    error.user_message.encode("utf-8")


def test_model_output_with_a_lone_surrogate_is_recorded_as_valid_text():
    provider = ScriptedProvider(Script(chunks=("fine ", "\ud800", " end")))
    pump = StreamPump(provider, [Message("user", "hi")], Settings(model="s")).start()
    shown = "".join(pump.text_batches())
    record = pump.wait(5)
    assert shown == record.text == "fine \ufffd end"
    assert record.chunk_texts == ["fine ", "\ufffd", " end"]


def test_an_html_error_page_becomes_its_title():
    assert one_line(HTML_PAGE) == "502 Bad Gateway"
    untitled = "<html><body><p>Service\n  unavailable</p><p>try later</p></body></html>"
    assert one_line(untitled) == "Service unavailable try later"
    assert one_line("x" * 500, limit=50) == "x" * 49 + "…"
    failure = status_failure(502, HTML_PAGE, label="The server at http://h:1/v1", model="",
                             base_url="http://h:1/v1")
    assert failure.error.user_message == (
        "The server at http://h:1/v1 failed with a server error (502: 502 Bad Gateway). "
        "Try again shortly.")


def test_a_shortened_message_never_keeps_part_of_a_key():
    key = "sk-secret-0123456789"
    message = "y" * 190 + key
    failure = status_failure(400, message, label="X", model="m", base_url="u", secrets=[key])
    assert "sk-secret" not in failure.error.user_message
    assert "[redacted]" in failure.error.user_message


def test_waits_read_as_a_person_reads_them():
    assert [format_wait(s) for s in (0.01, 0.5, 1.5, 30)] == ["10 ms", "500 ms", "1.5 s", "30 s"]
    failure = status_failure(429, "slow down", label="OpenAI", model="m", base_url="u",
                             retry_after=0.01)
    assert "It asks to wait 10 ms." in failure.error.user_message
    assert "0 s" not in failure.error.user_message


def test_a_custom_server_is_named_once_and_in_lower_case_mid_sentence():
    custom = "The server at http://127.0.0.1:1/v1"
    assert in_sentence(custom, "http://127.0.0.1:1/v1") == "the server at http://127.0.0.1:1/v1"
    assert in_sentence("OpenAI", "https://api.openai.com/v1") == (
        "OpenAI at https://api.openai.com/v1")
    assert in_sentence("Anthropic") == "Anthropic"


def test_counts_read_as_words_one_token_two_tokens():
    assert [count_of(n, "token") for n in (0, 1, 2, 1200)] == [
        "0 tokens", "1 token", "2 tokens", "1,200 tokens"]
    assert count_of(1, "paired run") == "1 paired run"
