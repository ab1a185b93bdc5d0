"""How honest are the app's recorded timings while its process is loaded?

What it measures: for answers streamed through the app's ``POST /chat`` (provider
``openai``), how far the run store's per-chunk timestamps (``chunk_offsets_s``, taken where
the app reads the provider's stream) are from the moments the provider really sent each
chunk, while the same app process is busy with other users.

How:

- A wire server in a process of its own (``testkit/send_log_server.py``) streams
  OpenAI-style SSE answers on a fixed schedule (first chunk 0.2 s after the request arrives,
  then 100 chunks 10 ms apart, then finish + usage + ``[DONE]``) and logs, per request, when
  it received it and when it sent each chunk (``time.monotonic()`` just before and just
  after each write and flush; CLOCK_MONOTONIC is one clock for the whole machine on Linux).
  Its log is keyed by the prompt; each probe's prompt is unique. The send time used is the
  stamp *before* the write (``--stamp after`` for the other): the write wakes the app's
  reader, which can take the server thread's CPU before it stamps again, so on a loaded
  2-core machine the stamp after lands up to milliseconds after the app already had the
  chunk (seen as a negative lag) and its scheduling noise would count as the app's error.
- The app (``testkit/app_server.py``, fresh data dir, fresh process per level) has
  ``OPENAI_BASE_URL`` pointed at it. A probe is sent to ``POST /chat`` every 0.7 s for
  ``--seconds`` (its SSE read to the end), while the load runs on the same app process:
  ``N`` light websocket sessions (``testkit/ws_session.py``, as ``bench/bench_ws_load.py``
  drives them) each chatting with the scripted 100 tok/s model, sending its next prompt as
  soon as its answer ends and the page is idle again; or, for level ``embedded``, the
  embedded model answering ``POST /chat`` requests back to back.
- Each stored probe run (page ``api``, provider ``openai``) is matched to the server's log
  by its prompt; its recorded chunks must be the sent chunks one for one (same count, same
  texts), else it is skipped and counted. Then:

  - ITL error = |recorded gap between chunks i and i+1 - the server's gap between sending
    them|, pooled over every gap of every matched probe (about 100 per probe);
  - TTFT error = recorded TTFT - (server's first chunk sent - server's request received),
    per probe. The recorded TTFT starts at the app's t0, just before the request is made,
    so this error also holds the request's own trip to the server (client setup, connect,
    send), not only the lateness of the timestamp;
  - lag = recorded arrival of chunk i - its send time, per chunk, on one clock: the app's
    t0 is put on the monotonic clock through ``created_at`` (the wall time of t0) and this
    machine's wall-to-monotonic offset. What the two errors above are made of.

- The app's CPU (its main process, and apart its child processes: the engine or the
  embedded model's worker), from /proc, over the probing window, in cores.

Modes: ``CHATLAB_ENGINE=inline`` (streams read in the Streamlit process) and
``CHATLAB_ENGINE=process`` (read by an engine process of its own; an app that does not know
the variable ignores it, and then both modes measure the same thing).

Run::

    .venv/bin/python bench/bench_timing_honesty.py [--sessions 0,20,50,100,embedded]
        [--seconds 20] [--modes inline,process]

Prints a table per mode and level, ``RESULT`` lines, and a last ``RESULT`` comparing the
modes' ITL error p99 at the heaviest session level. Not a test: no timing is asserted. Exit
status 1 when no probe matched, a level matched none, or a level had errors (a probe that
failed, a load session's error, a traceback in the app's log). Bounded: every wait has a
timeout; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testkit.app_server import AppServer, scripted_app_env  # noqa: E402
from testkit.load import LOAD_MODEL, ProcessCpu, descendants, load_script, percentile  # noqa: E402
from testkit.send_log import (UNCERTAIN_S, WireServer, check_chunks,  # noqa: E402
                              wall_minus_monotonic, why_not_comparable)
from testkit.send_log_server import Schedule  # noqa: E402

SCHEDULE = Schedule(first_delay_s=0.2, chunks=100, gap_s=0.01)
PROBE_EVERY_S = 0.7
PROBE_MODEL = "wire-probe"  # not an OpenAI model name: no tiktoken, a labelled estimate
PROBE_TIMEOUT_S = 60.0
WARMUP_PROBES = 2  # the first answer imports the SDK and opens the store: not measured
EMBEDDED = "embedded"
DEFAULT_LEVELS = "0,20,50,100," + EMBEDDED
# The ws load: bench_ws_load's scripted answer (200 chunks at 100 tok/s after 0.1 s).
LOAD_CHUNKS, LOAD_GAP_S, LOAD_FIRST_S = 200, 0.01, 0.1
END_WORD = "Loadend"  # the scripted answer's last chunk (testkit.load)
PROVIDER = "Scripted demo (offline)"
STAGGER_S = 2.0  # first prompts spread over this, so the load is steady, not a herd
SETUP_TIMEOUT_S = 30.0
SETUP_CONCURRENCY = 8
ANSWER_TIMEOUT_S = 60.0
IDLE_TIMEOUT_S = 30.0
EMBEDDED_WARMUP_S = 300.0  # the model's first load, on a loaded 2-core machine


# -- POST /chat clients ------------------------------------------------------------------------
def post_chat(port: int, body: dict[str, Any], timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Send one ``POST /chat`` and read its SSE answer to the end; ``None`` if it ended with
    ``[DONE]``, else what went wrong."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        # No Origin header: a client that is not a browser page, as the API expects.
        conn.request("POST", "/chat", json.dumps(body),
                     {"Content-Type": "application/json", "Connection": "close"})
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
    except OSError as exc:  # refused, reset, timed out
        return f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if resp.status != 200:
        return f"HTTP {resp.status}: {text[:200]}"
    events = [e.strip() for e in text.split("\n\n") if e.strip()]
    if not events or events[-1] != "data: [DONE]":
        return f"no [DONE] at the end: {events[-1][:200] if events else 'no events'}"
    return None


def probe_body(prompt: str) -> dict[str, Any]:
    return {"message": prompt, "conversationHistory": [], "provider": "openai",
            "model": PROBE_MODEL}


def run_probes(port: int, label: str, seconds: float) -> tuple[list[str], list[str]]:
    """A probe every ``PROBE_EVERY_S`` for ``seconds``, each in its own thread (they overlap:
    one answer takes ~1.2 s); waits for all. Returns (prompts sent, errors)."""
    count = max(1, int(seconds / PROBE_EVERY_S))
    prompts = [f"probe {label} #{k:03d}" for k in range(count)]
    errors: list[str] = []
    lock = threading.Lock()

    def one(prompt: str) -> None:
        error = post_chat(port, probe_body(prompt))
        if error:
            with lock:
                errors.append(f"{prompt}: {error}")

    threads = []
    start = time.monotonic()
    for k, prompt in enumerate(prompts):
        # On an absolute schedule: a slow answer does not delay the next probe.
        time.sleep(max(0.0, start + k * PROBE_EVERY_S - time.monotonic()))
        t = threading.Thread(target=one, args=(prompt,), name=f"probe-{k}", daemon=True)
        t.start()
        threads.append(t)
    deadline = time.monotonic() + PROBE_TIMEOUT_S + 10
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        errors.append(f"{stuck} probes still unanswered {PROBE_TIMEOUT_S:.0f} s on")
    return prompts, errors


class EmbeddedLoad:
    """The embedded model answering ``POST /chat`` back to back, in a thread of this process."""

    def __init__(self, port: int, label: str) -> None:
        self.port, self.label = port, label
        self.answers = 0
        self.errors: list[str] = []
        self.first_done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="embedded-load", daemon=True)

    def start(self) -> EmbeddedLoad:
        self._thread.start()
        return self

    def _loop(self) -> None:
        k = 0
        while not self._stop.is_set():
            body = {"message": f"Tell me a long story about a lighthouse keeper ({self.label} "
                               f"{k}).", "conversationHistory": [], "provider": "local",
                    "maxTokens": 256}
            # The first answer loads the model: allow it the warm-up's time.
            error = post_chat(self.port, body, EMBEDDED_WARMUP_S if k == 0 else 120)
            if error:
                self.errors.append(f"embedded answer {k}: {error}")
                self.first_done.set()
                return
            self.answers += 1
            self.first_done.set()
            k += 1

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(150)  # it ends after the answer in flight
        if self._thread.is_alive():
            self.errors.append("the embedded load did not end within 150 s")


# -- the websocket load: a driver process ------------------------------------------------------
@dataclass
class DriverReport:
    ready: int = 0
    answers: int = 0  # answers that ended (their last word arrived)
    errors: list[str] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)  # the driver's event-loop lag


async def _setup(url: str, gate: asyncio.Semaphore) -> Any:
    """A session on the chat page with the scripted load model chosen."""
    from testkit.ws_session import chat_session

    async with gate:
        return await chat_session(url, PROVIDER, LOAD_MODEL, SETUP_TIMEOUT_S)


async def _chat_until(s: Any, index: int, label: str, start_at: float, stop: asyncio.Event,
                      report: DriverReport) -> None:
    """Prompt after prompt until ``stop``: the next one as soon as the answer has ended and
    the page's redraw after it is over (a user who reads fast)."""
    await asyncio.sleep(max(0.0, start_at - time.time()))
    turn = 0
    while not stop.is_set():
        prompt = f"honesty {label} s{index:03d} t{turn:03d} go"
        end = s.watch(END_WORD, below=prompt)
        try:
            end.since = await s.send_chat(prompt, timeout_s=SETUP_TIMEOUT_S)
        except (TimeoutError, OSError, RuntimeError) as exc:
            report.errors.append(f"s{index:03d}: not sent: {type(exc).__name__}: {exc}")
            return
        await s.wait_for(lambda: end.first_t is not None or stop.is_set(), ANSWER_TIMEOUT_S)
        s.unwatch(end)
        if end.first_t is None:
            if not stop.is_set():
                report.errors.append(f"s{index:03d}: no {END_WORD} within "
                                     f"{ANSWER_TIMEOUT_S:.0f} s; {s.closed or ''}")
            return
        report.answers += 1
        if not await s.wait_idle(IDLE_TIMEOUT_S) and not stop.is_set():
            report.errors.append(f"s{index:03d}: the page did not go idle after an answer")
            return
        turn += 1


async def _lag_monitor(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.monotonic()
        await asyncio.sleep(0.05)
        samples.append((time.monotonic() - t - 0.05) * 1000)


async def _drive(conn: Any, url: str, sessions: int, label: str) -> None:
    loop = asyncio.get_running_loop()
    report = DriverReport()
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    results = await asyncio.gather(*(_setup(url, gate) for _ in range(sessions)),
                                   return_exceptions=True)
    ready = []
    for i, r in enumerate(results):
        if isinstance(r, BaseException):
            report.errors.append(f"s{i:03d}: setup failed: {type(r).__name__}: {r}")
        else:
            ready.append(r)
    report.ready = len(ready)
    conn.send(("ready", report.ready))
    go_at = await loop.run_in_executor(None, conn.recv)
    stop = asyncio.Event()
    lag = asyncio.create_task(_lag_monitor(report.lag_ms, stop))
    chats = [asyncio.create_task(_chat_until(s, i, label, go_at + STAGGER_S * i / len(ready),
                                             stop, report)) for i, s in enumerate(ready)]
    await loop.run_in_executor(None, conn.recv)  # "stop"
    stop.set()
    done, pending = await asyncio.wait(chats, timeout=IDLE_TIMEOUT_S)
    for t in pending:
        t.cancel()
    for t in done:
        if t.exception() is not None:
            report.errors.append(f"a session failed: {t.exception()!r}")
    await lag
    for i, s in enumerate(ready):
        report.errors.extend(f"s{i:03d}: {e}" for e in s.errors)
    conn.send(("done", report))
    await asyncio.gather(*(s.close() for s in ready), return_exceptions=True)


def _driver_main(conn: Any, url: str, sessions: int, label: str) -> None:
    try:
        asyncio.run(_drive(conn, url, sessions, label))
    except BaseException as exc:  # said, so the coordinator does not wait for nothing
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise


class WsLoad:
    """``sessions`` websocket sessions chatting continuously, from a driver process (never in
    this one: the probes' threads and the sessions' event loop stay apart)."""

    def __init__(self, url: str, sessions: int, label: str) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_driver_main, args=(child, url, sessions, label),
                                daemon=True, name="honesty-ws-driver")
        self.sessions = sessions
        self.report = DriverReport()

    def _recv(self, want: str, timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.conn.poll(0.5):
                kind, value = self.conn.recv()
                if kind != want:
                    raise RuntimeError(f"the ws driver said {kind!r}: {value}")
                return value
            if not self.proc.is_alive():
                raise RuntimeError(f"the ws driver exited ({self.proc.exitcode})")
        raise TimeoutError(f"no {want!r} from the ws driver within {timeout_s:.0f} s")

    def start(self) -> WsLoad:
        """Open and set up the sessions, then let them chat; returns once every session has
        sent its first prompt (the load is on)."""
        self.proc.start()
        ready = self._recv("ready", 60 + 2.0 * self.sessions)
        if ready < self.sessions:
            raise RuntimeError(f"only {ready} of {self.sessions} sessions could be set up")
        self.conn.send(time.time() + 0.2)
        time.sleep(0.2 + STAGGER_S + 0.5)
        return self

    def stop(self) -> DriverReport:
        self.conn.send("stop")
        self.report = self._recv("done", IDLE_TIMEOUT_S + 30)
        return self.report

    def close(self) -> None:
        self.proc.join(15)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


# -- one level ---------------------------------------------------------------------------------
@dataclass
class Level:
    mode: str
    name: str  # a session count, or "embedded"
    probes: int = 0  # sent
    matched: int = 0
    skipped: list[str] = field(default_factory=list)  # stored runs not matched, and why
    itl_err_ms: list[float] = field(default_factory=list)  # |recorded gap - sent gap|
    ttft_err_ms: list[float] = field(default_factory=list)  # per probe
    lag_ms: list[float] = field(default_factory=list)  # recorded arrival - sent, per chunk
    trip_ms: list[float] = field(default_factory=list)  # app t0 -> server received
    early_chunks: int = 0  # recorded before the server's send stamp (a late stamp)
    stamp_spread_max_ms: float = 0.0  # the server's longest write (its stamps' uncertainty)
    uncertain_sends: int = 0  # chunks whose write took over UNCERTAIN_S, stamp to stamp
    server_late_max_ms: float = 0.0  # the server's worst lateness against its schedule
    app_cores: float = 0.0
    child_cores: float = 0.0  # the app's child processes (engine, model worker)
    # Answers the load finished: embedded, while probing; ws sessions, from their first
    # prompts (STAGGER_S before the probes) to the stop after them.
    load_answers: int = 0
    driver_lag_p99_ms: float | None = None
    errors: list[str] = field(default_factory=list)
    load_avg: float = 0.0

    def p(self, values: list[float], q: float) -> float:
        return percentile(values, q) if values else float("nan")


def app_env(data: Path, wire: WireServer, mode: str) -> dict[str, str]:
    return {**scripted_app_env(data, {LOAD_MODEL: load_script(LOAD_CHUNKS, LOAD_GAP_S,
                                                                LOAD_FIRST_S)}),
            "OPENAI_BASE_URL": wire.base_url, "OPENAI_API_KEY": "sk-test",
            "CHATLAB_API_RATE_PER_MINUTE": "0",  # a probe every 0.7 s is over the default 60
            "CHATLAB_ENGINE": mode}


def run_level(mode: str, name: str, seconds: float, root: Path, wire: WireServer,
              stamp: str = "before") -> Level:
    """A fresh app on a fresh data dir, the load on, probes for ``seconds``, everything
    stopped; the probes matched to the wire server's log."""
    from chatlib.store import RunStore  # here: the ws driver process never needs it

    level = Level(mode, name)
    label = f"{mode}-{name}"
    data = root / label
    app = AppServer(app_env(data, wire, mode))
    ws: WsLoad | None = None
    embedded: EmbeddedLoad | None = None
    prompts: list[str] = []
    try:
        app.start()
        for k in range(WARMUP_PROBES):  # sequential, before any load: imports, first store
            error = post_chat(app.port, probe_body(f"warmup {label} #{k}"))
            if error:
                level.errors.append(f"warm-up probe: {error}")
        if name == EMBEDDED:
            embedded = EmbeddedLoad(app.port, label).start()
            if not embedded.first_done.wait(EMBEDDED_WARMUP_S + 10):
                level.errors.append("the embedded model's first answer did not end")
        elif int(name) > 0:
            ws = WsLoad(app.url, int(name), label)
            ws.start()
        assert app.proc is not None
        app_cpu = ProcessCpu([app.proc.pid]).start()
        # The engine or model worker, started by now (the warm-up probes and load ran).
        child_cpu = ProcessCpu(descendants(app.proc.pid)).start()
        answers_before = embedded.answers if embedded else 0
        prompts, probe_errors = run_probes(app.port, label, seconds)
        level.app_cores, level.child_cores = app_cpu.stop(), child_cpu.stop()
        level.load_avg = os.getloadavg()[0]
        level.probes = len(prompts)
        level.errors += probe_errors
        log = app.log()  # before the load stops: closing sockets is not the level's business
        if "Traceback" in log:
            level.errors.append("traceback in the app's log: "
                                + log[log.index("Traceback"):][:600])
        if embedded is not None:
            level.load_answers = embedded.answers - answers_before
            embedded.stop()
            level.errors += embedded.errors
        if ws is not None:
            report = ws.stop()
            level.load_answers = report.answers
            level.errors += report.errors
            level.driver_lag_p99_ms = percentile(report.lag_ms, 99) if report.lag_ms else None
    except (RuntimeError, TimeoutError, OSError) as exc:
        level.errors.append(f"level aborted: {type(exc).__name__}: {exc}")
    finally:
        if embedded is not None:
            embedded.stop()  # a no-op when it was stopped already
        if ws is not None:
            ws.close()
        app.stop()
    store = RunStore(str(data / "runs.sqlite3"))
    try:
        match_probes(level, prompts, store, wire.log(), wall_minus_monotonic(), stamp)
    finally:
        store.close()
    if prompts and not level.matched:
        level.errors.append("no probe matched")
    return level


def match_probes(level: Level, prompts: list[str], store: Any,
                 wire_log: dict[str, list[dict[str, Any]]], offset: float,
                 stamp: str = "before") -> None:
    """Match each probe's stored run to what the server sent; fill ``level``'s figures.
    ``stamp``: the server's stamp taken as the send time, "before" or "after" the write."""
    from chatlib.store import RunFilter

    runs = store.runs(RunFilter(pages=("api",), providers=("openai",), prompts=tuple(prompts)))
    by_prompt = {p: list(g["id"]) for p, g in runs.groupby("prompt")}
    for prompt in prompts:
        sent = wire_log.get(prompt, [])
        ids = by_prompt.get(prompt, [])
        # One request and one stored run: a retried request would pair the wrong stream.
        if len(sent) != 1 or len(ids) != 1:
            level.skipped.append(f"{prompt}: {len(sent)} requests at the server, "
                                 f"{len(ids)} runs stored")
            continue
        entry, run = sent[0], store.get(ids[0])
        why = why_not_comparable(run.status if run else None,
                                 run.chunk_texts if run else [], entry)
        if run is None or why:
            level.skipped.append(f"{prompt}: {why}")
            continue
        check = check_chunks(run.chunk_offsets_s, run.created_at, entry, offset, stamp)
        level.matched += 1
        level.itl_err_ms += [v * 1000 for v in check.itl_err_s]
        level.ttft_err_ms.append(check.ttft_err_s * 1000)
        level.lag_ms += [v * 1000 for v in check.lag_s]
        level.early_chunks += check.early
        level.trip_ms.append(check.trip_s * 1000)
        level.uncertain_sends += check.uncertain_sends
        level.stamp_spread_max_ms = max(level.stamp_spread_max_ms, max(check.write_s) * 1000)
        level.server_late_max_ms = max(level.server_late_max_ms, check.server_late_s * 1000)


# -- printing ----------------------------------------------------------------------------------
HEADER = (f"{'mode':8} {'level':>8} {'probes':>7} {'skip':>4} {'ITL err p50':>11} "
          f"{'p99':>6} {'max':>7} {'TTFT err p50':>12} {'p99':>7} {'lag p99':>7} "
          f"{'app cores':>9} {'children':>8} {'load ans':>8} {'errors':>6}")


def _f(value: float, width: int, digits: int = 2) -> str:
    return f"{value:{width}.{digits}f}"


def table_row(lv: Level) -> str:
    return (f"{lv.mode:8} {lv.name:>8} {f'{lv.matched}/{lv.probes}':>7} {len(lv.skipped):>4} "
            f"{_f(lv.p(lv.itl_err_ms, 50), 11)} {_f(lv.p(lv.itl_err_ms, 99), 6)} "
            f"{_f(max(lv.itl_err_ms, default=float('nan')), 7)} "
            f"{_f(lv.p(lv.ttft_err_ms, 50), 12)} {_f(lv.p(lv.ttft_err_ms, 99), 7)} "
            f"{_f(lv.p(lv.lag_ms, 99), 7)} {_f(lv.app_cores, 9)} {_f(lv.child_cores, 8)} "
            f"{lv.load_answers:>8} {len(lv.errors):>6}")


def detail_lines(lv: Level) -> list[str]:
    lag = f", ws driver loop lag p99 {lv.driver_lag_p99_ms:.0f} ms" \
        if lv.driver_lag_p99_ms is not None else ""
    lines = [f"    {lv.mode} {lv.name}: request trip (app t0 -> server received) p50 "
             f"{lv.p(lv.trip_ms, 50):.2f} ms, p99 {lv.p(lv.trip_ms, 99):.2f} ms; lag p50 "
             f"{lv.p(lv.lag_ms, 50):.2f} ms, min {min(lv.lag_ms, default=float('nan')):.2f} "
             f"ms ({lv.early_chunks} chunks recorded before their send stamp); server writes "
             f"took up to {lv.stamp_spread_max_ms:.2f} ms (stamp to stamp; "
             f"{lv.uncertain_sends} of {len(lv.lag_ms)} over {UNCERTAIN_S * 1000:.0f} ms), "
             f"sends up "
             f"to {lv.server_late_max_ms:.1f} ms behind schedule; load average "
             f"{lv.load_avg:.2f}{lag}"]
    if lv.load_avg > (os.cpu_count() or 1):
        # The app shares the cores with work not ours: its stalls are partly the machine's.
        lines.append(f"    NOTE load average {lv.load_avg:.1f} over {os.cpu_count()} cores: other "
                     "work on the machine; compare this level with care")
    lines += [f"    SKIPPED {s}" for s in lv.skipped[:5]]
    lines += [f"    ERROR {e[:300]}" for e in lv.errors[:8]]
    return lines


def result_line(lv: Level) -> str:
    return (f"RESULT mode={lv.mode} sessions={lv.name} probes={lv.matched} "
            f"skipped={len(lv.skipped)} itl_err_p50_ms={lv.p(lv.itl_err_ms, 50):.2f} "
            f"itl_err_p99_ms={lv.p(lv.itl_err_ms, 99):.2f} "
            f"itl_err_max_ms={max(lv.itl_err_ms, default=float('nan')):.2f} "
            f"ttft_err_p50_ms={lv.p(lv.ttft_err_ms, 50):.2f} "
            f"ttft_err_p99_ms={lv.p(lv.ttft_err_ms, 99):.2f} "
            f"lag_p99_ms={lv.p(lv.lag_ms, 99):.2f} app_cores={lv.app_cores:.2f} "
            f"child_cores={lv.child_cores:.2f} errors={len(lv.errors)}")


def compare_line(levels: list[Level], modes: list[str]) -> str:
    """Process vs inline ITL error p99 at the heaviest session level both ran."""
    counts = [int(lv.name) for lv in levels if lv.name != EMBEDDED]
    name = str(max(counts)) if counts else EMBEDDED
    at = {lv.mode: lv for lv in levels if lv.name == name}
    parts = [f"{m}_itl_err_p99_ms={at[m].p(at[m].itl_err_ms, 99):.2f} "
             f"{m}_itl_err_max_ms={max(at[m].itl_err_ms, default=float('nan')):.2f}"
             for m in modes if m in at]
    ratio = ""
    if "inline" in at and "process" in at:
        inline, process = at["inline"].p(at["inline"].itl_err_ms, 99), \
            at["process"].p(at["process"].itl_err_ms, 99)
        ratio = f" process_over_inline={process / inline:.2f}" if inline > 0 else ""
    return f"RESULT compare worst_load sessions={name} {' '.join(parts)}{ratio}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default=DEFAULT_LEVELS,
                    help=f"levels, comma-separated: ws session counts and/or '{EMBEDDED}' "
                    f"(default {DEFAULT_LEVELS})")
    ap.add_argument("--seconds", type=float, default=20.0, help="probing time per level")
    ap.add_argument("--modes", default="inline,process", help="CHATLAB_ENGINE values")
    ap.add_argument("--stamp", choices=("before", "after"), default="before",
                    help="the server's send time: its stamp before the write (default) or "
                    "after the write and flush")
    args = ap.parse_args(argv)
    names = [v.strip() for v in args.sessions.split(",") if v.strip()]
    for v in names:
        if v != EMBEDDED and not v.isdigit():
            ap.error(f"--sessions takes counts and '{EMBEDDED}', not {v!r}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    root = Path(tempfile.mkdtemp(prefix="chatlab-honesty-"))
    print(f"timing honesty: probes through POST /chat every {PROBE_EVERY_S} s for "
          f"{args.seconds:.0f} s per level (answer: first chunk at "
          f"{SCHEDULE.first_delay_s * 1000:.0f} ms, then {SCHEDULE.chunks} chunks "
          f"{SCHEDULE.gap_s * 1000:.0f} ms apart; send time: the stamp {args.stamp} the "
          f"write); levels {','.join(names)}; modes "
          f"{','.join(modes)}; {os.cpu_count()} cores; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; data under {root}", flush=True)
    wire = WireServer(root / "wire-sends.jsonl", SCHEDULE).start()
    levels: list[Level] = []
    try:
        for mode in modes:
            for name in names:
                lv = run_level(mode, name, args.seconds, root, wire, args.stamp)
                levels.append(lv)
                print(f"  done {mode} {name}: {lv.matched}/{lv.probes} probes matched, "
                      f"{len(lv.errors)} errors", flush=True)
    finally:
        wire.stop()
    for mode in modes:
        print(f"\nCHATLAB_ENGINE={mode} (errors and lag in ms; cores = CPU-s / wall-s over "
              f"the probing window)")
        print(HEADER)
        for lv in (lv for lv in levels if lv.mode == mode):
            print(table_row(lv))
        for lv in (lv for lv in levels if lv.mode == mode):
            for line in detail_lines(lv):
                print(line)
    print(f"\nload average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for lv in levels:
        print(result_line(lv))
    print(compare_line(levels, modes), flush=True)
    failed = [lv for lv in levels if lv.errors or not lv.matched]
    if failed or not sum(lv.matched for lv in levels):
        print(f"FAILED: {', '.join(f'{lv.mode} {lv.name}' for lv in failed)} had errors or "
              f"no matched probe", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
