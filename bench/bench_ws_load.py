"""Load without browsers: N light websocket clients (``testkit.ws_session``) chat with the
app at once, the scripted provider streaming 200-token answers at 100 tok/s (issue 15).

Goal: at 100 sessions on 2 cores, 0 errors, 0 stuck, server-side TTFT overhead p95 <= 50 ms;
report the CPU per answer and, with ``--sweep``, the session count where p95 passes 100 ms.

Each session speaks Streamlit's own protocol on ``/_stcore/stream`` as a page would: it
loads the chat page, chooses "Scripted demo (offline)" and ``LOAD_MODEL`` in the sidebar,
then sends ``turns`` prompts (unique text per session and turn). A steady load, not a
thundering herd: the sessions are opened and set up first; then their first prompts start
staggered over ``STAGGER_S`` (2 s), and after each answer (and the page's redraw after it)
a session waits a seeded random think time (0.5-1.5 s) before its next prompt.

Per answer, on ``time.time()`` of this one machine (no clock sync needed):

- TTFT overhead = first ForwardMsg with "Loadstart" under this prompt received - the BackMsg
  carrying the prompt sent - the script's 0.1 s first delay: the prompt's script run, the
  rerun, the provider thread's start and Streamlit's send, as the websocket delivers them;
- split: sent -> the provider's first byte (the store's ``created_at + ttft_s``) - 0.1 s
  ("dispatch"), and the provider's first byte -> first text frame received ("delivery");
- errors: an exception element or ``st.error`` alert received, an answer without
  "Loadend" or whose last text lacks the whole answer, a stored run that is not exactly one
  ``ok`` run with the full response and 200 chunks, a traceback in the server log (read
  before the sessions close), a websocket closed early, a session that could not be set up;
- stuck: after the answer ends, the session's script does not go idle (``script_finished``
  and not running, for 0.3 s) within 30 s, or a "Stop" button is still drawn;
- CPU over the load phase (first prompt to last answer): the Streamlit server process (with
  ``--replicas``, the sum over all of them) and, apart, the driver processes; reported in
  cores and CPU-ms per answer. PostgreSQL's own processes are not counted.

The sessions run in ``--drivers`` separate processes (one asyncio loop each; default 1),
never in the process that starts the server; each driver also reports its event-loop lag
(how late a 50 ms sleep wakes), so a reader can see whether the driver delayed receipts.

``--replicas N`` (default 1) runs N app processes on one PostgreSQL database, as README's
"Running for a team" describes (on SQLite a replica would mark another replica's live answer
as cut off): one throwaway server (``testkit.postgres``) for the whole run, a fresh database
per level, each replica with its own data dir and ``CHATLAB_DATABASE_URL``. Session i talks
to replica i % N all along, as behind a sticky load balancer; the stored runs are read from
that database, and every replica's log is checked for tracebacks.

Run: ``.venv/bin/python bench/bench_ws_load.py [--sessions 100] [--turns 3] [--replicas N]``
(one level, after a 1-session baseline on the same replicas), or ``--sweep [N,N,...]``
(default 5,10,15,20,30,50,100,150; a fresh app and data dir per level; one line per level,
then where p95 passes 100 ms).
Exit status 1 when any error or stuck session occurred.
Bounded: every wait has a timeout; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testkit.app_server import AppServer, scripted_app_env  # noqa: E402
from testkit.load import (  # noqa: E402
    LOAD_MODEL, ProcessCpu, expected_answer, load_script, percentile, summary_ms,
)
from testkit.postgres import PostgresServer  # noqa: E402

CHUNKS, GAP_S, FIRST_DELAY_S = 200, 0.01, 0.1
FIRST_WORD, END_WORD = "Loadstart", "Loadend"  # testkit.load's first and last chunks
PROVIDER = "Scripted demo (offline)"
STAGGER_S = 2.0
THINK_S = (0.5, 1.5)
ANSWER_TIMEOUT_S = 60.0  # prompt sent -> "Loadend" received
STUCK_TIMEOUT_S = 30.0  # answer ended -> script idle
SETUP_TIMEOUT_S = 30.0  # per step of a session's setup
SETUP_CONCURRENCY = 8  # sessions being set up at once, per driver
DEFAULT_SWEEP = (5, 10, 15, 20, 30, 50, 100, 150)
BASELINE_TURNS = 5
_DATABASES = itertools.count()  # a fresh PostgreSQL database per level


@dataclass
class Answer:
    """One prompt of one session, as the driver saw it (times: ``time.time()``)."""

    session: int
    turn: int
    prompt: str
    sent: float
    first: float | None = None  # first frame with FIRST_WORD under the prompt
    end: float | None = None  # first frame with END_WORD under the prompt
    first_run: int = -1  # the session's script run counts of those frames
    end_run: int = -1
    frames: int = 0  # deltas under the prompt with FIRST_WORD (one per streamed update)
    complete: bool = False  # the last text shown under the prompt holds the whole answer
    stuck: bool = False
    stuck_state: str = ""  # what the session showed, when stuck
    error: str | None = None


@dataclass
class DriverReport:
    answers: list[Answer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)
    chat_ids: list[str] = field(default_factory=list)  # the ?chat= each session ended on
    ready: int = 0  # sessions set up
    messages: int = 0
    refs: int = 0  # of which references to cached elements
    bytes: int = 0
    lag_ms: list[float] = field(default_factory=list)  # event-loop lag samples


def prompt_text(label: str, session: int, turn: int) -> str:
    return f"wsload {label} s{session:03d} t{turn:02d} go"


def _session_marker(label: str, session: int) -> str:
    return f"wsload {label} s{session:03d} "


# -- the driver (runs in its own process) ----------------------------------------------------
async def _setup(url: str, index: int, gate: asyncio.Semaphore) -> Any:
    from testkit.ws_session import chat_session

    async with gate:
        return await chat_session(url, PROVIDER, LOAD_MODEL, SETUP_TIMEOUT_S)


async def _converse(s: Any, index: int, cfg: dict[str, Any], start_at: float,
                    answer: str, others: list[str]) -> list[Answer]:
    rng = random.Random(cfg["seed"] * 100_003 + index)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    # Another session's prompt in the chat drawn on this socket (the main area: the sidebar's
    # chat list shows every stored chat, whoever asked).
    foreign = [s.watch(m, root=0) for m in others]
    out: list[Answer] = []
    for turn in range(cfg["turns"]):
        prompt = prompt_text(cfg["label"], index, turn)
        first = s.watch(FIRST_WORD, below=prompt)
        end = s.watch(END_WORD, below=prompt)
        try:
            sent = await s.send_chat(prompt, timeout_s=SETUP_TIMEOUT_S)
        except (TimeoutError, OSError, RuntimeError) as exc:
            out.append(Answer(index, turn, prompt, time.time(),
                              error=f"not sent: {type(exc).__name__}: {exc}"))
            break
        first.since = end.since = sent
        a = Answer(index, turn, prompt, sent)
        out.append(a)
        await s.wait_for(lambda: end.first_t is not None, ANSWER_TIMEOUT_S)
        a.first, a.end, a.first_run, a.end_run = first.first_t, end.first_t, first.run, end.run
        a.frames = first.hits
        if a.end is None:
            a.error = (f"no {END_WORD} within {ANSWER_TIMEOUT_S:.0f} s "
                       f"(first text {'seen' if a.first else 'never seen'}); {s.closed or ''}")
        idle = await s.wait_idle(STUCK_TIMEOUT_S)
        a.complete = answer in end.last_text
        if a.end is not None and not a.complete:
            a.error = f"the last text under the prompt is not the whole answer: " \
                      f"...{end.last_text[-60:]!r}"
        a.stuck = not idle or s.widget("button", "Stop") is not None
        if a.stuck:
            a.stuck_state = (f"script running {s.running}, last finish {s.last_finish}, "
                             f"Stop drawn {s.widget('button', 'Stop') is not None}")
        s.unwatch(first)
        s.unwatch(end)
        if s.closed is not None:
            break
        if turn + 1 < cfg["turns"]:
            await asyncio.sleep(rng.uniform(*THINK_S))
    for w in foreign:
        if w.first_t is not None:
            s.errors.append(f"another session's prompt arrived here: {w.last_text[:80]!r}")
        s.unwatch(w)
    return out


async def _lag_monitor(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.monotonic()
        await asyncio.sleep(0.05)
        samples.append((time.monotonic() - t - 0.05) * 1000)


async def _drive(conn: Any, cfg: dict[str, Any], indices: list[int]) -> None:
    loop = asyncio.get_running_loop()
    report = DriverReport()
    stop = asyncio.Event()
    lag = asyncio.create_task(_lag_monitor(report.lag_ms, stop))
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    answer = expected_answer(load_script(cfg["chunks"], GAP_S, FIRST_DELAY_S))
    urls = cfg["urls"]  # session i -> replica i % N, sticky
    results = await asyncio.gather(*(_setup(urls[i % len(urls)], i, gate) for i in indices),
                                   return_exceptions=True)
    sessions: dict[int, Any] = {}
    for i, r in zip(indices, results):
        if isinstance(r, BaseException):
            report.errors.append(f"s{i:03d}: setup failed: {type(r).__name__}: {r}")
        else:
            sessions[i] = r
    report.ready = len(sessions)
    report.lag_ms.clear()  # the load phase's lag only
    conn.send(("ready", len(sessions)))
    go_at = await loop.run_in_executor(None, conn.recv)
    n = cfg["sessions"]
    convos = []
    for i, s in sessions.items():
        others = ([_session_marker(cfg["label"], j) for j in range(n) if j != i]
                  if cfg["cross_check"] else [])
        convos.append(_converse(s, i, cfg, go_at + STAGGER_S * i / max(1, n), answer, others))
    for answers in await asyncio.gather(*convos, return_exceptions=True):
        if isinstance(answers, BaseException):
            report.errors.append(f"a session failed: {type(answers).__name__}: {answers}")
        else:
            report.answers.extend(answers)
    stop.set()
    await lag
    for i, s in sessions.items():
        report.errors.extend(f"s{i:03d}: {e}" for e in s.errors)
        report.session_ids.append(s.session_id)
        report.chat_ids.append(s.query_string)
        report.messages += s.messages
        report.refs += s.refs
        report.bytes += s.bytes
    conn.send(("done", report))
    # Open until told: the server log is read while every websocket is still up.
    await loop.run_in_executor(None, conn.recv)
    await asyncio.gather(*(s.close() for s in sessions.values()), return_exceptions=True)
    conn.send(("closed", None))


def _driver_main(conn: Any, cfg: dict[str, Any], indices: list[int]) -> None:
    try:
        asyncio.run(_drive(conn, cfg, indices))
    except BaseException as exc:  # reported, so the coordinator does not wait for nothing
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise


# -- one level: app, drivers, figures --------------------------------------------------------
@dataclass
class Level:
    sessions: int
    turns: int
    answers: list[Answer]
    errors: list[str]
    stuck: int
    overhead_ms: list[float]  # TTFT overhead per complete answer
    dispatch_ms: list[float]
    delivery_ms: list[float]
    e2e_s: list[float]
    server_cpu_s: float
    driver_cpu_s: float
    load_wall_s: float
    lag_ms: list[float]
    messages: int
    refs: int
    bytes: int
    tail_late: int  # answers whose END_WORD arrived only with a later script run
    # Answers whose first text reached the client before the provider sent its last chunk
    # (the store's ``created_at + e2e_s``): streamed, not held back to the end.
    first_before_last_byte: int = 0
    session_ids: list[str] = field(default_factory=list)  # Streamlit's, one per websocket
    chat_ids: list[str] = field(default_factory=list)  # the query string each ended on
    load_avg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    replicas: int = 1  # app processes; server_cpu_s is their sum

    @property
    def p95_ms(self) -> float:
        return percentile(self.overhead_ms, 95) if self.overhead_ms else float("inf")

    @property
    def p50_ms(self) -> float:
        return percentile(self.overhead_ms, 50) if self.overhead_ms else float("inf")

    @property
    def server_cores(self) -> float:
        return self.server_cpu_s / max(1e-9, self.load_wall_s)

    @property
    def driver_cores(self) -> float:
        return self.driver_cpu_s / max(1e-9, self.load_wall_s)

    @property
    def cpu_ms_per_answer(self) -> float:
        done = sum(1 for a in self.answers if a.end is not None)
        return self.server_cpu_s * 1000 / max(1, done)


def _recv(conn: Any, proc: Any, timeout_s: float, want: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if conn.poll(0.5):
            kind, value = conn.recv()
            if kind == "failed":
                raise RuntimeError(f"a driver failed: {value}")
            if kind != want:
                raise RuntimeError(f"a driver said {kind!r}, expected {want!r}")
            return value
        if not proc.is_alive():
            raise RuntimeError(f"a driver exited ({proc.exitcode}) before {want!r}")
    raise TimeoutError(f"no {want!r} from a driver within {timeout_s:.0f} s")


def run_level(sessions: int, turns: int, data: Path, *, seed: int = 15, label: str = "",
              drivers: int = 1, chunks: int = CHUNKS, cross_check: bool = False,
              replicas: int = 1, postgres: PostgresServer | None = None) -> Level:
    """Start the app on a fresh ``data`` dir, run ``sessions`` x ``turns`` prompts from
    ``drivers`` processes, stop the app; every figure and problem of the level.

    ``replicas`` > 1: that many apps (data dirs ``data/replica<k>``) on a fresh database of
    the running ``postgres`` server, session i on replica i % ``replicas``."""
    from chatlib.store import RunFilter, RunStore

    label = label or f"n{sessions}"
    spec = load_script(chunks, GAP_S, FIRST_DELAY_S)
    answer = expected_answer(spec)
    if replicas == 1:
        store_at, envs = str(data / "runs.sqlite3"), [scripted_app_env(data, {LOAD_MODEL: spec})]
    elif postgres is None:
        raise ValueError("replicas share a PostgreSQL database: pass a started postgres")
    else:
        store_at = postgres.create_database(f"wsload_{next(_DATABASES)}")
        envs = [{**scripted_app_env(data / f"replica{k}", {LOAD_MODEL: spec}),
                 "CHATLAB_DATABASE_URL": store_at} for k in range(replicas)]
    servers: list[AppServer] = []
    ctx = mp.get_context("spawn")
    procs: list[tuple[Any, Any]] = []
    reports: list[DriverReport] = []
    errors: list[str] = []
    try:
        for env in envs:
            servers.append(AppServer(env).start())
        cfg = {"urls": [s.url for s in servers], "sessions": sessions, "turns": turns,
               "seed": seed, "label": label, "chunks": chunks, "cross_check": cross_check}
        drivers = max(1, min(drivers, sessions))
        for k in range(drivers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_driver_main, args=(child, cfg, list(range(k, sessions,
                                                                                drivers))),
                               daemon=True, name=f"ws-driver-{k}")
            proc.start()
            procs.append((parent, proc))
        setup_s = 60 + 2.0 * sessions
        for conn, proc in procs:
            _recv(conn, proc, setup_s, "ready")
        server_cpu = ProcessCpu([s.proc.pid for s in servers if s.proc]).start()
        driver_cpu = ProcessCpu([p.pid for _, p in procs]).start()
        t0 = time.monotonic()
        go_at = time.time() + 0.2
        for conn, _ in procs:
            conn.send(go_at)
        run_s = STAGGER_S + turns * (ANSWER_TIMEOUT_S + STUCK_TIMEOUT_S + THINK_S[1]) + 60
        for conn, proc in procs:
            reports.append(_recv(conn, proc, run_s, "done"))
        load_wall = time.monotonic() - t0
        server_cpu.stop()
        driver_cpu.stop()
        load_avg = os.getloadavg()
        # Read before any websocket closes: Streamlit may log a disconnect of its own.
        logs = [s.log() for s in servers]
        for conn, proc in procs:
            conn.send("close")
        for conn, proc in procs:
            try:
                _recv(conn, proc, 30, "closed")
            except (RuntimeError, TimeoutError) as exc:
                errors.append(f"closing: {exc}")
        store = RunStore(store_at)
        try:
            runs = store.runs(RunFilter(models=(LOAD_MODEL,)))
        finally:
            store.close()
    finally:
        for conn, proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
            conn.close()
        for s in servers:
            s.stop()

    answers = sorted((a for r in reports for a in r.answers), key=lambda a: (a.session, a.turn))
    errors += [e for r in reports for e in r.errors]
    errors += [f"{a.prompt}: {a.error}" for a in answers if a.error]
    for k, log in enumerate(logs):
        if "Traceback" in log:
            where = f" of replica {k}" if replicas > 1 else ""
            errors.append(f"traceback in the server log{where}: "
                          + log[log.index("Traceback"):][:600])
    expected = sessions * turns
    if len(answers) != expected:
        errors.append(f"{len(answers)} prompts sent of {expected}")
    by_prompt = {p: g for p, g in runs.groupby("prompt")}
    overhead, dispatch, delivery, e2e = [], [], [], []
    early = 0
    for a in answers:
        g = by_prompt.get(a.prompt)
        if g is None or len(g) != 1:
            errors.append(f"{a.prompt}: {0 if g is None else len(g)} runs stored, expected 1")
            continue
        row = g.iloc[0]
        if row.status != "ok" or row.response != answer or row.chunk_count != chunks:
            errors.append(f"{a.prompt}: stored run is {row.status} with {row.chunk_count} "
                          f"chunks")
            continue
        if a.first is None or a.end is None or not a.complete:
            continue
        first_byte = float(row.created_at) + float(row.ttft_s)
        overhead.append((a.first - a.sent - FIRST_DELAY_S) * 1000)
        dispatch.append((first_byte - a.sent - FIRST_DELAY_S) * 1000)
        delivery.append((a.first - first_byte) * 1000)
        e2e.append(a.end - a.sent)
        early += a.first < float(row.created_at) + float(row.e2e_s)
    if len(runs) != len(answers):
        errors.append(f"{len(runs)} runs stored for {len(answers)} prompts sent")
    sids = [s for r in reports for s in r.session_ids]
    if len(set(sids)) != len(sids):
        errors.append("two websockets shared a Streamlit session")
    return Level(
        sessions=sessions, turns=turns, answers=answers, errors=errors,
        stuck=sum(1 for a in answers if a.stuck), overhead_ms=overhead,
        dispatch_ms=dispatch, delivery_ms=delivery, e2e_s=e2e,
        server_cpu_s=server_cpu.cpu_s, driver_cpu_s=driver_cpu.cpu_s, load_wall_s=load_wall,
        lag_ms=[v for r in reports for v in r.lag_ms],
        messages=sum(r.messages for r in reports), refs=sum(r.refs for r in reports),
        bytes=sum(r.bytes for r in reports),
        tail_late=sum(1 for a in answers if a.end is not None and a.end_run != a.first_run),
        first_before_last_byte=early,
        load_avg=load_avg, session_ids=sids, chat_ids=[c for r in reports for c in r.chat_ids],
        replicas=replicas,
    )


# -- printing --------------------------------------------------------------------------------
def _ms(values: list[float]) -> str:
    return summary_ms([v / 1000 for v in values]) if values else "no values"


def _streamlit(level: Level) -> str:
    """Whose CPU: the app's, or the sum over its replicas."""
    return "Streamlit" if level.replicas == 1 else f"Streamlit ({level.replicas} replicas)"


def describe(level: Level, name: str) -> list[str]:
    lag = level.lag_ms
    lag_s = (f"p95 {percentile(lag, 95):.0f} ms, max {max(lag):.0f} ms" if lag else "n/a")
    done = sum(1 for a in level.answers if a.end is not None)
    return [
        f"  {name}: TTFT overhead {_ms(level.overhead_ms)}",
        f"    split: dispatch (sent -> provider first byte - 0.1 s) {_ms(level.dispatch_ms)}",
        f"           delivery (provider first byte -> first frame) {_ms(level.delivery_ms)}",
        f"    E2E sent -> {END_WORD} {summary_ms(level.e2e_s)} (schedule "
        f"{(FIRST_DELAY_S + (CHUNKS - 1) * GAP_S) * 1000:.0f} ms); {done}/"
        f"{level.sessions * level.turns} answers complete; {level.tail_late} got their last "
        f"words only with the redraw run",
        f"    CPU over the load phase ({level.load_wall_s:.1f} s): {_streamlit(level)} "
        f"{level.server_cores:.2f} cores ({level.server_cpu_s:.1f} CPU-s, "
        f"{level.cpu_ms_per_answer:.0f} CPU-ms per answer, "
        f"{level.server_cpu_s * 1000 / max(1e-9, level.load_wall_s * level.sessions):.1f} "
        f"CPU-ms per session-second); driver {level.driver_cores:.2f} cores "
        f"({level.driver_cpu_s * 1000 / max(1, done):.0f} CPU-ms per answer), "
        f"its loop lag {lag_s}",
        f"    {level.messages} ForwardMsgs ({level.refs} of them references to cached "
        f"elements; {level.bytes / 1e6:.1f} MB) received; "
        f"{len(level.errors)} errors, {level.stuck} stuck; load average "
        f"{level.load_avg[0]:.2f}",
    ] + [f"    ERROR {e[:300]}" for e in level.errors[:8]] + [
        f"    STUCK {a.prompt}: {a.stuck_state}" for a in level.answers if a.stuck][:5]


def sweep_line(level: Level) -> str:
    return (f"  sweep {level.sessions:4d} sessions: TTFT overhead p50 {level.p50_ms:6.0f} ms, "
            f"p95 {level.p95_ms:6.0f} ms; {_streamlit(level)} {level.server_cores:.2f} cores, "
            f"{level.cpu_ms_per_answer:4.0f} CPU-ms/answer; driver {level.driver_cores:.2f} "
            f"cores; {len(level.errors)} errors, {level.stuck} stuck; load avg "
            f"{level.load_avg[0]:.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--sweep", nargs="?", const=",".join(map(str, DEFAULT_SWEEP)),
                    help=f"session counts, comma-separated (default "
                    f"{','.join(map(str, DEFAULT_SWEEP))})")
    ap.add_argument("--drivers", type=int, default=1, help="driver processes (default 1)")
    ap.add_argument("--replicas", type=int, default=1,
                    help="app processes on one PostgreSQL database (default 1: SQLite)")
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args(argv)
    if args.replicas < 1:
        ap.error("--replicas must be at least 1")
    if args.replicas == 1:
        return _run(args, None)
    with PostgresServer() as pg:
        return _run(args, pg)


def _run(args: argparse.Namespace, pg: PostgresServer | None) -> int:
    """The baseline and every level of ``args``, printed; the exit status."""
    levels = [int(v) for v in args.sweep.split(",")] if args.sweep else [args.sessions]
    root = Path(tempfile.mkdtemp(prefix="chatlab-wsload-"))
    replicas_s = (f"{args.replicas} app replicas on one PostgreSQL database, sessions "
                  f"round-robin; " if args.replicas > 1 else "")
    print(f"ws load: {','.join(map(str, levels))} sessions x {args.turns} prompts, scripted "
          f"answer of {CHUNKS} tokens at {1 / GAP_S:.0f} tok/s after a "
          f"{FIRST_DELAY_S * 1000:.0f} ms first delay; first prompts staggered over "
          f"{STAGGER_S:.0f} s, think {THINK_S[0]}-{THINK_S[1]} s; {args.drivers} driver "
          f"process(es); {replicas_s}{os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    base = run_level(1, BASELINE_TURNS, root / "baseline", seed=args.seed, label="base",
                     replicas=args.replicas, postgres=pg)
    for line in describe(base, "baseline, 1 session alone"):
        print(line, flush=True)
    results = []
    for n in levels:
        level = run_level(n, args.turns, root / f"n{n}", seed=args.seed, drivers=args.drivers,
                          replicas=args.replicas, postgres=pg)
        results.append(level)
        lines = [sweep_line(level)] if args.sweep else []
        lines += describe(level, f"{n} sessions")
        for line in lines:
            print(line, flush=True)
    passes = next((lv.sessions for lv in results if lv.p95_ms > 100), None)
    if args.sweep:
        below = [lv.sessions for lv in results if lv.p95_ms <= 100]
        passes_s = (f"p95 passes 100 ms at {passes} sessions"
                    + (f" (<= 100 ms up to {max(below)})" if below else "")
                    if passes else f"p95 not past 100 ms up to {levels[-1]} sessions")
    else:
        passes_s = "p95 passes 100 ms: see --sweep"
    if passes is not None and args.sweep:
        print(f"  {passes_s}")
    main_level = next((lv for lv in results if lv.sessions == 100), results[-1])
    bad = sum(len(lv.errors) for lv in results + [base])
    stuck = sum(lv.stuck for lv in results + [base])
    replicas_r = f", {args.replicas} replicas" if args.replicas > 1 else ""
    print(f"RESULT ws load {main_level.sessions} sessions at 100 tok/s{replicas_r}: "
          f"{len(main_level.errors)} errors, {main_level.stuck} stuck (goal 0); TTFT overhead "
          f"p50 {main_level.p50_ms:.0f} ms, p95 {main_level.p95_ms:.0f} ms (goal <= 50); "
          f"{_streamlit(main_level)} CPU {main_level.server_cores:.2f} cores, "
          f"{main_level.cpu_ms_per_answer:.0f} CPU-ms per answer; {passes_s}")
    return 1 if bad or stuck else 0


if __name__ == "__main__":
    raise SystemExit(main())
