"""Bench: the stats page's data path over 100,000 recorded runs (or a million), on SQLite or
on a real PostgreSQL server.

    .venv/bin/python bench/bench_stats.py [--runs 100000] [--repeat 3] [--backend postgresql]

Seeds a run store with ``--runs`` realistic runs (bench/seed_runs.py: 6 models, 100-300
chunks each, ~8 % stopped or failed, over 30 days; cached under /tmp between runs), then, in
a fresh child process per scenario, times exactly what the page calls on a cache miss:
``build_view`` (totals; the per-run figures of finished runs summed up per model: percentiles,
median CIs, histogram and medians over time, in SQL on PostgreSQL and in numpy on SQLite;
pooled ITL; tables, headline, chart frames) plus the filter options and the run count, and
reports the process's peak RSS (VmHWM: interpreter, numpy and pandas included) and the
Python/numpy heap peak (tracemalloc, a separate pass). Goal on this machine: <= 1.5 s and
<= 400 MB for all runs (100k); at a million runs on PostgreSQL, <= 3 s and <= 600 MB. The
machine is shared: wall time is the best of ``--repeat``; CPU time is shown beside it, the
app's and, on PostgreSQL, the server's (every ``postgres`` process, in that repeat), which
the load of other jobs does not inflate.

``--backend postgresql`` starts its own server (testkit/postgres.py) on a cluster kept under
/tmp between runs (seeded once per run count, then vacuumed and analysed, as autovacuum would
leave a settled table), with the server settings of a small dedicated box.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_S = 1.5
GOAL_MB = 400.0
SEED = 7


PG_SETTINGS = {"shared_buffers": "2GB", "effective_cache_size": "8GB", "work_mem": "64MB",
               "maintenance_work_mem": "512MB", "max_wal_size": "8GB"}


def cached_postgres(runs: int) -> tuple[str, object]:
    """A seeded PostgreSQL database on a kept cluster; the server runs until ``stop()``."""
    from bench.seed_runs import seed
    from chatlib.store import RunStore
    from testkit.postgres import PostgresServer

    import psycopg

    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    server = PostgresServer(directory=tmp / "chatlab-bench-postgres", settings=PG_SETTINGS)
    server.start()
    name = f"bench_stats_{runs}_s{SEED}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    url = server.database_url(name)
    if exists:
        store = RunStore(url)
        done = store.count() == runs
        store.close()
        if done:
            return url, server
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}"')
    server.create_database(name)
    t = time.perf_counter()
    seed(url, runs, SEED).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) runs")
        conn.execute("VACUUM (ANALYZE) chunks")
    print(f"seeded {runs:,} runs in {time.perf_counter() - t:.1f} s -> {url}", flush=True)
    return url, server


def cached_store(runs: int) -> Path:
    """A seeded store under /tmp, reused while its run count matches (migrations added since
    are applied when it is opened)."""
    from bench.seed_runs import seed
    from chatlib.store import RunStore

    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"chatlab-bench-stats-{runs}-s{SEED}.sqlite3"
    if path.exists() and RunStore(path).count() == runs:
        return path
    tmp = path.with_suffix(".seeding")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"),
              path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    t = time.perf_counter()
    seed(tmp, runs, SEED).close()  # closing checkpoints the WAL into the file
    tmp.rename(path)
    print(f"seeded {runs:,} runs in {time.perf_counter() - t:.1f} s -> {path}", flush=True)
    return path


def scenarios() -> dict[str, dict]:
    return {
        "all runs": {},
        "all runs, 1 reader thread": {"workers": 1},
        "today": {"range": "Today"},
        "one provider (openai)": {"providers": ["openai"]},
        "one model, finished only": {"models": ["claude-sonnet-4-5"], "statuses": ["ok"]},
    }


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that over
    from the parent across fork+exec, so a child would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _server_cpu_s(postmaster: int) -> float:
    """CPU seconds used so far by the bench's PostgreSQL server: its postmaster and every
    process it started, with its exited children's (parallel query workers are counted into
    the postmaster when they end); other servers on the machine (tests) are left out."""
    total = 0
    for pid in os.listdir("/proc"):
        try:
            if not pid.isdigit():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(pid) == postmaster:  # utime + stime + cutime + cstime, in clock ticks
            total += sum(int(f) for f in fields[11:15])
        elif int(fields[1]) == postmaster:  # a backend: utime + stime
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _postmaster_pid(store: object) -> int:
    """The bench server's postmaster, from its data directory's postmaster.pid."""
    row = store.database.one("SELECT current_setting('data_directory')")  # type: ignore[attr-defined]
    return int((Path(row[0]) / "postmaster.pid").read_text().split()[0])


def child(db: str, spec: dict, repeat: int, trace: bool) -> dict:
    """Runs in a fresh process: the page's data path for one filter."""
    import tracemalloc

    from chatlib.runs.pricing import default_prices
    from chatlib.stats.summary import RunFilter, build_view, time_range
    from chatlib.store import RunStore

    base_rss = _peak_rss_mb()
    since, until = time_range(spec.get("range", "All time"))
    flt = RunFilter(since, until, tuple(spec.get("providers", ())), tuple(spec.get("models", ())),
                    tuple(spec.get("statuses", ())))
    store = RunStore(db)
    if trace:
        tracemalloc.start()
    walls, cpus, db_cpus = [], [], []
    postmaster = _postmaster_pid(store) if str(db).startswith("postgresql://") else None
    for _ in range(repeat):
        s = _server_cpu_s(postmaster) if postmaster else 0.0
        t, c = time.perf_counter(), time.process_time()
        store.count()
        store.provider_models()
        view = build_view(store, flt, default_prices(), workers=spec.get("workers", 2))
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        db_cpus.append(_server_cpu_s(postmaster) - s if postmaster else None)
    heap = tracemalloc.get_traced_memory()[1] / 1e6 if trace else None
    return {"walls": walls, "cpus": cpus, "db_cpus": db_cpus, "runs": view.runs,
            "gaps": int(sum(view.latency[view.latency.metric == "ITL (ms)"].n)),
            "base_rss_mb": base_rss,
            "peak_rss_mb": _peak_rss_mb(),
            "heap_peak_mb": heap}


def run_child(db: str, spec: dict, repeat: int, trace: bool = False) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(db), json.dumps(spec), str(repeat),
         str(int(trace))],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, db, spec, repeat, trace = sys.argv
        print(json.dumps(child(db, json.loads(spec), int(repeat), bool(int(trace)))))
        return
    parser = argparse.ArgumentParser(description="Time the stats page's data path.")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    server = None
    if args.backend == "postgresql":
        db, server = cached_postgres(args.runs)
        where = f"{db} (PostgreSQL)"
    else:
        path = cached_store(args.runs)
        db, where = str(path), f"{path} ({path.stat().st_size / 1e6:.0f} MB)"
    try:
        report(db, where, args)
    finally:
        if server is not None:
            server.stop(mode="fast")  # type: ignore[attr-defined]


def report(db: str, where: str, args: argparse.Namespace) -> None:
    goal_s, goal_mb = (GOAL_S, GOAL_MB) if args.runs <= 100_000 else (3.0, 600.0)
    load = os.getloadavg()[0]
    print(f"store: {where}, {args.runs:,} runs; "
          f"load average {load:.1f} on {os.cpu_count()} cores\n")
    print(f"{'scenario':28} {'runs':>8} {'ITL gaps':>11} {'first s':>8} {'best s':>7} "
          f"{'cpu s':>6} {'db cpu s':>8} {'peak RSS MB':>11} {'imports MB':>10}")
    results = {}
    for name, spec in scenarios().items():
        r = run_child(db, spec, args.repeat)
        results[name] = r
        db_cpu = (f"{min(r['db_cpus']):>8.3f}" if r["db_cpus"][0] is not None
                  else f"{'-':>8}")
        print(f"{name:28} {r['runs']:>8,} {r['gaps']:>11,} {r['walls'][0]:>8.3f} "
              f"{min(r['walls']):>7.3f} {min(r['cpus']):>6.3f} {db_cpu} "
              f"{r['peak_rss_mb']:>11.0f} {r['base_rss_mb']:>10.0f}")
    heap = run_child(db, {}, 1, trace=True)["heap_peak_mb"]
    all_runs = results["all runs"]
    best, first = min(all_runs["walls"]), all_runs["walls"][0]
    print(f"\nall {all_runs['runs']:,} runs ({args.backend}): best {best:.3f} s = "
          f"{best / goal_s:.2f} x the {goal_s} s goal (first, cold process: {first:.3f} s = "
          f"{first / goal_s:.2f} x); peak RSS {all_runs['peak_rss_mb']:.0f} MB = "
          f"{all_runs['peak_rss_mb'] / goal_mb:.2f} x the {goal_mb:.0f} MB goal (of which "
          f"{all_runs['base_rss_mb']:.0f} MB is the "
          f"interpreter with numpy/pandas loaded); heap peak of the data path (tracemalloc) "
          f"{heap:.0f} MB")
    print(f"RESULT stats {all_runs['runs']:,} runs on {args.backend}: best {best:.3f} s "
          f"(goal {goal_s} s), peak RSS {all_runs['peak_rss_mb']:.0f} MB (goal {goal_mb:.0f})")


if __name__ == "__main__":
    main()
