"""A judge: a model that compares two answers to one prompt, or grades one answer from 1 to 10.

Pairwise, as FastChat's MT-Bench judge does it, the judge reads every pair twice::

    reading AB: A's answer first, B's second   "first" means A, "second" B
    reading BA: B's answer first, A's second   "first" means B, "second" A

Both readings, translated back to A/B, must agree for the verdict to count as theirs (A, B or
a tie); when they differ the pair is a tie and a *disagreement* (every judge model has a
position bias, and this is how it cancels; the disagreement rate says how large it was).
The judge must end with a final line ``VERDICT: first|second|tie`` (``SCORE: n`` when
grading). A reading without it (*off format*), or a judge request that failed, stopped or
timed out, is a ``JudgeProblem`` (kind and message): the pair or answer is reported and
never counted, as a tie or otherwise.

The judge is a target like any other (its own provider, key, base URL and model). Each
reading is one of its answers through the one streaming path (``new_pump``, as a comparison
opens a target's answer), recorded with ``page="judge"``; its figures (TTFT, E2E, tokens,
cost) stay on the reading and add up in ``JudgeSpend``, apart from the targets' figures. Its
whole reply, the reasoning before the verdict, is kept on each reading.

Every result is a dataclass that writes itself to JSON (``to_dict``) and reads itself back
(``from_dict``), so verdicts can be stored with a comparison and exported.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import combinations
from typing import Any, Literal

import numpy as np

from chatlib.core.conversation import fit_to_budget
from chatlib.core.tokens import TokenCounter, counter_for
from chatlib.core.types import FRESH_CONTEXT, Message, Settings
from chatlib.engine.client import new_pump
from chatlib.providers.base import Provider
from chatlib.runs.figures import run_figures
from chatlib.runs.pricing import PriceTable
from chatlib.runs.record import RunRecord
from chatlib.stats.summary import group_label

__all__ = [
    "DEFAULT_RUBRIC", "JUDGE_PAGE", "Side", "ProblemKind", "Order", "AnswerPair", "GradedAnswer",
    "JudgeProblem", "JudgeReading", "PairVerdict", "Grade", "JudgeSpend", "JudgeReport", "Judge",
    "pair_instructions", "grade_instructions", "parse_verdict", "parse_score", "pairs_from_runs",
    "judge_spend",
]

# What the judge weighs unless the user writes their own rubric.
DEFAULT_RUBRIC = (
    "- Helpfulness: does the answer do what the user asked, at the depth they need?\n"
    "- Correctness: are its facts, reasoning, code and numbers right? A confident error "
    "weighs more than an omission.\n"
    "- Clarity: is it well organised and easy to follow, without padding?"
)
JUDGE_PAGE = "judge"  # the ``page`` of the judge's own runs: never mixed with the targets'

Side = Literal["A", "B", "tie"]
ProblemKind = Literal["error", "stopped", "timeout", "off_format"]
Order = Literal["AB", "BA", "single"]

_VERDICT = re.compile(r"^\W*verdict\W*:\W*([a-z0-9]+)\W*$", re.IGNORECASE)
_SCORE = re.compile(r"^\W*score\W*:\W*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\W*$", re.IGNORECASE)
_NO_BUDGET = 10**9  # the judge's prompt is sent whole: fit_to_budget only counts it


def pair_instructions(rubric: str = DEFAULT_RUBRIC) -> str:
    """The judge's system prompt for a pair: the rubric and the fixed final line."""
    return (
        "You are an impartial judge. You compare two answers to the same user prompt.\n"
        f"Judge them by this rubric:\n{rubric.strip()}\n\n"
        "Do not let the order of the answers, their length or their style sway you. Explain "
        "your reasoning briefly, then end with one final line, exactly one of:\n"
        "VERDICT: first\nVERDICT: second\nVERDICT: tie"
    )


def grade_instructions(rubric: str = DEFAULT_RUBRIC) -> str:
    """The judge's system prompt for grading one answer: the rubric and the fixed final line."""
    return (
        "You are an impartial judge. You grade one answer to a user prompt from 1 (useless) "
        f"to 10 (excellent).\nJudge it by this rubric:\n{rubric.strip()}\n\n"
        "Explain your reasoning briefly, then end with one final line: SCORE: n "
        "(n a whole number from 1 to 10)."
    )


def _pair_prompt(prompt: str, first: str, second: str) -> str:
    return (f"[User prompt]\n{prompt}\n\n"
            f"[The Start of the First Answer]\n{first}\n[The End of the First Answer]\n\n"
            f"[The Start of the Second Answer]\n{second}\n[The End of the Second Answer]")


def _grade_prompt(prompt: str, answer: str) -> str:
    return (f"[User prompt]\n{prompt}\n\n"
            f"[The Start of the Answer]\n{answer}\n[The End of the Answer]")


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_verdict(text: str) -> tuple[str | None, str | None]:
    """(``"first"``, ``"second"`` or ``"tie"``, None) from a judge's reply whose last
    non-empty line is ``VERDICT: ...``; (None, why) when it is not."""
    line = _last_line(text)
    match = _VERDICT.match(line)
    if match is None:
        return None, ("no final line 'VERDICT: first|second|tie'"
                      f" (the last line was {line.strip()[:80]!r})")
    word = match.group(1).lower()
    if word not in ("first", "second", "tie"):
        return None, f"'VERDICT: {word}' is not one of first, second, tie"
    return word, None


def parse_score(text: str) -> tuple[int | None, str | None]:
    """(n, None) from a reply whose last non-empty line is ``SCORE: n`` with n a whole number
    from 1 to 10; (None, why) otherwise."""
    line = _last_line(text)
    match = _SCORE.match(line)
    if match is None:
        return None, f"no final line 'SCORE: n' (the last line was {line.strip()[:80]!r})"
    value = float(match.group(1))
    if not value.is_integer() or not 1 <= value <= 10:
        return None, f"'SCORE: {match.group(1)}' is not a whole number from 1 to 10"
    return int(value), None


@dataclass(frozen=True)
class AnswerPair:
    """Two targets' answers to the same prompt: ``a`` and ``b`` name the targets (a
    leaderboard's model names), the run ids and ``group_id`` (the comparison) say where the
    answers came from."""

    prompt: str
    a: str
    b: str
    a_text: str
    b_text: str
    a_run_id: str | None = None
    b_run_id: str | None = None
    group_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerPair:
        return cls(**data)


@dataclass(frozen=True)
class GradedAnswer:
    """One target's answer to a prompt, to be graded alone."""

    prompt: str
    target: str
    text: str
    run_id: str | None = None
    group_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GradedAnswer:
        return cls(**data)


@dataclass(frozen=True)
class JudgeProblem:
    """Why a reading does not count: the judge's request failed (``error``), was stopped or
    timed out, or its reply broke the format (``off_format``); ``message`` says how."""

    kind: ProblemKind
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeProblem:
        return cls(**data)


@dataclass(frozen=True)
class JudgeReading:
    """One answer of the judge: the order it saw (``AB``, ``BA`` or ``single``), its whole
    reply (``text``: the reasoning and the final line; ``thinking``: a reasoning model's
    thinking before it), what the final line said (``reply``: first/second/tie or the
    score, as written), its problem if any, and its own run's figures (the judge's cost and
    latency, never the targets')."""

    order: Order
    text: str
    reply: str | None
    problem: JudgeProblem | None
    run_id: str
    ttft_s: float | None = None
    e2e_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    thinking: str = ""

    def side(self) -> Side | None:
        """The reading's verdict in A/B terms (None: a problem, or a grade)."""
        if self.problem is not None or self.reply is None or self.order == "single":
            return None
        if self.reply == "tie":
            return "tie"
        first_is_a = self.order == "AB"
        return "A" if (self.reply == "first") == first_is_a else "B"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problem"] = None if self.problem is None else self.problem.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeReading:
        values = dict(data)
        problem = values.pop("problem", None)
        return cls(**values, problem=None if problem is None else JudgeProblem.from_dict(problem))


@dataclass(frozen=True)
class PairVerdict:
    """The judge's verdict on a pair, from its two readings (AB, then BA).

    ``outcome``: A, B or a tie when both readings were on format (a disagreement is a tie,
    ``agreed`` False); None when either had a problem (then it is not counted)."""

    pair: AnswerPair
    judge: str
    rubric: str
    readings: tuple[JudgeReading, JudgeReading]

    @property
    def problems(self) -> list[JudgeProblem]:
        return [r.problem for r in self.readings if r.problem is not None]

    @property
    def counted(self) -> bool:
        return not self.problems

    @property
    def agreed(self) -> bool:
        """Both readings on format and saying the same, in A/B terms."""
        first, second = (r.side() for r in self.readings)
        return self.counted and first == second

    @property
    def outcome(self) -> Side | None:
        if not self.counted:
            return None
        return self.readings[0].side() if self.agreed else "tie"

    @property
    def winner(self) -> str | None:
        """The winning target's name; None for a tie or an uncounted pair."""
        return {"A": self.pair.a, "B": self.pair.b}.get(self.outcome or "")

    def to_dict(self) -> dict[str, Any]:
        return {"pair": self.pair.to_dict(), "judge": self.judge, "rubric": self.rubric,
                "readings": [r.to_dict() for r in self.readings],
                # Derived, written for a reader of the export; ``from_dict`` recomputes them.
                "outcome": self.outcome, "agreed": self.agreed, "counted": self.counted}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairVerdict:
        first, second = (JudgeReading.from_dict(r) for r in data["readings"])
        return cls(AnswerPair.from_dict(data["pair"]), str(data["judge"]), str(data["rubric"]),
                   (first, second))


@dataclass(frozen=True)
class Grade:
    """The judge's 1-10 grade of one answer; ``score`` None when the reading had a problem."""

    answer: GradedAnswer
    judge: str
    rubric: str
    reading: JudgeReading

    @property
    def score(self) -> int | None:
        if self.reading.problem is not None or self.reading.reply is None:
            return None
        return int(self.reading.reply)

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer.to_dict(), "judge": self.judge, "rubric": self.rubric,
                "reading": self.reading.to_dict(), "score": self.score}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grade:
        return cls(GradedAnswer.from_dict(data["answer"]), str(data["judge"]),
                   str(data["rubric"]), JudgeReading.from_dict(data["reading"]))


@dataclass(frozen=True)
class JudgeSpend:
    """What the judge itself cost and how long it took, over its readings (apart from the
    targets'). ``cost`` is None when any reading has no price (never a silent zero); token
    sums likewise when any count is unknown."""

    readings: int
    problems: int
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    ttft_p50_s: float | None
    e2e_p50_s: float | None
    e2e_total_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeSpend:
        return cls(**data)


def _total(values: Sequence[float | int | None]) -> Any:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else None


def judge_spend(readings: Sequence[JudgeReading]) -> JudgeSpend:
    """The judge's own cost and latency over ``readings``."""
    return JudgeSpend(
        readings=len(readings),
        problems=sum(1 for r in readings if r.problem is not None),
        input_tokens=_total([r.input_tokens for r in readings]),
        output_tokens=_total([r.output_tokens for r in readings]),
        cost=_total([r.cost for r in readings]),
        ttft_p50_s=_median(r.ttft_s for r in readings),
        e2e_p50_s=_median(r.e2e_s for r in readings),
        e2e_total_s=float(sum(r.e2e_s or 0.0 for r in readings)),
    )


@dataclass(frozen=True)
class JudgeReport:
    """A judge's verdicts and grades over a comparison or a prompt set, with the figures a
    reader asks first: how many counted, how often the two orders disagreed, what failed,
    and what the judge cost."""

    judge: str
    rubric: str
    verdicts: tuple[PairVerdict, ...] = ()
    grades: tuple[Grade, ...] = ()

    @property
    def counted(self) -> int:
        return sum(1 for v in self.verdicts if v.counted)

    @property
    def disagreements(self) -> int:
        return sum(1 for v in self.verdicts if v.counted and not v.agreed)

    @property
    def disagreement_rate(self) -> float | None:
        """Of the counted pairs, the share whose two orders disagreed (None: none counted)."""
        return self.disagreements / self.counted if self.counted else None

    @property
    def problems(self) -> list[tuple[str, JudgeProblem]]:
        """Every problem, with what it concerned ("A vs B on '<prompt>'", "A on '<prompt>'")."""
        found = [(f"{v.pair.a} vs {v.pair.b} on {v.pair.prompt[:60]!r} ({r.order})", p)
                 for v in self.verdicts for r in v.readings if (p := r.problem) is not None]
        found += [(f"{g.answer.target} on {g.answer.prompt[:60]!r}", p)
                  for g in self.grades if (p := g.reading.problem) is not None]
        return found

    @property
    def readings(self) -> list[JudgeReading]:
        return [r for v in self.verdicts for r in v.readings] + [g.reading for g in self.grades]

    def spend(self) -> JudgeSpend:
        return judge_spend(self.readings)

    def mean_scores(self) -> dict[str, tuple[float, int]]:
        """Per target: the mean of its counted grades and how many there were."""
        scores: dict[str, list[int]] = {}
        for grade in self.grades:
            if grade.score is not None:
                scores.setdefault(grade.answer.target, []).append(grade.score)
        return {t: (float(np.mean(s)), len(s)) for t, s in scores.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"judge": self.judge, "rubric": self.rubric,
                "verdicts": [v.to_dict() for v in self.verdicts],
                "grades": [g.to_dict() for g in self.grades],
                "counted": self.counted, "disagreements": self.disagreements,
                "disagreement_rate": self.disagreement_rate,
                "problems": [{"about": about, **p.to_dict()} for about, p in self.problems],
                "spend": self.spend().to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JudgeReport:
        return cls(str(data["judge"]), str(data["rubric"]),
                   tuple(PairVerdict.from_dict(v) for v in data.get("verdicts", ())),
                   tuple(Grade.from_dict(g) for g in data.get("grades", ())))


@dataclass
class Judge:
    """A judge model: ``provider`` (with its own key and base URL) answering with
    ``settings`` (its model; a low temperature suits a judge). ``rubric`` replaces
    ``DEFAULT_RUBRIC``. Each reading's run goes to ``on_done`` (the run store), with
    ``page="judge"``; ``timeout_s`` bounds one reading (then it is stopped and reported)."""

    provider: Provider
    settings: Settings
    rubric: str = DEFAULT_RUBRIC
    counter: TokenCounter | None = None
    on_done: Callable[[RunRecord], None] | None = None
    prices: PriceTable | None = None
    timeout_s: float | None = 600.0
    clock: Callable[[], float] = field(default=time.monotonic)

    @property
    def name(self) -> str:
        return group_label(self.provider.id, self.settings.model)

    def compare(self, pair: AnswerPair) -> PairVerdict:
        """Both readings of ``pair`` (AB, then BA) and the verdict they make."""
        system = pair_instructions(self.rubric)
        ab = self._read("AB", system, _pair_prompt(pair.prompt, pair.a_text, pair.b_text),
                        pair.group_id, parse_verdict)
        ba = self._read("BA", system, _pair_prompt(pair.prompt, pair.b_text, pair.a_text),
                        pair.group_id, parse_verdict)
        return PairVerdict(pair, self.name, self.rubric, (ab, ba))

    def grade(self, answer: GradedAnswer) -> Grade:
        """One reading of ``answer`` alone, graded 1-10."""
        reading = self._read("single", grade_instructions(self.rubric),
                             _grade_prompt(answer.prompt, answer.text), answer.group_id,
                             parse_score)
        return Grade(answer, self.name, self.rubric, reading)

    def compare_all(self, pairs: Iterable[AnswerPair]) -> JudgeReport:
        return JudgeReport(self.name, self.rubric, verdicts=tuple(self.compare(p) for p in pairs))

    def grade_all(self, answers: Iterable[GradedAnswer]) -> JudgeReport:
        return JudgeReport(self.name, self.rubric, grades=tuple(self.grade(a) for a in answers))

    def _read(self, order: Order, system: str, body: str, group_id: str | None,
              parse: Callable[[str], tuple[Any, str | None]]) -> JudgeReading:
        counter = self.counter or counter_for(self.provider.id, self.settings.model)
        fit = fit_to_budget([Message("user", body)], _NO_BUDGET, counter, system)
        # Each reading starts cold, so the second order is not read against the first's cache.
        settings = replace(self.settings, system_prompt=system,
                           extra={**self.settings.extra, FRESH_CONTEXT: True})
        pump = new_pump(self.provider, fit.messages, settings, counter=counter,
                        input_tokens=fit.tokens, input_source=counter.source,
                        on_done=self.on_done, clock=self.clock,
                        record_fields={"page": JUDGE_PAGE, "group_id": group_id,
                                       "label": f"judge {order}"})
        pump.start()
        record = pump.wait(self.timeout_s)
        timed_out = record is None
        if timed_out:
            pump.stop()
            record = pump.wait()
        assert record is not None  # a stopped pump always records its run
        problem: JudgeProblem | None = None
        reply: Any = None
        if timed_out:
            problem = JudgeProblem("timeout", f"the judge did not answer within "
                                              f"{self.timeout_s:g} s")
        elif record.status == "error":
            problem = JudgeProblem("error", record.error or "the judge's request failed")
        elif record.status == "stopped":
            problem = JudgeProblem("stopped", "the judge's answer was stopped")
        else:
            reply, why = parse(record.text)
            if why is not None:
                problem = JudgeProblem("off_format", why)
        figures = run_figures(record, self.prices)
        return JudgeReading(order=order, text=record.text,
                            reply=None if reply is None else str(reply), problem=problem,
                            run_id=record.id, ttft_s=figures.ttft_s, e2e_s=figures.e2e_s,
                            input_tokens=figures.input_tokens,
                            output_tokens=figures.output_tokens, cost=figures.cost,
                            thinking=record.reasoning)


def pairs_from_runs(records: Sequence[RunRecord]) -> list[AnswerPair]:
    """The pairs a judge reads in a comparison's (or a prompt set's) runs: within each
    comparison (``group_id``) and prompt, every two targets (labels) whose runs finished, run
    k of one beside run k of the other (rounds of repeats run at about the same moment).
    A target is named ``provider · model``, as the leaderboard names it."""
    groups: dict[tuple[str | None, str], dict[str, list[RunRecord]]] = {}
    for record in sorted(records, key=lambda r: r.created_at):
        if record.status == "ok" and record.text:
            key = (record.group_id, record.prompt)
            groups.setdefault(key, {}).setdefault(record.label, []).append(record)
    pairs: list[AnswerPair] = []
    for (group_id, prompt), by_label in groups.items():
        for first, second in combinations(sorted(by_label), 2):
            for a, b in zip(by_label[first], by_label[second]):
                pairs.append(AnswerPair(prompt, group_label(a.provider, a.model),
                                        group_label(b.provider, b.model), a.text, b.text,
                                        a.id, b.id, group_id))
    return pairs
