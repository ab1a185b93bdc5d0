"""The judge (chatlib.quality.judge): both orders read through the one streaming path, a verdict
counted only when the orders agree, problems reported and never counted, the judge's own
figures kept apart. Scripted judges go through the engine process, as a page's would; a
judge that reads its prompt is a test-local Provider, which new_pump reads in this process."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date

import pytest

from chatlib.core.types import Event, Finish, Message, Settings, TextDelta, Usage
from chatlib.engine.client import EnginePump, new_pump
from chatlib.providers.scripted import Script, ScriptedProvider
from chatlib.quality.judge import (DEFAULT_RUBRIC, JUDGE_PAGE, AnswerPair, GradedAnswer, Judge,
                                   JudgeReport, PairVerdict, pairs_from_runs, parse_score,
                                   parse_verdict)
from chatlib.quality.ratings import battles_from_verdicts
from chatlib.runs.pricing import Price, PriceTable
from chatlib.runs.record import RunRecord, RunStatus
from chatlib.store.filters import RunFilter

PAIRS = [
    AnswerPair("Name a fruit.", "p · a-model", "p · b-model", "Apples are a fruit.",
               "Bananas are a fruit.", "ra1", "rb1", "cmp-1"),
    AnswerPair("Name a yellow thing.", "p · a-model", "p · b-model", "The sun.",
               "Bananas, mostly.", "ra2", "rb2", "cmp-2"),
    AnswerPair("Say hi.", "p · a-model", "p · b-model", "Hello there!", "Hi, bananas!",
               "ra3", "rb3", "cmp-3"),
]


def scripted_judge(text: str, **kwargs) -> ScriptedProvider:
    return ScriptedProvider(Script.from_text(text, 7, **kwargs))


class PromptReadingJudge:
    """A judge model that reads the prompt it is sent: ``reply(system, user)`` is its answer.
    It keeps every prompt it saw (the order of the answers in each)."""

    id = "reader"
    label = "Prompt-reading judge"
    needs_key = False
    paid = False

    def __init__(self, reply: Callable[[str, str], str]) -> None:
        self.reply = reply
        self.seen: list[tuple[str, str]] = []

    def models(self) -> list[str]:
        return ["reader-1"]

    def stream(self, messages: Sequence[Message], settings: Settings) -> Iterator[Event]:
        system = "\n".join(m.content for m in messages if m.role == "system")
        user = "\n".join(m.content for m in messages if m.role == "user")
        self.seen.append((system, user))
        text = self.reply(system, user)
        for i in range(0, len(text), 6):
            yield TextDelta(text[i:i + 6])
        yield Usage(input_tokens=100, output_tokens=len(text.split()))
        yield Finish("stop")


def answer(user: str, position: str) -> str:
    """The text of the first or second answer in a pair prompt."""
    word = position.capitalize()
    match = re.search(rf"\[The Start of the {word} Answer\]\n(.*?)\n\[The End of the {word} "
                      r"Answer\]", user, re.DOTALL)
    assert match is not None, user
    return match.group(1)


def prefers_bananas(system: str, user: str) -> str:
    first = "banana" in answer(user, "first").lower()
    return (f"The {'first' if first else 'second'} answer names bananas, which I like.\n"
            f"VERDICT: {'first' if first else 'second'}")


def test_a_judge_that_always_prefers_the_first_position_yields_ties(store):
    # Through the engine (a scripted judge has a recipe): the path a page's judge takes.
    provider = scripted_judge("Both answer the prompt; the first reads a little better.\n"
                              "VERDICT: first", reasoning_chunks=("Compare ", "them."))
    judge = Judge(provider, Settings("scripted", temperature=0.0), on_done=store.add)
    assert isinstance(new_pump(provider, [Message("user", "x")], judge.settings), EnginePump)

    report = judge.compare_all(PAIRS)

    assert [v.outcome for v in report.verdicts] == ["tie", "tie", "tie"]
    assert not any(v.agreed for v in report.verdicts)
    assert [[r.side() for r in v.readings] for v in report.verdicts] == [["A", "B"]] * 3
    assert (report.counted, report.disagreements, report.disagreement_rate) == (3, 3, 1.0)
    assert report.problems == []
    assert {b.winner for b in battles_from_verdicts(report.verdicts)} == {"tie"}
    # The judge's whole reply is kept with each reading, its thinking apart.
    assert report.verdicts[0].readings[0].text.startswith("Both answer the prompt")
    assert report.verdicts[0].readings[0].thinking == "Compare them."
    # Its six runs are stored as the judge's, apart from any target's.
    judged = store.runs(RunFilter(pages=(JUDGE_PAGE,)))
    assert len(judged) == 6 and store.count() == 6
    assert set(judged.group_id) == {"cmp-1", "cmp-2", "cmp-3"}


def test_a_judge_that_prefers_b_text_yields_b_in_both_orders():
    provider = PromptReadingJudge(prefers_bananas)
    judge = Judge(provider, Settings("reader-1"))

    report = judge.compare_all(PAIRS)

    assert [v.outcome for v in report.verdicts] == ["B", "B", "B"]
    assert all(v.agreed for v in report.verdicts)
    assert [v.winner for v in report.verdicts] == ["p · b-model"] * 3
    assert [[r.reply for r in v.readings] for v in report.verdicts] == [["second", "first"]] * 3
    assert report.disagreement_rate == 0.0
    # It really saw A's answer first, then B's first.
    first_seen = [answer(user, "first") for _, user in provider.seen[:2]]
    assert first_seen == ["Apples are a fruit.", "Bananas are a fruit."]
    battles = battles_from_verdicts(report.verdicts)
    assert [(b.a, b.b, b.winner, b.source) for b in battles] == [
        ("p · a-model", "p · b-model", "b", "judge")] * 3


def test_a_judge_that_prefers_a_text_yields_a():
    provider = PromptReadingJudge(
        lambda s, u: f"VERDICT: {'first' if 'Apples' in answer(u, 'first') else 'second'}")
    verdict = Judge(provider, Settings("reader-1")).compare(PAIRS[0])
    assert (verdict.outcome, verdict.agreed, verdict.winner) == ("A", True, "p · a-model")


def test_a_judge_that_fails_is_reported_and_not_counted(store):
    provider = scripted_judge("never sent", fault_at=0)
    report = Judge(provider, Settings("scripted"), on_done=store.add).compare_all(PAIRS[:2])

    assert [v.outcome for v in report.verdicts] == [None, None]
    assert (report.counted, report.disagreements, report.disagreement_rate) == (0, 0, None)
    assert [(p.kind, p.message) for _, p in report.problems] == [
        ("error", "The scripted provider failed on purpose.")] * 4
    assert "p · a-model vs p · b-model" in report.problems[0][0]
    assert battles_from_verdicts(report.verdicts) == []
    assert report.spend().problems == 4
    assert len(store.runs(RunFilter(pages=(JUDGE_PAGE,), statuses=("error",)))) == 4


def test_an_answer_off_format_is_reported_and_not_counted():
    off = Judge(scripted_judge("I like the first one best."), Settings("scripted"))
    verdict = off.compare(PAIRS[0])
    assert verdict.outcome is None and not verdict.counted
    assert [p.kind for p in verdict.problems] == ["off_format", "off_format"]
    assert "VERDICT: first|second|tie" in verdict.problems[0].message

    bad_word = Judge(scripted_judge("Hard to say.\nVERDICT: maybe"), Settings("scripted"))
    assert bad_word.compare(PAIRS[0]).problems[0].message == (
        "'VERDICT: maybe' is not one of first, second, tie")

    # One order on format and the other not: still not counted, as a tie or otherwise.
    def only_first_order(system: str, user: str) -> str:
        return "VERDICT: second" if answer(user, "first").startswith("Apples") else "B wins."

    mixed = Judge(PromptReadingJudge(only_first_order), Settings("reader-1")).compare_all(PAIRS[:1])
    assert mixed.counted == 0 and mixed.verdicts[0].outcome is None
    assert [(r.order, r.problem and r.problem.kind) for r in mixed.verdicts[0].readings] == [
        ("AB", None), ("BA", "off_format")]


def test_the_verdict_line_is_read_strictly_but_not_fussily():
    assert parse_verdict("reasons...\n**VERDICT: Second**\n\n") == ("second", None)
    assert parse_verdict("VERDICT: tie.") == ("tie", None)
    assert parse_verdict("VERDICT: first\nActually, maybe not.")[0] is None
    assert parse_verdict("")[0] is None
    assert parse_score("Solid.\nSCORE: 7") == (7, None)
    assert parse_score("SCORE: 8/10") == (8, None)
    assert parse_score("SCORE: 11")[0] is None and parse_score("SCORE: 6.5")[0] is None


def test_the_rubric_has_a_default_and_the_caller_can_replace_it():
    for word in ("Helpfulness", "Correctness", "Clarity"):
        assert word in DEFAULT_RUBRIC
    default = PromptReadingJudge(lambda s, u: "VERDICT: tie")
    Judge(default, Settings("reader-1")).compare(PAIRS[0])
    assert DEFAULT_RUBRIC in default.seen[0][0]

    own = PromptReadingJudge(lambda s, u: "VERDICT: tie")
    verdict = Judge(own, Settings("reader-1"), rubric="Shorter is better.").compare(PAIRS[0])
    assert all("Shorter is better." in system and DEFAULT_RUBRIC not in system
               for system, _ in own.seen)
    assert verdict.rubric == "Shorter is better." and verdict.outcome == "tie" and verdict.agreed


def test_single_answer_grading_scores_and_reports_off_format():
    def grader(system: str, user: str) -> str:
        assert "from 1" in system
        if "Hello" in user:
            return "It ignores the rubric entirely.\nSCORE: 11"
        return f"Reasoning.\nSCORE: {9 if 'anana' in user else 4}"

    judge = Judge(PromptReadingJudge(grader), Settings("reader-1"))
    answers = [GradedAnswer(p.prompt, t, text)
               for p in PAIRS for t, text in ((p.a, p.a_text), (p.b, p.b_text))]
    report = judge.grade_all(answers)

    assert [g.score for g in report.grades] == [4, 9, 4, 9, None, 9]
    assert report.mean_scores() == {"p · a-model": (4.0, 2), "p · b-model": (9.0, 3)}
    assert [(p.kind, about) for about, p in report.problems] == [
        ("off_format", "p · a-model on 'Say hi.'")]
    assert report.grades[0].reading.text == "Reasoning.\nSCORE: 4"


def test_the_judges_cost_and_latency_are_its_own(store):
    prices = PriceTable(date(2025, 1, 1), "USD",
                        {("reader", "reader-1"): Price(input_per_m=2.0, output_per_m=10.0)})
    judge = Judge(PromptReadingJudge(prefers_bananas), Settings("reader-1"), prices=prices,
                  on_done=store.add)
    report = judge.compare_all(PAIRS)

    spend = report.spend()
    readings = report.readings
    assert spend.readings == 6 and spend.problems == 0
    assert spend.input_tokens == 600  # the judge's usage: 100 per reading
    assert spend.output_tokens == sum(r.output_tokens or 0 for r in readings)
    assert spend.cost == pytest.approx(sum(100 * 2.0 / 1e6 + (r.output_tokens or 0) * 10.0 / 1e6
                                           for r in readings))
    assert spend.e2e_p50_s is not None and spend.e2e_total_s >= 0
    # Stored under the judge's page, each reading's run id on its reading.
    stored = store.runs(RunFilter(pages=(JUDGE_PAGE,)))
    assert sorted(stored.id) == sorted(r.run_id for r in readings)
    assert set(stored.provider) == {"reader"}


def test_results_round_trip_through_json():
    judge = Judge(PromptReadingJudge(prefers_bananas), Settings("reader-1"))
    report = judge.compare_all(PAIRS[:2])
    grades = Judge(PromptReadingJudge(lambda s, u: "SCORE: 6"), Settings("reader-1")).grade_all(
        [GradedAnswer("q", "t", "a", "run-1", "cmp-1")])
    both = JudgeReport(report.judge, report.rubric, report.verdicts, grades.grades)

    data = json.loads(json.dumps(both.to_dict()))
    again = JudgeReport.from_dict(data)

    assert again == both
    assert data["disagreement_rate"] == 0.0 and data["verdicts"][0]["outcome"] == "B"
    assert PairVerdict.from_dict(data["verdicts"][1]) == both.verdicts[1]
    assert data["spend"]["readings"] == 5


def _run(label: str, model: str, text: str, group: str = "cmp-9", status: RunStatus = "ok",
         at: float = 0.0) -> RunRecord:
    return RunRecord(provider="scripted", model=model, settings={}, status=status,
                     created_at=at, chunk_texts=[text], chunk_offsets_s=[0.1],
                     prompt="Q?", page="compare", label=label, group_id=group)


def test_pairs_come_from_a_comparisons_finished_runs():
    records = [_run("A", "m-a", "a1", at=1), _run("B", "m-b", "b1", at=2),
               _run("C", "m-c", "c1", at=3), _run("A", "m-a", "a2", at=4),
               _run("B", "m-b", "", status="error", at=5), _run("B", "m-b", "b2", at=6),
               _run("A", "m-a", "other", group="cmp-10", at=7)]
    pairs = pairs_from_runs(records)
    assert [(p.a, p.b, p.a_text, p.b_text) for p in pairs] == [
        ("scripted · m-a", "scripted · m-b", "a1", "b1"),
        ("scripted · m-a", "scripted · m-b", "a2", "b2"),
        ("scripted · m-a", "scripted · m-c", "a1", "c1"),
        ("scripted · m-b", "scripted · m-c", "b1", "c1"),
    ]
    assert {p.group_id for p in pairs} == {"cmp-9"}
