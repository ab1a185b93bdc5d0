"""Bench 14: the load generator's own timing error, from one stream to 200 on this machine.

What it measures: for every request a load run sends (``chatlib.load.run.LoadRun``, a
``concurrency`` schedule, read and timed in the generator's worker processes), how far its
stored chunk timestamps are from the moments the server really sent each chunk; and, per
level, what the generator measured of itself (``GeneratorCheck``) and whether it flagged the
level as client-bound. Goal (issue 24): ITL error p99 ≤ 1 ms at 200 concurrent streams, and
the level where that stops holding flagged as client-bound.

How:

- The send-log server (``testkit/send_log_server.py``, no capacity limit: every request is
  served at once) runs in a process of its own and logs, per request, when it received it
  and when it sent each chunk (CLOCK_MONOTONIC, one clock for the machine). Its schedule:
  first chunk ``--first-delay`` after the request, then ``--chunks`` more ``--gap`` apart.
- The load run's one target is ``openai:wire-probe``: the OpenAI preset, its base URL and
  key from ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` pointed at the server (the preset's own
  override; no provider of the bench's own). Synthetic prompts, the run stored in a fresh
  SQLite run store (``LoadStore``), as the Load page and the CLI store theirs.
- Each stored request is matched to the server's log line by the serial its reply's first
  chunk carries (``serial_of``), and the log's prompt must be the request's (every
  request's prompt starts with its own number). Its recorded chunks must be the sent ones,
  one for one.
  Then (``testkit.send_log``, the definitions of bench 13): ITL error = |recorded gap −
  sent gap| over every consecutive pair; TTFT error = recorded TTFT − (server's first send −
  request received), which holds the request's trip to the server too; lag = recorded
  arrival − send time on one clock (a negative one is a chunk stamped before it was sent).
- Level 1 (one stream) is the baseline measured in the same run: each level's ITL error p99
  is also given as a ratio to it.
- Beside each level: the generator's check (the busiest reading process's CPU share, send
  overhead mean and p99, client-bound and why), the server process's CPU and how far it fell
  behind its own schedule, and the machine's load average when the level ended (2 shared
  cores: other work moves these figures).

Run::

    PYTHONPATH=. .venv/bin/python bench/bench_load_generator.py [--levels 1,10,50,100,200]
        [--seconds 10] [--gap 0.01] [--chunks 100] [--first-delay 0.2] [--stamp before]

Prints a table, a ``RESULT`` line per level and a last ``RESULT`` with the goal. Not a test:
no timing is asserted (``tests/load/test_load_generator_honesty.py`` checks the properties).
Exit status 1 when a level matched no request, a request failed, or the run failed. Bounded:
each level lasts ``--seconds`` plus its last requests (the generator's grace); only 127.0.0.1
is contacted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chatlib.evals.runner import resolve_targets  # noqa: E402
from chatlib.load.generator import workers_for  # noqa: E402
from chatlib.load.levels import LevelResult  # noqa: E402
from chatlib.load.run import LoadRun  # noqa: E402
from chatlib.load.spec import LoadSpec, Schedule as LoadSchedule, Workload  # noqa: E402
from chatlib.runs.record import RunRecord  # noqa: E402
from chatlib.store import RunStore  # noqa: E402
from chatlib.store.loads import LoadStore  # noqa: E402
from testkit.load import ProcessCpu, percentile  # noqa: E402
from testkit.send_log import (Stamp, WireServer, check_chunks, wall_minus_monotonic,  # noqa: E402
                              why_not_comparable)
from testkit.send_log_server import Schedule, serial_of  # noqa: E402

DEFAULT_LEVELS = "1,10,50,100,200"
SCHEDULE = Schedule(first_delay_s=0.2, chunks=100, gap_s=0.01)  # bench 13's answer
MODEL = "wire-probe"  # not an OpenAI model name: no tiktoken, a labelled estimate
INPUT_TOKENS = 32
GOAL_ITL_P99_MS = 1.0
LOG_SETTLE_S = 10.0  # the server logs a reply when its last write returns: wait for it


@dataclass
class LevelReport:
    """One level: the requests stored, matched to the server's log, and the figures."""

    level: int
    result: LevelResult  # what the load run computed (its GeneratorCheck, client-bound)
    requests: int = 0  # stored
    matched: int = 0
    skipped: list[str] = field(default_factory=list)  # stored requests not matched, and why
    chunks: int = 0  # chunks of the matched requests
    itl_err_ms: list[float] = field(default_factory=list)
    ttft_err_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    trip_ms: list[float] = field(default_factory=list)
    early_chunks: int = 0  # stamped before the server's send stamp
    uncertain_sends: int = 0  # server writes that took over UNCERTAIN_S, stamp to stamp
    server_late_max_ms: float = 0.0
    server_cores: float = 0.0  # the send-log server's CPU over the level (about)
    client_cores: float = 0.0  # the generator: this process and its reading processes
    load_avg: float = 0.0  # 1-minute load average when the level ended

    def p(self, values: list[float], q: float) -> float:
        return percentile(values, q) if values else float("nan")

    @property
    def itl_p99_ms(self) -> float:
        return self.p(self.itl_err_ms, 99)

    @property
    def errors(self) -> int:
        return self.result.error_count


@dataclass
class BenchRun:
    levels: list[LevelReport]
    failure: str | None  # the load run's, when it stopped on a fault
    workers: int  # the generator's reading processes
    base_url: str


@contextmanager
def openai_at(base_url: str) -> Iterator[None]:
    """The OpenAI preset pointed at ``base_url`` (its own override) for the block; the
    generator's worker processes inherit it when they start."""
    names = ("OPENAI_BASE_URL", "OPENAI_API_KEY")
    before = {n: os.environ.get(n) for n in names}
    os.environ.update({"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test"})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def match_level(report: LevelReport, records: Sequence[RunRecord],
                log: dict[int, dict], offset: float, stamp: Stamp) -> None:
    """Hold each stored request against the server's log line for its reply (by serial)."""
    report.requests = len(records)
    for record in records:
        serial = serial_of(record.chunk_texts[0]) if record.chunk_texts else None
        entry = log.get(serial) if serial is not None else None
        if entry is None:
            report.skipped.append(f"{record.id}: {record.status}, no reply of the server's "
                                  f"({record.error or 'no chunk'})")
            continue
        if entry["key"] != record.prompt:
            report.skipped.append(f"{record.id}: reply {serial} was for another prompt")
            continue
        why = why_not_comparable(record.status, record.chunk_texts, entry)
        if why:
            report.skipped.append(f"{record.id}: {why}")
            continue
        check = check_chunks(record.chunk_offsets_s, record.created_at, entry, offset, stamp)
        report.matched += 1
        report.chunks += len(record.chunk_offsets_s)
        report.itl_err_ms += [v * 1000 for v in check.itl_err_s]
        report.ttft_err_ms.append(check.ttft_err_s * 1000)
        report.lag_ms += [v * 1000 for v in check.lag_s]
        report.trip_ms.append(check.trip_s * 1000)
        report.early_chunks += check.early
        report.uncertain_sends += check.uncertain_sends
        report.server_late_max_ms = max(report.server_late_max_ms, check.server_late_s * 1000)


class ClientCpu:
    """CPU of this process and every process it started but ``server_pid`` (the load's
    reading processes), in cores, between two reads."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self._t, self._cpu = time.monotonic(), self._seconds()

    def _seconds(self) -> float:
        me = psutil.Process()
        total = 0.0
        for proc in [me, *me.children(recursive=True)]:
            if proc.pid == self.server_pid:
                continue
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue  # ended: its CPU is not counted
            total += times.user + times.system
        return total

    def lap(self) -> float:
        t, cpu = time.monotonic(), self._seconds()
        cores = (cpu - self._cpu) / max(1e-9, t - self._t)
        self._t, self._cpu = t, cpu
        return cores


def _server_log(wire: WireServer, serials: set[int]) -> dict[int, dict]:
    """The server's log by serial, once it holds every serial in ``serials`` (or the
    settling time is over: what is missing is then skipped and said)."""
    deadline = time.monotonic() + LOG_SETTLE_S
    while True:
        log = {entry["serial"]: entry for entry in wire.entries()}
        if serials <= log.keys() or time.monotonic() > deadline:
            return log
        time.sleep(0.2)


def measure(levels: Sequence[int], seconds: float, root: Path,
            schedule: Schedule = SCHEDULE, stamp: Stamp = "before",
            on_progress: Callable[[str], None] | None = None) -> BenchRun:
    """The bench's core: a send-log server, a load run through ``levels`` against it, every
    stored request matched to the server's log. ``on_progress`` (optional) hears each level
    end."""
    wire = WireServer(root / "wire-sends.jsonl", schedule).start()
    store = RunStore(str(root / "runs.sqlite3"))
    try:
        with openai_at(wire.base_url):
            [(name, target)] = resolve_targets([f"openai:{MODEL}"])
            spec = LoadSpec(targets=(("A", name),),
                            workload=Workload(input_tokens=INPUT_TOKENS,
                                              output_tokens=schedule.chunks + 1),
                            schedule=LoadSchedule("concurrency", tuple(levels)),
                            seconds=seconds)
            run = LoadRun(spec, [target], store=LoadStore(store)).start()
            assert wire.pid is not None
            server_cpu = ProcessCpu([wire.pid]).start()
            client_cpu = ClientCpu(wire.pid)
            # Per level: load average, server cores, client cores, when it ended.
            ended: list[tuple[float, float, float]] = []

            def level_ended() -> None:
                nonlocal server_cpu
                ended.append((os.getloadavg()[0], server_cpu.stop(), client_cpu.lap()))
                server_cpu = ProcessCpu([wire.pid]).start()
                if on_progress is not None:
                    on_progress(f"level {len(ended)} of {len(levels)} "
                                f"({levels[len(ended) - 1]} streams) ended; load average "
                                f"{ended[-1][0]:.2f}")

            while not run.wait(0.1):
                if run.progress().levels_done > len(ended):
                    level_ended()
            while len(ended) < len(run.results):  # the last level ended with the run
                level_ended()
        offset = wall_minus_monotonic()
        loads = LoadStore(store)
        reports = []
        for result, (load_avg, cores, client) in zip(run.results, ended):
            records = loads.runs(run.id, [result.seq])
            serials = {s for r in records if r.chunk_texts
                       if (s := serial_of(r.chunk_texts[0])) is not None}
            report = LevelReport(int(result.level), result, load_avg=load_avg,
                                 server_cores=cores, client_cores=client)
            match_level(report, records, _server_log(wire, serials), offset, stamp)
            reports.append(report)
        return BenchRun(reports, run.failure, workers_for(max(levels)), wire.base_url)
    finally:
        store.close()
        wire.stop()


# -- printing ----------------------------------------------------------------------------------
HEADER = (f"{'streams':>7} {'requests':>9} {'skip':>4} {'err':>3} {'ITL err p50':>11} "
          f"{'p99':>6} {'max':>7} {'×base':>6} {'TTFT err p50':>12} {'p99':>7} "
          f"{'lag p99':>7} {'cpu share':>9} {'ovh mean':>8} {'ovh p99':>8} {'client':>6} "
          f"{'server':>6} {'load':>5}  client-bound")


def _ms(seconds: float | None) -> float:
    return float("nan") if seconds is None else seconds * 1000


def table_row(r: LevelReport, base_p99_ms: float) -> str:
    g = r.result.generator
    ratio = r.itl_p99_ms / base_p99_ms if base_p99_ms > 0 else float("nan")
    share = float("nan") if g.cpu_share is None else g.cpu_share * 100
    return (f"{r.level:>7} {f'{r.matched}/{r.requests}':>9} {len(r.skipped):>4} "
            f"{r.errors:>3} {r.p(r.itl_err_ms, 50):>11.3f} {r.itl_p99_ms:>6.3f} "
            f"{max(r.itl_err_ms, default=float('nan')):>7.2f} {ratio:>6.1f} "
            f"{r.p(r.ttft_err_ms, 50):>12.2f} {r.p(r.ttft_err_ms, 99):>7.2f} "
            f"{r.p(r.lag_ms, 99):>7.2f} {share:>8.0f}% {_ms(g.overhead_mean_s):>8.2f} "
            f"{_ms(g.overhead_p99_s):>8.2f} {r.client_cores:>6.2f} {r.server_cores:>6.2f} "
            f"{r.load_avg:>5.2f}  "
            f"{'YES' if r.result.client_bound else 'no'}")


def detail_lines(r: LevelReport) -> list[str]:
    lines = [f"    {r.level} streams: {r.chunks} chunks matched; request trip (t0 -> server "
             f"received) p50 {r.p(r.trip_ms, 50):.2f} ms, p99 {r.p(r.trip_ms, 99):.2f} ms; lag "
             f"p50 {r.p(r.lag_ms, 50):.2f} ms, min {min(r.lag_ms, default=float('nan')):.2f} "
             f"ms ({r.early_chunks} chunks stamped before their send stamp); server sends up "
             f"to {r.server_late_max_ms:.1f} ms behind schedule, {r.uncertain_sends} writes "
             f"over 1 ms; in worker processes: {r.result.generator.in_workers}"]
    if r.result.client_bound:
        lines.append(f"    CLIENT-BOUND: {r.result.client_bound_why}")
    if r.result.errors:
        lines.append(f"    ERRORS {r.result.errors}")
    if r.load_avg > (os.cpu_count() or 1):
        lines.append(f"    NOTE load average {r.load_avg:.1f} over {os.cpu_count()} cores: "
                     "other work on the machine; compare this level with care")
    lines += [f"    SKIPPED {s}" for s in r.skipped[:5]]
    return lines


def result_line(r: LevelReport, base_p99_ms: float) -> str:
    g = r.result.generator
    ratio = r.itl_p99_ms / base_p99_ms if base_p99_ms > 0 else float("nan")
    return (f"RESULT load_generator streams={r.level} requests={r.matched} "
            f"skipped={len(r.skipped)} errors={r.errors} "
            f"itl_err_p50_ms={r.p(r.itl_err_ms, 50):.3f} itl_err_p99_ms={r.itl_p99_ms:.3f} "
            f"itl_err_max_ms={max(r.itl_err_ms, default=float('nan')):.2f} "
            f"itl_p99_over_base={ratio:.2f} ttft_err_p99_ms={r.p(r.ttft_err_ms, 99):.2f} "
            f"cpu_share={(g.cpu_share or 0):.2f} client_cores={r.client_cores:.2f} "
            f"overhead_mean_ms={_ms(g.overhead_mean_s):.2f} "
            f"overhead_p99_ms={_ms(g.overhead_p99_s):.2f} "
            f"client_bound={'yes' if r.result.client_bound else 'no'} "
            f"load_avg={r.load_avg:.2f}")


def goal_line(reports: list[LevelReport]) -> str:
    """Where ITL error p99 ≤ 1 ms holds, where it stops, and whether that level was flagged."""
    holds = [r.level for r in reports if r.itl_p99_ms <= GOAL_ITL_P99_MS]
    over = [r for r in reports if not r.itl_p99_ms <= GOAL_ITL_P99_MS]
    top = reports[-1]
    first_over = over[0] if over else None
    flagged = "none_over" if first_over is None else (
        "yes" if first_over.result.client_bound else "no")
    return (f"RESULT load_generator goal itl_err_p99_ms<={GOAL_ITL_P99_MS:g} "
            f"at_{top.level}_streams={top.itl_p99_ms:.3f} "
            f"{'met' if top.itl_p99_ms <= GOAL_ITL_P99_MS else 'missed'} "
            f"holds_up_to={max(holds) if holds else 0} "
            f"first_over={first_over.level if first_over else 'none'} "
            f"first_over_flagged_client_bound={flagged} "
            f"base_itl_err_p99_ms={reports[0].itl_p99_ms:.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default=DEFAULT_LEVELS,
                    help=f"concurrent streams per level, comma-separated; the first is the "
                    f"baseline (default {DEFAULT_LEVELS})")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each level")
    ap.add_argument("--first-delay", type=float, default=SCHEDULE.first_delay_s)
    ap.add_argument("--chunks", type=int, default=SCHEDULE.chunks)
    ap.add_argument("--gap", type=float, default=SCHEDULE.gap_s)
    ap.add_argument("--stamp", choices=("before", "after"), default="before",
                    help="the server's send time: its stamp before the write (default) or "
                    "after the write and flush")
    args = ap.parse_args(argv)
    try:
        levels = [int(v) for v in args.levels.split(",") if v.strip()]
    except ValueError:
        ap.error("--levels takes whole numbers of streams")
    if not levels or min(levels) < 1:
        ap.error("--levels takes whole numbers of streams, at least 1")
    schedule = Schedule(args.first_delay, args.chunks, args.gap)
    root = Path(tempfile.mkdtemp(prefix="chatlab-loadgen-"))
    print(f"load generator honesty: concurrency levels {','.join(map(str, levels))}, "
          f"{args.seconds:g} s each, against the send-log server (first chunk at "
          f"{schedule.first_delay_s * 1000:.0f} ms, then {schedule.chunks} chunks "
          f"{schedule.gap_s * 1000:g} ms apart; send time: the stamp {args.stamp} the write); "
          f"{os.cpu_count()} cores; load average at start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; data under {root}", flush=True)

    bench = measure(levels, args.seconds, root, schedule, args.stamp,
                    on_progress=lambda said: print(f"  {said}", flush=True))
    reports = bench.levels
    if not reports:
        print(f"FAILED: no level measured ({bench.failure})", file=sys.stderr)
        return 1
    base = reports[0].itl_p99_ms
    print(f"\n(errors and lag in ms; ×base = ITL err p99 / level {reports[0].level}'s; cpu "
          f"share = the busiest reading process, of one core; ovh = send overhead; server = "
          f"the send-log server's cores; client = the generator's (this process and its readers); "
          f"load = 1-min load average at the level's end)")
    print(HEADER)
    for r in reports:
        print(table_row(r, base))
    for r in reports:
        for line in detail_lines(r):
            print(line)
    print(f"\nload average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for r in reports:
        print(result_line(r, base))
    print(goal_line(reports), flush=True)
    failed = [r for r in reports if r.errors or not r.matched]
    if bench.failure or failed:
        print(f"FAILED: {bench.failure or ''} "
              f"{', '.join(f'{r.level} streams' for r in failed)} had errors or no match",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
