"""Load: 20 browser sessions chatting at once with the scripted provider at 100 tok/s.

Goal (issue 6): 0 errors; report the TTFT overhead p50/p95 and the CPU used. In one run:

1. baseline: one session alone sends ``turns`` prompts one after another;
2. load: 20 sessions (20 browser contexts in one headless Chromium, so 20 Streamlit
   sessions and websockets) each send ``turns`` prompts, every round all at once.

Every answer is the same scripted 200-chunk answer (one token per chunk, 0.01 s apart after a
0.1 s first delay). TTFT overhead = (Enter keydown -> first answer text in the DOM, on the
page's clock) - the script's 0.1 s first delay: what Streamlit, the app and the browser add
to the provider's own TTFT. The server-side part (the pump's recorded TTFT - 0.1 s) is shown
too. CPU: the Streamlit process (all its threads) and, apart, the Chromium processes, from
/proc, over the load rounds. Errors: any page without its complete answer, any exception,
alert or page error shown, any run missing or not ``ok`` in the run store, any traceback in
the server log.

Run: ``.venv/bin/python bench/bench_load.py [sessions] [turns]`` (default 20, 3).
Bounded: ``sessions`` x ``turns`` prompts, each round waits at most 120 s; 127.0.0.1 only.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatlib.store import RunFilter, RunStore  # noqa: E402
from testkit.app_server import AppServer, scripted_app_env  # noqa: E402
from testkit.browser import chromium, chromium_available  # noqa: E402
from testkit.load import (  # noqa: E402
    LOAD_MODEL, ProcessCpu, descendants, expected_answer, load_script, open_sessions,
    percentile, run_round, summary_ms,
)

CHUNKS, GAP_S, FIRST_DELAY_S = 200, 0.01, 0.1


def check_store(
    store: RunStore, prompts: list[str], answer: str
) -> tuple[list[float], list[float], list[str]]:
    """Server-side TTFTs and E2Es of the runs for ``prompts``, and every problem with them."""
    ttfts: list[float] = []
    e2es: list[float] = []
    errors: list[str] = []
    for prompt in prompts:
        runs = store.runs(RunFilter(prompts=(prompt,)))
        if len(runs) != 1:
            errors.append(f"{prompt}: {len(runs)} runs stored, expected 1")
            continue
        row = runs.iloc[0]
        if row.status != "ok" or row.response != answer or row.chunk_count != CHUNKS:
            errors.append(f"{prompt}: stored run is {row.status} with {row.chunk_count} chunks")
            continue
        ttfts.append(float(row.ttft_s))
        e2es.append(float(row.e2e_s))
    return ttfts, e2es, errors


def main() -> int:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    turns = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if not chromium_available():
        print("bench_load: Debian's chromium is missing (make browser)")
        return 1
    data = Path(tempfile.mkdtemp(prefix="chatlab-load-"))
    spec = load_script(CHUNKS, GAP_S, FIRST_DELAY_S)
    answer = expected_answer(spec)
    env = scripted_app_env(data, {LOAD_MODEL: spec})
    print(f"load: {sessions} sessions x {turns} prompts, scripted answer of {CHUNKS} tokens at "
          f"{1 / GAP_S:.0f} tok/s after a {FIRST_DELAY_S * 1000:.0f} ms first delay; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    server = AppServer(env).start()
    try:
        store = RunStore(data / "runs.sqlite3")
        with chromium() as browser:
            # 1. Baseline: one session alone.
            solo = open_sessions(browser, server.url, 1)
            base = [run_round(solo, f"solo{t}") for t in range(turns)]
            base_ttft = [v for r in base for v in r.ttft_s]
            base_server, _, base_store_errors = check_store(
                store, [p for r in base for p in r.prompts], answer)

            # 2. Load: every session sends at once, round after round.
            pages = open_sessions(browser, server.url, sessions)
            browser_pids = descendants(os.getpid(), exclude={server.proc.pid})
            rounds = []
            app_cpu_s = browser_cpu_s = load_wall = 0.0
            stuck: set[int] = set()
            for r in range(turns):
                # CPU over each round only: from the first send to the last answer.
                app_cpu = ProcessCpu([server.proc.pid]).start()
                browser_cpu = ProcessCpu(browser_pids).start()
                t = time.monotonic()
                rounds.append(run_round(pages, f"load{r}", skip=stuck))
                load_wall += time.monotonic() - t
                app_cpu.stop()
                browser_cpu.stop()
                app_cpu_s += app_cpu.cpu_s
                browser_cpu_s += browser_cpu.cpu_s
                stuck |= rounds[-1].stuck
            app_cores, browser_cores = app_cpu_s / load_wall, browser_cpu_s / load_wall
            # Read before any page closes: Streamlit's server may log a traceback of its own
            # when a browser drops its websocket, which is not an error of the load.
            log = server.log()
        load_ttft = [v for r in rounds for v in r.ttft_s]
        load_e2e = [v for r in rounds for v in r.e2e_s]
        load_server, load_server_e2e, store_errors = check_store(
            store, [p for r in rounds for p in r.prompts], answer)
        errors = [e for r in base + rounds for e in r.errors] + base_store_errors + store_errors
        if "Traceback" in log:
            errors.append("traceback in the server log: " + log[log.index("Traceback"):][:500])
    finally:
        server.stop()

    expected = sessions * turns
    print(f"  baseline, 1 session:  browser TTFT overhead {summary_ms(base_ttft, FIRST_DELAY_S)}; "
          f"server-side {summary_ms(base_server, FIRST_DELAY_S)}")
    print(f"  load, {sessions} sessions:    browser TTFT overhead "
          f"{summary_ms(load_ttft, FIRST_DELAY_S)}; server-side "
          f"{summary_ms(load_server, FIRST_DELAY_S)}")
    ideal_e2e = FIRST_DELAY_S + (CHUNKS - 1) * GAP_S
    print(f"  load E2E in the browser {summary_ms(load_e2e)} "
          f"server-side {summary_ms(load_server_e2e)} (schedule {ideal_e2e * 1000:.0f} ms); "
          f"{len(load_ttft)}/{expected} answers complete")
    print(f"  CPU during the load rounds ({load_wall:.1f} s): Streamlit process "
          f"{app_cores:.2f} cores ({app_cpu_s:.1f} CPU-s), Chromium {browser_cores:.2f} cores "
          f"({len(browser_pids)} processes), of {os.cpu_count()}; load average now "
          f"{os.getloadavg()[0]:.2f}")
    if stuck:
        print(f"  {len(stuck)} of {sessions} sessions were left with the chat box disabled "
              f"(Stop button shown, script not running) after an answer")
    for e in errors[:10]:
        print(f"  ERROR {e}")
    p50 = percentile([v - FIRST_DELAY_S for v in load_ttft], 50) * 1000 if load_ttft else -1
    p95 = percentile([v - FIRST_DELAY_S for v in load_ttft], 95) * 1000 if load_ttft else -1
    print(f"RESULT load {sessions} sessions at 100 tok/s: {len(errors)} errors (goal 0); "
          f"TTFT overhead p50 {p50:.0f} ms, p95 {p95:.0f} ms; Streamlit CPU {app_cores:.2f} cores")
    return 0 if not errors and len(load_ttft) == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
