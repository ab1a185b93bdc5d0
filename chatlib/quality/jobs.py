"""A judge at work on a comparison or a prompt-set run, in a thread of its own, and kept
when it is done.

``JudgeJobs.start`` reads the finished runs into pairs (``pairs_from_runs``:
run k of one target beside run k of another) or answers to grade, and has the judge read
them one after another; a rerun or a page switch leaves it working (the page polls
``job.progress``). The judge's own requests are stored as runs (page ``judge``) as each
ends; its verdicts, with its reasoning, are stored with the comparison (``JudgementStore``)
when it has read them all. One job per comparison (or prompt-set run) at a time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from chatlib.quality.judge import GradedAnswer, Judge, JudgeReport, pairs_from_runs
from chatlib.runs.record import RunRecord
from chatlib.stats.summary import group_label
from chatlib.store.judgements import JudgementStore, StoredJudgement

__all__ = ["JudgeJob", "JudgeJobs", "answers_from_runs"]

log = logging.getLogger(__name__)


def answers_from_runs(records: Sequence[RunRecord]) -> list[GradedAnswer]:
    """Every finished answer, to grade one by one."""
    return [GradedAnswer(r.prompt, group_label(r.provider, r.model), r.text, r.id, r.group_id)
            for r in sorted(records, key=lambda r: r.created_at)
            if r.status == "ok" and r.text]


@dataclass
class JudgeJob:
    """One judge reading one comparison's answers."""

    subject_id: str
    subject_kind: str  # "comparison" | "prompt_set"
    judge: Judge
    mode: str  # "pairwise" | "grade"
    total: int
    done: int = 0
    report: JudgeReport | None = None
    error: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def progress(self) -> float:
        return self.done / self.total if self.total else 1.0


class JudgeJobs:
    """The judge jobs of one user in this process."""

    def __init__(self, store: JudgementStore) -> None:
        self.store = store
        self._jobs: dict[str, JudgeJob] = {}
        self._lock = threading.Lock()

    def running(self, subject_id: str) -> JudgeJob | None:
        with self._lock:
            job = self._jobs.get(subject_id)
        return job if job is not None and not job.finished.is_set() else None

    def start(self, subject_id: str, records: Sequence[RunRecord], judge: Judge,
              mode: str, subject_kind: str = "comparison") -> JudgeJob:
        """Judge the runs of ``subject_id`` (a comparison, or a prompt-set run: its cases'
        runs); ``ValueError`` when there is nothing to judge, or a job is at work on it."""
        items: Sequence[object] = (pairs_from_runs(records) if mode == "pairwise"
                                   else answers_from_runs(records))
        if not items:
            raise ValueError("Nothing to judge: a pairwise judge needs two targets with "
                             "finished answers (grading needs one).")
        job = JudgeJob(subject_id, subject_kind, judge, mode, len(items))
        with self._lock:
            busy = self._jobs.get(subject_id)
            if busy is not None and not busy.finished.is_set():
                raise ValueError("A judge is already at work on this comparison.")
            self._jobs[subject_id] = job
        threading.Thread(target=self._work, args=(job, items), name=f"judge-{job.id[:8]}",
                         daemon=True).start()
        return job

    def _work(self, job: JudgeJob, items: Sequence[object]) -> None:
        judge = job.judge
        try:
            if job.mode == "pairwise":
                verdicts = []
                for pair in items:
                    verdicts.append(judge.compare(pair))  # type: ignore[arg-type]
                    job.done += 1
                job.report = JudgeReport(judge.name, judge.rubric, verdicts=tuple(verdicts))
            else:
                grades = []
                for answer in items:
                    grades.append(judge.grade(answer))  # type: ignore[arg-type]
                    job.done += 1
                job.report = JudgeReport(judge.name, judge.rubric, grades=tuple(grades))
            self.store.add(StoredJudgement(job.id, time.time(), job.subject_kind, job.subject_id,
                                           judge.name, job.mode, job.report.to_dict()))
        except Exception as exc:  # shown on the page; the comparison is untouched
            log.exception("judging %s failed", job.subject_id)
            job.error = f"The judge stopped on an unexpected fault: {exc}"
        finally:
            job.finished.set()
