"""Prompt sets on the Compare page: upload a CSV or JSONL of prompts (with optional checks),
run it against the targets picked in the sidebar × the runs per target, watch its progress,
then read the grid (prompt × target: checks passed, TTFT, tok/s, cost) and download the
report. The run is ``chatlib.evals.runner.run_prompt_set`` in a thread of its own, so a rerun
or a page switch leaves it running; the URL names it (``?prompt_set=<id>``) and a stored
one reopens from there."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import streamlit as st

from chatlib.core.text import count_of
from chatlib.compare.comparison import SharedSettings, TargetSpec
from chatlib.evals.runner import PromptSetRun, grid, open_prompt_set, run_prompt_set
from chatlib.reports.html import prompt_set_report
from chatlib.evals.prompt_sets import MAX_PROMPT_SET_MB, MAX_PROMPTS, PromptCase, parse_prompt_set
from ui.judge_view import show_judge
from ui.plain_text import markdown_literal
from ui.resources import run_store

__all__ = ["prompt_set_panel"]

_SESSION_KEY = "_chatlab_prompt_set"
_URL_KEY = "prompt_set"
_POLL_S = 0.2


@dataclass
class _Job:
    """A prompt set running in its own thread (or reopened: ``thread`` is None)."""

    total: int
    stop: threading.Event = field(default_factory=threading.Event)
    run: PromptSetRun | None = None
    error: str | None = None
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.thread is None or not self.thread.is_alive()


def _start(cases: list[PromptCase], specs: Sequence[TargetSpec], shared: SharedSettings,
           repeat: int, source: str) -> _Job:
    job = _Job(total=len(cases))
    targets = [(f"{s.provider.id}:{s.model}", s) for s in specs]
    started = threading.Event()

    def on_start(run: PromptSetRun) -> None:
        job.run = run
        started.set()

    def work() -> None:
        try:
            run_prompt_set(cases, targets, store=run_store(), repeat=repeat, shared=shared,
                           source=source, on_start=on_start, stop=job.stop)
        except Exception as exc:  # shown on the page, never a traceback
            job.error = str(exc)
        finally:
            started.set()

    job.thread = threading.Thread(target=work, name="chatlib-prompt-set", daemon=True)
    job.thread.start()
    started.wait(10)  # the run is stored (it has its id) before the page names it
    return job


def _stop(job: _Job) -> None:
    job.stop.set()
    if job.run is not None and job.run.cases:
        job.run.cases[-1].comparison.stop()


def _current() -> _Job | None:
    wanted = st.query_params.get(_URL_KEY)
    job: _Job | None = st.session_state.get(_SESSION_KEY)
    if wanted and (job is None or job.run is None or job.run.id != wanted):
        run = open_prompt_set(run_store(), wanted)
        if run is None:
            st.warning("There is no prompt set with that id here.", icon="⚠️")
            del st.query_params[_URL_KEY]
            return None
        job = _Job(total=len(run.cases), run=run)
        st.session_state[_SESSION_KEY] = job
    return job


def prompt_set_panel(specs: Sequence[TargetSpec], shared: SharedSettings, repeat: int,
                     ready: bool, per_minute: int) -> None:
    """The prompt-set section: upload and run (``ready``: the sidebar's targets are all
    valid), progress while it runs, the grid and the report once it ended. A set that would
    send paid providers more than ``per_minute`` requests (the session's limit; 0: none) is
    refused, as a comparison is."""
    job = _current()
    with st.expander("Prompt set: many prompts, with checks", expanded=job is not None):
        upload = st.file_uploader(
            "A CSV (header row) or JSONL of prompts", type=["csv", "jsonl", "ndjson"],
            # No max_upload_size: the browser would only redden the file's chip, its reason
            # in a tooltip; refused here, the message below says the limit.
            key="prompt_set_file",
            help="Fields: prompt (required), id, contains, regex, max_ttft_ms, max_e2e_ms, "
            "system_prompt. Each prompt runs on every target, as many times as Runs per "
            f"target says. UTF-8 text, at most {MAX_PROMPT_SET_MB} MB and {MAX_PROMPTS:,} "
            "prompts.")
        cases: list[PromptCase] = []
        if upload is not None:
            try:
                cases = parse_prompt_set(upload.getvalue(), upload.name)
            except ValueError as exc:
                st.error(str(exc), icon="⚠️")
            else:
                st.caption(f"{count_of(len(cases), 'prompt')} × {count_of(len(specs), 'target')} × "
                           f"{count_of(repeat, 'run')} = "
                           f"{len(cases) * len(specs) * repeat} answers.")
        paid = len(cases) * repeat * sum(bool(s.provider.paid) for s in specs)
        if per_minute and paid > per_minute:
            st.error(f"This prompt set would send {paid} requests to paid providers, more than "
                     f"your limit of {per_minute} a minute: fewer prompts or runs, or raise the "
                     "limit.", icon="⚠️")
            cases = []
        running = job is not None and not job.done
        if st.button("Run the prompt set", icon="▶️", key="run_prompt_set",
                     disabled=not cases or not ready or running):
            job = _start(cases, specs, shared, repeat, upload.name if upload else "")
            st.session_state[_SESSION_KEY] = job
            if job.run is not None:
                st.query_params[_URL_KEY] = job.run.id
        if job is not None:
            _show(job)


def _show(job: _Job) -> None:
    if job.error:
        st.error(job.error, icon="⚠️")
    if not job.done:
        st.button("Stop the prompt set", icon="⏹️", key="stop_prompt_set", on_click=_stop,
                  args=(job,))
        bar = st.progress(0.0)
        while not job.done:
            finished = sum(c.comparison.done for c in job.run.cases) if job.run else 0
            bar.progress(finished / max(1, job.total), text=f"{finished} of {job.total} prompts")
            time.sleep(_POLL_S)
            st.session_state.get("_chatlab_tick")  # a yield point: a Stop or rerun lands here
        st.rerun()  # ended in this run: draw the grid
    run = job.run
    if run is None:
        return
    results = run.results()
    total = sum(len(r.checks) for r in results)
    passed = sum(c.passed for r in results for c in r.checks)
    verdict = "✅ every check passed" if run.passed else (
        "⏹ stopped before the end" if run.stopped else f"❌ {passed} of {total} checks passed")
    st.markdown(f"**{verdict}** · {count_of(len(run.cases), 'prompt')} · targets: "
                + ", ".join(markdown_literal(t) for t in run.targets))
    st.dataframe(grid(run), hide_index=True, width="stretch")
    st.download_button("Report (HTML)", lambda: prompt_set_report(run),
                       f"prompt-set-{run.id[:8]}.html", "text/html", on_click="ignore", icon="📥")
    if job.done and not run.stopped:
        show_judge(run.id, [r for case in run.cases for t in case.comparison.targets
                            for r in t.records], subject_kind="prompt_set", key="psjudge_")
