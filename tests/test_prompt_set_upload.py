"""Uploading a prompt set: a file too big or with too many prompts is refused saying the limit
(and the count); a binary or non-UTF-8 file is named and said to be no UTF-8 CSV or JSONL; a
quote left open in a CSV is refused naming its line. On the Compare page each shows as a
message, never an exception box, and the page goes on working."""

from __future__ import annotations

import json

import pytest

from chatlib.evals.prompt_sets import (
    MAX_PROMPT_SET_BYTES, MAX_PROMPT_SET_MB, MAX_PROMPTS, PromptCase, load_prompt_set,
    parse_csv, parse_jsonl, parse_prompt_set,
)


def csv_of(count: int) -> str:
    return "prompt\n" + "".join(f"Prompt number {i}\n" for i in range(count))


def jsonl_of(count: int) -> str:
    return "".join(json.dumps({"prompt": f"Prompt number {i}"}) + "\n" for i in range(count))


def refusal(data: bytes, name: str) -> str:
    with pytest.raises(ValueError) as raised:
        parse_prompt_set(data, name)
    return str(raised.value)


# -- the loader (chatlib) --------------------------------------------------------------------
def test_the_limits_are_sensible():
    assert 100 <= MAX_PROMPTS <= 10_000
    assert MAX_PROMPT_SET_BYTES == MAX_PROMPT_SET_MB * 1_000_000


def test_a_file_over_the_size_limit_is_refused_saying_the_limit():
    # Few prompts, each long: the size alone refuses it.
    big = jsonl_of(0) + json.dumps({"prompt": "x" * MAX_PROMPT_SET_BYTES}) + "\n"
    says = refusal(big.encode(), "big.jsonl")
    assert says == (f"big.jsonl: {len(big):,} bytes, more than the {MAX_PROMPT_SET_MB} MB "
                    f"({MAX_PROMPT_SET_BYTES:,} bytes) a prompt set may have: split it.")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("wb") as out:
        out.write(b"prompt\n")
        out.truncate(MAX_PROMPT_SET_BYTES + 1)  # sparse: a NUL-filled tail, never read
    with pytest.raises(ValueError, match=rf"^big.csv: {MAX_PROMPT_SET_BYTES + 1:,} bytes, more "
                                         rf"than the {MAX_PROMPT_SET_MB} MB"):
        load_prompt_set(path)


@pytest.mark.parametrize("name, text", [("set.csv", csv_of), ("set.jsonl", jsonl_of)])
def test_a_set_over_the_prompt_limit_is_refused_saying_the_limit_and_its_count(name, text):
    assert len(parse_prompt_set(text(MAX_PROMPTS).encode(), name)) == MAX_PROMPTS
    over = text(MAX_PROMPTS * 3 + 7).encode()
    assert refusal(over, name) == (f"{name}: {MAX_PROMPTS * 3 + 7:,} prompts, more than the "
                                   f"{MAX_PROMPTS:,} a prompt set may have: split it.")


def test_the_parsers_keep_the_prompt_limit_too():
    with pytest.raises(ValueError, match=rf"^s.csv: {MAX_PROMPTS + 1:,} prompts, more than"):
        parse_csv(csv_of(MAX_PROMPTS + 1), "s.csv")
    with pytest.raises(ValueError, match=rf"^s.jsonl: {MAX_PROMPTS + 1:,} prompts, more than"):
        parse_jsonl(jsonl_of(MAX_PROMPTS + 1), "s.jsonl")


@pytest.mark.parametrize("data, detail", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x90", "byte 0x89 at position 0"),
    (b"prompt\nfine\n\x90 not text\n", "byte 0x90 at position 12"),
    ("prompt\nhello\n".encode("utf-16"), "byte 0xff at position 0"),  # Excel's "Unicode"
    (b"prompt\nhello\x00world\n", "it holds NUL bytes"),  # valid UTF-8, yet binary
])
def test_a_binary_or_non_utf8_file_is_named_and_said_to_be_no_utf8_csv_or_jsonl(data, detail):
    for name in ("upload.csv", "upload.jsonl"):
        says = refusal(data, name)
        assert says.startswith(f"{name}: not UTF-8 text ({detail}):")
        assert says.endswith("a prompt set must be a UTF-8 CSV or JSONL file.")
        assert "codec" not in says


@pytest.mark.parametrize("text, says", [
    ('prompt\nfine\n"never closed, it swallows\nthe lines\nafter it\n',
     "set.csv, line 3: a quote opened in this row is never closed"),
    ('id,prompt\na,fine\nb,"multi\nline"\nc,"open\n', "set.csv, line 5: a quote opened in"),
    ('"prompt\nfine\n', "set.csv, line 1: a quote opened in this row is never closed"),
    # Past the csv module's cell limit before the end of the file: the same cause.
    ('prompt\nfine\n"open\n' + "more text\n" * 20_000,
     "set.csv, line 3: a cell of more than 131,072 characters starts in this row: "
     "a quote left open?"),
    ('prompt\nfine\n"quoted"tail\n', "set.csv, line 3: not valid CSV (',' expected after '\"')"),
])
def test_a_quote_left_open_is_refused_naming_its_line(text, says):
    with pytest.raises(ValueError) as raised:
        parse_csv(text, "set.csv")
    assert str(raised.value).startswith(says)


def test_parse_prompt_set_reads_by_the_name_s_suffix():
    assert parse_prompt_set(b"prompt\nfrom csv\n", "a.CSV") == [PromptCase("1", "from csv")]
    for name in ("b.jsonl", "c.ndjson"):
        assert parse_prompt_set(b'{"prompt": "j"}\n', name) == [PromptCase("1", "j")]
    assert refusal(b"prompt\nx\n", "d.txt") == "d.txt: a prompt set is a .csv or .jsonl file"


# -- the Compare page ------------------------------------------------------------------------
def upload(at, name: str, data: bytes):
    at.file_uploader(key="prompt_set_file").set_value((name, data, "text/csv")).run()
    assert not at.exception  # never an exception box
    return at


def run_button(at):
    return at.button(key="run_prompt_set")


def errors(at) -> list[str]:
    return [e.value for e in at.main.error]


@pytest.mark.parametrize("name, data, says", [
    ("huge.jsonl", (json.dumps({"prompt": "x" * MAX_PROMPT_SET_BYTES}) + "\n").encode(),
     f"huge.jsonl: {MAX_PROMPT_SET_BYTES + 15:,} bytes, more than the {MAX_PROMPT_SET_MB} MB"),
    ("many.csv", csv_of(MAX_PROMPTS + 1).encode(),
     f"many.csv: {MAX_PROMPTS + 1:,} prompts, more than the {MAX_PROMPTS:,} a prompt set"),
    ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x90",
     "image.csv: not UTF-8 text (byte 0x89 at position 0): a prompt set must be a UTF-8 "
     "CSV or JSONL file."),
    ("open.csv", b'prompt\nfine\n"never closed\nrest\n',
     "open.csv, line 3: a quote opened in this row is never closed"),
])
def test_a_refused_upload_is_a_message_run_stays_off_and_the_page_works_on(
        compare, name, data, says):
    upload(compare, name, data)
    assert len(errors(compare)) == 1 and says in errors(compare)[0]
    assert run_button(compare).disabled
    # The page works on: a good file replaces it and can run.
    upload(compare, "good.csv", b"prompt\nSay it once\nSay more\n")
    assert errors(compare) == []
    assert "2 prompts × 2 targets × 1 run = 4 answers." in [c.value for c in compare.caption]
    assert not run_button(compare).disabled


def _paid_panel() -> None:
    from chatlib.compare.comparison import SharedSettings, TargetSpec
    from chatlib.providers.scripted import ScriptedProvider
    from chatlib.core.tokens import counter_for
    from ui.prompt_set_view import prompt_set_panel

    paid = ScriptedProvider()
    paid.paid = True  # as a cloud API is
    spec = TargetSpec(paid, "demo-fast", counter_for("scripted", "demo-fast"))
    prompt_set_panel([spec, spec], SharedSettings(), repeat=3, ready=True, per_minute=10)


def test_a_large_allowed_set_is_still_held_to_the_paid_request_limit(app_test):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_paid_panel, default_timeout=30).run()
    upload(at, "two.csv", b"prompt\none\ntwo\n")  # 2 prompts x 2 paid targets x 3 runs
    assert errors(at) == ["This prompt set would send 12 requests to paid providers, more than "
                          "your limit of 10 a minute: fewer prompts or runs, or raise the "
                          "limit."]
    assert run_button(at).disabled
