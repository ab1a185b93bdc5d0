"""Prompt sets: CSV and JSONL read into cases (errors name the line), and the checks of a run
(substring, regex, latency limits against a record with known offsets, the run finished)."""

from __future__ import annotations

import json

import pytest

from chatlib.evals.prompt_sets import (
    PROMPT_FIELDS, CheckResult, PromptCase, check_run, load_prompt_set, parse_csv, parse_jsonl,
)
from chatlib.runs.record import RunRecord

CSV = (
    "\ufeffid,prompt,contains,regex,max_ttft_ms,max_e2e_ms,system_prompt\n"
    "capital,What is the capital of France?,Paris,,250,1500.5,\n"
    "\n"
    ',"A prompt over\ntwo lines, with a comma",,^\\d+$,,,Answer with digits only.\n'
    "last,Plain,,,,,\n"
)


def test_a_csv_reads_into_typed_cases_in_order():
    cases = parse_csv(CSV, "set.csv")
    assert cases == [
        PromptCase("capital", "What is the capital of France?", contains="Paris",
                   max_ttft_ms=250.0, max_e2e_ms=1500.5),
        # no id: its number in the file; a quoted cell keeps its newline and comma
        PromptCase("2", "A prompt over\ntwo lines, with a comma", regex=r"^\d+$",
                   system_prompt="Answer with digits only."),
        PromptCase("last", "Plain"),
    ]
    assert cases[0].check_names() == ["finished", "contains", "max_ttft_ms", "max_e2e_ms"]
    assert cases[2].check_names() == ["finished"]


def test_a_csv_needs_only_the_prompt_column():
    assert parse_csv("prompt\nhello\nworld\n") == [PromptCase("1", "hello"),
                                                  PromptCase("2", "world")]


def test_jsonl_reads_the_same_fields():
    lines = [
        {"id": "capital", "prompt": "What is the capital of France?", "contains": "Paris",
         "max_ttft_ms": 250, "max_e2e_ms": "1500.5"},
        {},  # replaced by a blank line below
        {"id": 7, "prompt": "Digits", "regex": r"^\d+$", "system_prompt": "Digits only.",
         "contains": None},
    ]
    text = "\n".join("" if not line else json.dumps(line) for line in lines) + "\n"
    assert parse_jsonl(text, "set.jsonl") == [
        PromptCase("capital", "What is the capital of France?", contains="Paris",
                   max_ttft_ms=250.0, max_e2e_ms=1500.5),
        PromptCase("7", "Digits", regex=r"^\d+$", system_prompt="Digits only."),
    ]


def test_a_case_round_trips_through_its_dict():
    case = parse_csv(CSV)[0]
    assert set(case.to_dict()) == set(PROMPT_FIELDS)
    assert PromptCase.from_dict(json.loads(json.dumps(case.to_dict()))) == case


@pytest.mark.parametrize("text, says", [
    ("id,contains\nx,y\n", "set.csv, line 1: the header row has no 'prompt' column"),
    ("prompt,expects\nhi,x\n", "set.csv, line 1: unknown column 'expects'"),
    ("prompt,prompt\nhi,x\n", "set.csv, line 1: column 'prompt' is given twice"),
    ("prompt,contains\nfine,x\n   ,x\n", "set.csv, line 3: the prompt is missing or empty"),
    ("prompt,regex\nfine,\nbad,(unclosed\n", "set.csv, line 3: invalid regex '(unclosed'"),
    ("prompt,max_ttft_ms\nfine,100\nslow,fast\n",
     "set.csv, line 3: max_ttft_ms must be a number of milliseconds above 0, not 'fast'"),
    ("prompt,max_e2e_ms\nnegative,-5\n", "set.csv, line 2: max_e2e_ms must be a number"),
    ("prompt,max_e2e_ms\nnot finite,inf\n", "set.csv, line 2: max_e2e_ms must be a number"),
    ("prompt\none,two\n", "set.csv, line 2: 2 cells for 1 columns"),
    ('"prompt\n\nmulti\nline"\n', "set.csv, line 1: unknown column 'prompt\\n\\nmulti"),
    ("id,prompt\na,one\n\na,two\n", "set.csv, line 4: id 'a' is used twice (first on line 2)"),
    ("prompt\n", "set.csv: no prompts in it"),
    ("", "set.csv: no prompts in it"),
])
def test_bad_csv_is_a_clear_error_naming_the_line(text, says):
    with pytest.raises(ValueError) as raised:
        parse_csv(text, "set.csv")
    assert str(raised.value).startswith(says)


def test_a_line_of_a_multi_line_row_is_the_line_it_starts_on():
    text = 'prompt,regex\n"one\ntwo\nthree",ok\nbad,[\n'
    with pytest.raises(ValueError, match=r"^set.csv, line 5: invalid regex"):
        parse_csv(text, "set.csv")


@pytest.mark.parametrize("line, says", [
    ("{not json", "set.jsonl, line 2: not valid JSON"),
    ('["a list"]', "set.jsonl, line 2: expected a JSON object"),
    ('{"contains": "x"}', "set.jsonl, line 2: the prompt is missing or empty"),
    ('{"prompt": 5}', "set.jsonl, line 2: prompt must be text, not 5"),
    ('{"prompt": "x", "regex": "a{"}', None),  # a valid regex: "a{" matches itself
    ('{"prompt": "x", "regex": "(?P<"}', "set.jsonl, line 2: invalid regex"),
    ('{"prompt": "x", "max_ttft_ms": true}', "set.jsonl, line 2: max_ttft_ms must be a number"),
    ('{"prompt": "x", "max_ttft_ms": 0}', "set.jsonl, line 2: max_ttft_ms must be a number"),
    ('{"prompt": "x", "answer": "y"}', "set.jsonl, line 2: unknown field 'answer'"),
    ('{"prompt": "x", "id": "first"}', "set.jsonl, line 2: id 'first' is used twice"),
])
def test_bad_jsonl_is_a_clear_error_naming_the_line(line, says):
    text = '{"id": "first", "prompt": "fine"}\n' + line + "\n"
    if says is None:
        assert len(parse_jsonl(text, "set.jsonl")) == 2
        return
    with pytest.raises(ValueError) as raised:
        parse_jsonl(text, "set.jsonl")
    assert str(raised.value).startswith(says)


def test_a_file_is_read_by_its_suffix(tmp_path):
    (tmp_path / "a.csv").write_text("prompt\nfrom csv\n", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"prompt": "from jsonl"}\n', encoding="utf-8")
    (tmp_path / "c.txt").write_text("prompt\nx\n", encoding="utf-8")
    (tmp_path / "d.csv").write_bytes(b"prompt\n\xff\xfe\n")
    assert load_prompt_set(tmp_path / "a.csv") == [PromptCase("1", "from csv")]
    assert load_prompt_set(tmp_path / "b.jsonl") == [PromptCase("1", "from jsonl")]
    with pytest.raises(ValueError, match="c.txt: a prompt set is a .csv or .jsonl file"):
        load_prompt_set(tmp_path / "c.txt")
    with pytest.raises(ValueError, match="d.csv: not UTF-8 text"):
        load_prompt_set(tmp_path / "d.csv")
    with pytest.raises(OSError):
        load_prompt_set(tmp_path / "missing.csv")


# -- checks ---------------------------------------------------------------------------------
def record(texts=("The capital ", "is Paris."), offsets=(0.120, 0.300), *, status="ok",
           reasoning=(), reasoning_offsets=(), error=None) -> RunRecord:
    """A finished run with known chunk offsets (seconds since t0)."""
    return RunRecord(provider="scripted", model="m", settings={}, status=status,
                     created_at=0.0, chunk_offsets_s=list(offsets), chunk_texts=list(texts),
                     output_tokens=len(texts) + len(reasoning), error=error,
                     reasoning_texts=list(reasoning), reasoning_offsets_s=list(reasoning_offsets),
                     reasoning_tokens=len(reasoning) or None)


def by_name(results: list[CheckResult]) -> dict[str, tuple[bool, str]]:
    return {r.name: (r.passed, r.why) for r in results}


def test_substring_and_regex_checks_read_the_answer():
    passing = PromptCase("p", "x", contains="Paris", regex=r"is (\w+)\.$")
    assert by_name(check_run(passing, record())) == {
        "finished": (True, "the run finished"),
        "contains": (True, "'Paris' found in the answer"),
        "regex": (True, r"/is (\w+)\.$/ matched 'is Paris.'"),
    }
    failing = PromptCase("p", "x", contains="paris", regex=r"^Paris")  # case-sensitive
    assert by_name(check_run(failing, record())) == {
        "finished": (True, "the run finished"),
        "contains": (False, "'paris' not in the answer"),
        "regex": (False, "/^Paris/ did not match the answer"),
    }


def test_the_thinking_is_not_the_answer_for_the_text_checks():
    thought = record(texts=("Lyon.",), offsets=(0.5,), reasoning=("Paris? ",),
                     reasoning_offsets=(0.1,))
    assert not check_run(PromptCase("p", "x", contains="Paris"), thought)[1].passed


def test_latency_limits_use_the_runs_ttft_and_e2e():
    # TTFT 120 ms, E2E 300 ms (the chunk offsets above)
    within = PromptCase("p", "x", max_ttft_ms=120, max_e2e_ms=300)
    assert by_name(check_run(within, record())) == {
        "finished": (True, "the run finished"),
        "max_ttft_ms": (True, "TTFT 120.0 ms ≤ 120 ms"),
        "max_e2e_ms": (True, "E2E 300.0 ms ≤ 300 ms"),
    }
    over = PromptCase("p", "x", max_ttft_ms=119.5, max_e2e_ms=250)
    assert by_name(check_run(over, record())) == {
        "finished": (True, "the run finished"),
        "max_ttft_ms": (False, "TTFT 120.0 ms > 119.5 ms"),
        "max_e2e_ms": (False, "E2E 300.0 ms > 250 ms"),
    }


def test_ttft_counts_the_first_thinking_token_and_e2e_the_last_chunk_of_any_kind():
    thinking = record(texts=("Paris.",), offsets=(0.900,), reasoning=("Hmm", "..."),
                      reasoning_offsets=(0.050, 0.950))
    case = PromptCase("p", "x", max_ttft_ms=100, max_e2e_ms=920)
    assert by_name(check_run(case, thinking))["max_ttft_ms"] == (True, "TTFT 50.0 ms ≤ 100 ms")
    assert by_name(check_run(case, thinking))["max_e2e_ms"] == (False, "E2E 950.0 ms > 920 ms")


def test_a_failed_or_stopped_run_fails_finished_and_a_run_without_tokens_every_limit():
    case = PromptCase("p", "x", contains="Paris", max_ttft_ms=1000, max_e2e_ms=1000)
    failed = check_run(case, record(texts=(), offsets=(), status="error",
                                    error="The server went away."))
    assert by_name(failed) == {
        "finished": (False, "the run failed: The server went away."),
        "contains": (False, "'Paris' not in the answer"),
        "max_ttft_ms": (False, "no TTFT: no token arrived (limit 1000 ms)"),
        "max_e2e_ms": (False, "no E2E: no token arrived (limit 1000 ms)"),
    }
    stopped = check_run(case, record(status="stopped"))
    assert [(r.name, r.passed) for r in stopped] == [
        ("finished", False), ("contains", True), ("max_ttft_ms", True), ("max_e2e_ms", True)]
    assert stopped[0].why == "the run was stopped"
    assert [r.name for r in stopped] == case.check_names()
