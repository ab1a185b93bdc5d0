"""Prompt sets run against targets × repeats (``chatlib.evals.runner``): the command line
(``chatlib.cli.evaluate``) as CI runs it (exit status, JSON figures equal to the store's, an
escaped self-contained HTML report), bad input as a one-line message, and the stored run
reopening with its grid.

Scripted targets only (extra models through ``$CHATLAB_SCRIPTS``); no test asserts what a
real model says or how fast anything ran (latency limits here are an hour, or tested on
known offsets in ``test_prompt_sets``)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from chatlib.compare import comparisons
from chatlib.compare.comparison import SharedSettings
from chatlib.cli.evaluate import main
from chatlib.evals.runner import (
    GRID_COLUMNS, grid, open_prompt_set, parse_target, resolve_targets, run_prompt_set, to_dict,
)
from chatlib.runs.pricing import default_prices
from chatlib.evals.prompt_sets import PromptCase, parse_csv
from chatlib.providers.scripted import SCRIPTS_ENV
from chatlib.store import ComparisonStore, PromptSetStore, RunFilter, RunStore

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {
    "eval-paris": {"text": "The capital of France is Paris.", "chunk_chars": 4, "gap_s": 0.002},
    "eval-lyon": {"text": "I think it is Lyon.", "chunk_chars": 4, "gap_s": 0.002},
    "eval-thinking": {"reasoning": "Paris or Lyon?", "text": "It is Paris.", "chunk_chars": 4},
}
TARGETS = ["scripted:eval-paris", "scripted:eval-lyon"]
HOUR_MS = 3_600_000  # a limit no scripted run comes near: only a broken figure crosses it
XSS = "<script>alert('x')</script> What is the capital of France?"


@pytest.fixture
def scripts(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "scripts.json"
    path.write_text(json.dumps(SCRIPTS), encoding="utf-8")
    monkeypatch.setenv(SCRIPTS_ENV, str(path))
    return path


def cli(tmp_path: Path, scripts: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATLAB_DB": str(tmp_path / "eval.sqlite3"),
           "CHATLAB_DATA_DIR": str(tmp_path / "data"), SCRIPTS_ENV: str(scripts)}
    return subprocess.run([sys.executable, "-m", "chatlib.cli.evaluate", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_cli_fails_when_a_check_fails_and_its_json_and_html_agree_with_the_store(
        tmp_path, scripts):
    rows = io.StringIO()
    csv.writer(rows).writerows([["id", "prompt", "contains", "max_ttft_ms", "max_e2e_ms"],
                                ["xss", XSS, "Paris", HOUR_MS, HOUR_MS],
                                ["plain", "Name a city.", "", "", ""]])
    prompts = write(tmp_path / "capitals.csv", rows.getvalue())
    out = cli(tmp_path, scripts, str(prompts), "--target", TARGETS[0], "--target", TARGETS[1],
              "--repeat", "2", "--max-tokens", "64", "--temperature", "0.2",
              "--json", str(tmp_path / "out.json"), "--markdown", str(tmp_path / "out.md"),
              "--html", str(tmp_path / "report.html"))
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    # Printed: the grid, each failed check, the verdict.
    assert ("FAIL xss · scripted:eval-lyon · run 1: contains: 'Paris' not in the answer"
            in out.stdout)
    assert "FAILED: 18 of 20 checks passed" in out.stdout

    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert (data["passed"], data["complete"], data["checks_passed"], data["checks"]) == (
        False, True, 18, 20)
    assert (data["source"], data["targets"], data["repeat"]) == ("capitals.csv", TARGETS, 2)
    assert data["shared_settings"]["max_tokens"] == 64
    assert [(c["prompt"], c["target"], c["checks passed"]) for c in data["grid"]] == [
        ("xss", TARGETS[0], "8/8"), ("xss", TARGETS[1], "6/8"),
        ("plain", TARGETS[0], "2/2"), ("plain", TARGETS[1], "2/2")]

    # Every figure equals the one recomputed from the runs the store kept.
    store = RunStore(tmp_path / "eval.sqlite3")
    cells = iter(data["grid"])
    for case in data["cases"]:
        for target in case["targets"]:
            rows = store.runs(RunFilter(pages=("compare",), group_ids=(case["comparison_id"],),
                                        labels=(target["label"],)))
            cell = next(cells)
            assert len(rows) == 2 and set(rows["status"]) == {"ok"}
            assert [r["run_id"] for r in target["runs"]] == list(rows["id"])
            assert cell["TTFT ms p50"] == pytest.approx(np.percentile(rows["ttft_s"] * 1000, 50))
            assert cell["tok/s p50"] == pytest.approx(np.percentile(rows["output_tps"], 50))
            costs = [default_prices().cost(r.provider, r.model, r.input_tokens, r.output_tokens)
                     for r in rows.itertuples()]
            assert cell["est. cost"] == pytest.approx(sum(costs))
            found = sum("Paris" in text for text in rows["response"]) if case["contains"] else 0
            assert target["passed"] == 2 + found + (4 if case["contains"] else 0)
            assert [run["text"] for run in target["runs"]] == list(rows["response"])

    # The Stats page counts every run: 2 prompts × 2 targets × 2 repeats, page "compare".
    ids = [c["comparison_id"] for c in data["cases"]]
    assert len(store.runs(RunFilter(group_ids=tuple(ids)))) == 8
    assert all(ComparisonStore(store).get(i) is not None for i in ids)

    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in report
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in report
    assert not re.search(r"https?://", report)
    assert "I think it is Lyon." in report and "✗ contains" in report
    markdown = (tmp_path / "out.md").read_text(encoding="utf-8")
    assert "FAILED: 18 of 20 checks passed" in markdown
    assert "| xss | scripted:eval-lyon |" in markdown

    # The stored prompt-set run reopens with the same grid.
    reopened = open_prompt_set(store, data["prompt_set_id"])
    assert reopened is not None and not reopened.passed and reopened.complete
    assert [c.case.prompt for c in reopened.cases] == [XSS, "Name a city."]
    assert to_dict(reopened)["grid"] == data["grid"]


def test_the_cli_passes_when_every_check_passes(tmp_path, scripts):
    prompts = write(tmp_path / "set.jsonl", "\n".join(json.dumps(line) for line in [
        {"id": "capital", "prompt": "Capital of France?", "contains": "Paris",
         "max_ttft_ms": HOUR_MS},
        {"id": "sentence", "prompt": "Say it.", "regex": r"Paris\.$", "max_e2e_ms": HOUR_MS},
    ]))
    out = cli(tmp_path, scripts, str(prompts), "--target", "scripted:eval-paris",
              "--target", "scripted:eval-thinking", "--repeat", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASSED: 24 of 24 checks passed" in out.stdout and "FAIL" not in out.stdout
    header = out.stdout.splitlines()[0].split()
    assert header[:3] == ["prompt", "target", "checks"]


def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, scripts):
    prompts = write(tmp_path / "bad.csv", "prompt,regex\nfine,\nbroken,(oops\n")
    out = cli(tmp_path, scripts, str(prompts), "--target", "scripted:eval-paris")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.splitlines() == [
        "chatlib.cli.evaluate: error: bad.csv, line 3: invalid regex '(oops': missing ), "
        "unterminated subpattern at position 0"]


@pytest.mark.parametrize("args, says", [
    (["missing.csv", "--target", "scripted:eval-paris"], "missing.csv: No such file"),
    (["{set}", "--target", "nope:model"], "Unknown provider 'nope'"),
    (["{set}", "--target", "scripted:nope"], "Unknown model 'nope' for provider 'scripted'"),
    (["{set}", "--target", "scripted:"], "expected PROVIDER:MODEL"),
    (["{set}", "--target", "scripted:eval-paris", "--target", "scripted:eval-paris"],
     "target scripted:eval-paris is given twice"),
    (["{set}", *[a for m in SCRIPTS for a in ("--target", f"scripted:{m}")],
      "--target", "scripted:demo-fast", "--target", "scripted:demo-markdown"],
     "give 1 to 4 targets, not 5"),
    (["{set}", "--target", "scripted:eval-paris", "--repeat", "0"],
     "argument --repeat: 0 is not between 1 and 1000"),
    (["{set}", "--target", "scripted:eval-paris", "--temperature", "hot"],
     "argument --temperature: 'hot' is not a number"),
    (["{set}"], "the following arguments are required: --target"),
])
def test_every_bad_input_is_one_line_and_status_2(tmp_path, scripts, capsys, args, says):
    good = write(tmp_path / "set.csv", "prompt\nhello\n")
    argv = [a.replace("{set}", str(good)) for a in args]
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own refusals
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.splitlines()) == 1 and says in err and "Traceback" not in err
    assert not Path(os.environ["CHATLAB_DB"]).exists()  # refused before the store is opened


def test_a_target_splits_at_the_first_colon():
    assert parse_target("ollama:llama3.2:latest") == ("ollama", "llama3.2:latest")
    assert parse_target("scripted") == ("scripted", None)
    with pytest.raises(ValueError, match="expected PROVIDER:MODEL"):
        parse_target(":model")


def test_a_run_in_process_is_stored_per_case_and_reopens_with_its_grid(store, scripts,
                                                                        monkeypatch):
    # It reads what the provider object in this process was sent: its answers are read here.
    monkeypatch.setenv("CHATLAB_ENGINE", "inline")
    cases = parse_csv("id,prompt,contains,system_prompt\n"
                      "own,First?,Paris,Answer in one word.\n"
                      "shared,Second?,Paris,\n")
    targets = resolve_targets(TARGETS)
    seen: list[str] = []
    run = run_prompt_set(cases, targets, store=store, repeat=2, source="s.csv",
                         shared=SharedSettings(system_prompt="Be brief.", max_tokens=32),
                         on_case=lambda c: seen.append(c.case.id))
    assert seen == ["own", "shared"] and not run.passed and run.complete

    # A case's own system prompt replaces the shared one, for every target and repeat.
    paris = targets[0][1].provider
    systems = [messages[0].content for messages, _ in paris.calls]
    assert systems == ["Answer in one word."] * 2 + ["Be brief."] * 2

    stored = PromptSetStore(store).get(run.id)
    assert stored is not None and stored.ended_at is not None and not stored.stopped
    assert (stored.source, stored.targets, stored.repeat) == ("s.csv", tuple(TARGETS), 2)
    assert [(c.seq, c.case["id"], c.comparison_id) for c in stored.cases] == [
        (0, "own", run.cases[0].comparison.id), (1, "shared", run.cases[1].comparison.id)]
    assert stored.settings["system_prompt"] == "Be brief."

    table = grid(run)
    assert list(table.columns) == list(GRID_COLUMNS)
    assert list(table["checks passed"]) == ["4/4", "2/4", "4/4", "2/4"]
    # Reopened from the store alone (not this process's live comparisons): the same grid.
    monkeypatch.setattr(comparisons, "_LIVE", OrderedDict())  # this process forgot them
    reopened = open_prompt_set(RunStore(store.location), run.id)
    assert reopened is not None
    assert reopened.cases[0].comparison.targets[0].provider is None  # really from the store
    assert grid(reopened).equals(table)
    assert to_dict(reopened)["cases"] == to_dict(run)["cases"]
    assert open_prompt_set(store, "no-such-id") is None


def test_an_interrupted_run_keeps_what_ran_marked_stopped(store, scripts):
    cases = [PromptCase("1", "one"), PromptCase("2", "two")]

    def interrupt(_case_run) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_prompt_set(cases, resolve_targets(["scripted:eval-paris"]), store=store,
                       on_case=interrupt)
    [stored] = PromptSetStore(store).recent()
    assert stored.stopped and stored.ended_at is not None and len(stored.cases) == 1
    reopened = open_prompt_set(store, stored.id)
    assert reopened is not None and reopened.stopped and not reopened.passed
