"""Prompt sets: prompts read from a CSV or JSONL file, each optionally with what a good answer
must hold, and the checks of one finished run against them.

A file has one case per row (CSV, with a header row) or per line (JSONL, one object each),
with these fields; only ``prompt`` is required::

    id             a name for the case (default: its number in the file, "1", "2", ...)
    prompt         the text sent, as the user's message
    contains       a substring the answer must contain (case-sensitive)
    regex          a Python regular expression the answer must match (``re.search``)
    max_ttft_ms    the run's TTFT must be at most this (first token of any kind, thinking
                   included: the README's definition)
    max_e2e_ms     the run's E2E latency must be at most this (last chunk of any kind)
    system_prompt  this case's system prompt instead of the shared one

An empty CSV cell, a JSON ``null`` or ``""`` means the field is not given. Bad input is a
``ValueError`` that names the file and line. A file is UTF-8 text of at most
``MAX_PROMPT_SET_MB`` MB and ``MAX_PROMPTS`` prompts; a CSV quote left open is an error (the
csv module would read the rest of the file as one cell). Checks read the answer text (not the
thinking) and the figures of ``RunRecord.metrics()``; every run also gets the ``finished``
check (it ended normally: not failed, not stopped), so a provider error fails a CI run even
for a case with no checks of its own.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatlib.runs.record import RunRecord

__all__ = [
    "MAX_PROMPTS",
    "MAX_PROMPT_SET_BYTES",
    "MAX_PROMPT_SET_MB",
    "PROMPT_FIELDS",
    "PromptCase",
    "CheckResult",
    "check_run",
    "load_prompt_set",
    "parse_csv",
    "parse_jsonl",
    "parse_prompt_set",
]

# Every prompt runs on every target, as many times as asked: a set is a batch a person reads
# the grid of, not a dataset. A bigger one is split in several.
MAX_PROMPTS = 1_000
# 1,000 prompts of 5,000 characters: room for long prompts, while a file that is not a
# prompt set (a dataset, an export) is refused before it is decoded and parsed.
MAX_PROMPT_SET_MB = 5
MAX_PROMPT_SET_BYTES = MAX_PROMPT_SET_MB * 1_000_000
_SUFFIXES = (".csv", ".jsonl", ".ndjson")
_NOT_TEXT = "a prompt set must be a UTF-8 CSV or JSONL file."

PROMPT_FIELDS = ("id", "prompt", "contains", "regex", "max_ttft_ms", "max_e2e_ms",
                 "system_prompt")
_TEXT_FIELDS = ("id", "prompt", "contains", "regex", "system_prompt")
_NUMBER_FIELDS = ("max_ttft_ms", "max_e2e_ms")


@dataclass(frozen=True)
class PromptCase:
    """One prompt of a set and what a good answer to it must satisfy."""

    id: str
    prompt: str
    contains: str | None = None
    regex: str | None = None
    max_ttft_ms: float | None = None
    max_e2e_ms: float | None = None
    system_prompt: str | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, default_id: str = "",
                  where: str = "") -> PromptCase:
        """A case from the fields of one row or line (see the module docstring), checked:
        ``ValueError`` says what is wrong, prefixed with ``where`` ("prompts.csv, line 3")."""
        prefix = f"{where}: " if where else ""
        unknown = sorted(set(values) - set(PROMPT_FIELDS))
        if unknown:
            raise ValueError(f"{prefix}unknown field {', '.join(map(repr, unknown))} "
                             f"(the fields are {', '.join(PROMPT_FIELDS)})")
        given: dict[str, Any] = {}
        for name in _TEXT_FIELDS:
            value = values.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and name == "id":
                value = str(value)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{prefix}{name} must be text, not {value!r}")
            if value:
                given[name] = value
        for name in _NUMBER_FIELDS:
            value = values.get(name)
            if value is not None and value != "":
                given[name] = _milliseconds(value, name, prefix)
        prompt = given.get("prompt", "")
        if not prompt.strip():
            raise ValueError(f"{prefix}the prompt is missing or empty")
        if "regex" in given:
            try:
                re.compile(given["regex"])
            except re.error as exc:
                raise ValueError(f"{prefix}invalid regex {given['regex']!r}: {exc}") from None
        given.setdefault("id", default_id)
        if not given["id"].strip():
            raise ValueError(f"{prefix}the id is empty")
        return cls(**given)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a file line holds them (what the prompt-set store keeps)."""
        return {name: getattr(self, name) for name in PROMPT_FIELDS}

    def check_names(self) -> list[str]:
        """The checks every run of this case gets, in the order ``check_run`` gives them."""
        return ["finished", *(n for n in ("contains", "regex", "max_ttft_ms", "max_e2e_ms")
                              if getattr(self, n) is not None)]


def _milliseconds(value: Any, name: str, prefix: str) -> float:
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{prefix}{name} must be a number of milliseconds above 0, "
                         f"not {value!r}")
    return number


@dataclass(frozen=True)
class CheckResult:
    """One check of one run: ``name`` is a ``PromptCase`` field (or ``finished``), ``why``
    says what was found either way ("TTFT 84 ms ≤ 200 ms")."""

    name: str
    passed: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "why": self.why}


def _limit(name: str, label: str, seconds: float | None, limit_ms: float) -> CheckResult:
    if seconds is None:
        return CheckResult(name, False, f"no {label}: no token arrived (limit {limit_ms:g} ms)")
    ms = seconds * 1000
    sign = "≤" if ms <= limit_ms else ">"
    return CheckResult(name, ms <= limit_ms, f"{label} {ms:.1f} ms {sign} {limit_ms:g} ms")


def check_run(case: PromptCase, record: RunRecord) -> list[CheckResult]:
    """Every check of ``case`` on one finished run (``case.check_names()`` order)."""
    if record.status == "ok":
        results = [CheckResult("finished", True, "the run finished")]
    elif record.status == "stopped":
        results = [CheckResult("finished", False, "the run was stopped")]
    else:
        results = [CheckResult("finished", False, f"the run failed: {record.error or 'error'}")]
    text = record.text
    if case.contains is not None:
        found = case.contains in text
        results.append(CheckResult("contains", found, f"{case.contains!r} "
                                   + ("found in the answer" if found else "not in the answer")))
    if case.regex is not None:
        match = re.search(case.regex, text)
        results.append(CheckResult(
            "regex", match is not None,
            f"/{case.regex}/ matched {match.group(0)!r}" if match is not None
            else f"/{case.regex}/ did not match the answer"))
    metrics = record.metrics()
    if case.max_ttft_ms is not None:
        results.append(_limit("max_ttft_ms", "TTFT", metrics.ttft_s, case.max_ttft_ms))
    if case.max_e2e_ms is not None:
        results.append(_limit("max_e2e_ms", "E2E", metrics.e2e_s, case.max_e2e_ms))
    return results


def _unique(cases: list[tuple[int, PromptCase]], source: str, count: int) -> list[PromptCase]:
    """The cases, checked: ``count`` is how many the file holds (only the first
    ``MAX_PROMPTS`` are read into cases)."""
    if count > MAX_PROMPTS:
        raise ValueError(f"{source}: {count:,} prompts, more than the {MAX_PROMPTS:,} a prompt "
                         "set may have: split it.")
    seen: dict[str, int] = {}
    for line, case in cases:
        if case.id in seen:
            raise ValueError(f"{source}, line {line}: id {case.id!r} is used twice "
                             f"(first on line {seen[case.id]})")
        seen[case.id] = line
    if not cases:
        raise ValueError(f"{source}: no prompts in it")
    return [case for _, case in cases]


def parse_csv(text: str, source: str = "<csv>") -> list[PromptCase]:
    """The cases of a CSV text: a header row naming the fields (``prompt`` required), then
    one case per row; blank rows are skipped. A quoted cell may span lines: a row's line
    is the line it starts on."""
    # strict: a quote left open is an error at the end of the text, not one silent cell.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")), strict=True)
    start = 1  # the line the row being read starts on
    try:
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{source}: no prompts in it (not even a header row)")
        names = [name.strip() for name in header]
        unknown = [name for name in names if name not in PROMPT_FIELDS]
        if unknown:
            raise ValueError(f"{source}, line 1: unknown column "
                             f"{', '.join(map(repr, unknown))} (the columns are "
                             f"{', '.join(PROMPT_FIELDS)})")
        if "prompt" not in names:
            raise ValueError(f"{source}, line 1: the header row has no 'prompt' column")
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"{source}, line 1: column {', '.join(map(repr, duplicated))} "
                             "is given twice")
        cases: list[tuple[int, PromptCase]] = []
        count = 0
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            count += 1
            if count > MAX_PROMPTS:
                continue  # only counted, for the message
            where = f"{source}, line {line}"
            if len(row) > len(names):
                raise ValueError(f"{where}: {len(row)} cells for {len(names)} columns")
            values = dict(zip(names, row))
            cases.append((line, PromptCase.from_dict(values, default_id=str(len(cases) + 1),
                                                     where=where)))
    except csv.Error as exc:
        raise _csv_error(exc, source, start, reader.line_num) from None
    return _unique(cases, source, count)


def _csv_error(exc: csv.Error, source: str, start: int, line: int) -> ValueError:
    """``exc`` said for a person: ``start`` is the line the row being read starts on, ``line``
    the line the reader had reached."""
    message = str(exc)
    if message == "unexpected end of data":  # strict mode, inside a quoted cell
        return ValueError(f"{source}, line {start}: a quote opened in this row is never closed "
                          "(a \" is missing): the rest of the file would be one cell.")
    if message.startswith("field larger than field limit"):
        return ValueError(f"{source}, line {start}: a cell of more than "
                          f"{csv.field_size_limit():,} characters starts in this row: a quote "
                          "left open?")
    return ValueError(f"{source}, line {line}: not valid CSV ({exc})")


def parse_jsonl(text: str, source: str = "<jsonl>") -> list[PromptCase]:
    """The cases of a JSONL text: one JSON object per line; blank lines are skipped."""
    cases: list[tuple[int, PromptCase]] = []
    count = 0
    for line, raw in enumerate(text.removeprefix("\ufeff").splitlines(), 1):
        if not raw.strip():
            continue
        count += 1
        if count > MAX_PROMPTS:
            continue  # only counted, for the message
        where = f"{source}, line {line}"
        try:
            values = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{where}: expected a JSON object with a \"prompt\"")
        cases.append((line, PromptCase.from_dict(values, default_id=str(len(cases) + 1),
                                                 where=where)))
    return _unique(cases, source, count)


def parse_prompt_set(data: bytes, name: str) -> list[PromptCase]:
    """The cases of a file's bytes (an upload), read by the suffix of its ``name``: ``.csv``,
    ``.jsonl`` or ``.ndjson``. ``ValueError`` names the file: too big, not UTF-8 text (or
    binary), bad content (with its line), too many prompts."""
    suffix = _suffix(name)
    _check_size(len(data), name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at position "
                         f"{exc.start:,}): {_NOT_TEXT}") from None
    if "\x00" in text:  # valid UTF-8, yet no text file holds a NUL
        raise ValueError(f"{name}: not UTF-8 text (it holds NUL bytes): {_NOT_TEXT}")
    if suffix == ".csv":
        return parse_csv(text, name)
    return parse_jsonl(text, name)


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"{name}: a prompt set is a .csv or .jsonl file")
    return suffix


def _check_size(size: int, name: str) -> None:
    if size > MAX_PROMPT_SET_BYTES:
        raise ValueError(f"{name}: {size:,} bytes, more than the {MAX_PROMPT_SET_MB} MB "
                         f"({MAX_PROMPT_SET_BYTES:,} bytes) a prompt set may have: split it.")


def load_prompt_set(path: str | Path) -> list[PromptCase]:
    """The cases of a ``.csv`` or ``.jsonl`` (``.ndjson``) file (``parse_prompt_set``).
    ``ValueError`` for bad content (naming the file and line), ``OSError`` when it cannot be
    read."""
    path = Path(path)
    _suffix(path.name)
    _check_size(path.stat().st_size, path.name)  # before it is read: it may be huge
    return parse_prompt_set(path.read_bytes(), path.name)
