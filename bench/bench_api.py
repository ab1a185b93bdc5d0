"""The streaming chat API: what POST /chat adds to the first token, alone and with 20
clients at once.

A real ``streamlit run app.py`` serves a scripted model (0.1 s to the first chunk, then 50
chunks 10 ms apart). Each request is read with a plain HTTP client; the figure per request:

- added = (first ``data: {"content"}`` event read by the client − the request sent) − the
  run's own TTFT as the pump recorded it where the provider's bytes arrived;

so "added" is what the HTTP layer, the SSE framing and the event loop cost on top of the
provider. Baseline in the same run: the same script through ``StreamPump`` in this process,
first batch out of ``text_batches()`` − its recorded TTFT (what any reader of the pump pays).
Every client must end with ``[DONE]`` and the whole text.

Run: ``.venv/bin/python bench/bench_api.py [--requests 20] [--clients 20]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatlib.providers.scripted import Script, ScriptedProvider  # noqa: E402
from chatlib.streaming.pump import StreamPump  # noqa: E402
from chatlib.store import RunFilter, RunStore  # noqa: E402
from chatlib.core.types import Message, Settings  # noqa: E402
from testkit.app_server import AppServer, scripted_app_env  # noqa: E402

CHUNKS = tuple(f"w{i} " for i in range(50))
SPEC = {"chunks": list(CHUNKS), "first_delay_s": 0.1, "gap_s": 0.01}


def one_request(port: int, prompt: str) -> tuple[float, bool]:
    """(seconds from sending to the first content event, ended with [DONE] and all text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        body = json.dumps({"message": prompt, "provider": "scripted", "model": "bench-api"})
        sent = time.perf_counter()
        conn.request("POST", "/chat", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        first, text, done = None, "", False
        while line := response.readline():
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip().decode()
            if data == "[DONE]":
                done = True
                continue
            if first is None:
                first = time.perf_counter() - sent
            text += json.loads(data).get("content", "")
        return (first if first is not None else float("nan")), done and text == "".join(CHUNKS)
    finally:
        conn.close()


def added_ms(store: RunStore, prompts_first: dict[str, float]) -> list[float]:
    out = []
    for prompt, first in prompts_first.items():
        runs = store.runs(RunFilter(pages=("api",), prompts=(prompt,)))
        out.append((first - float(runs.ttft_s.iloc[0])) * 1000)
    return out


def in_process_ms(requests: int) -> list[float]:
    out = []
    for _ in range(requests):
        pump = StreamPump(ScriptedProvider(Script(chunks=CHUNKS, first_delay_s=0.1,
                                                  gap_s=0.01)),
                          [Message("user", "x")], Settings(model="bench-api"),
                          clock=time.perf_counter).start()
        started = pump.started_at or time.perf_counter()
        batches = pump.text_batches()
        first = next(b for b in batches if b)
        seen = time.perf_counter() - started
        assert first
        for _ in batches:
            pass
        record = pump.wait(30)
        assert record is not None and record.ttft_s is not None
        out.append((seen - record.ttft_s) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-api-"))
    server = AppServer({**scripted_app_env(data, {"bench-api": SPEC}),
                        "CHATLAB_API_RATE_PER_MINUTE": "0"}).start()
    store = RunStore(data / "runs.sqlite3")
    try:
        one_request(server.port, "warm-up")  # imports, the first tokenizer load
        alone = {}
        for i in range(args.requests):
            first, ok = one_request(server.port, f"alone {i}")
            assert ok, "a request did not end with [DONE] and the whole text"
            alone[f"alone {i}"] = first
        together: dict[str, float] = {}
        failed = []

        def client(i: int) -> None:
            first, ok = one_request(server.port, f"together {i}")
            together[f"together {i}"] = first
            if not ok:
                failed.append(i)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        time.sleep(0.5)  # the last runs' records
        api_alone = added_ms(store, alone)
        api_together = added_ms(store, together)
    finally:
        server.stop()
    baseline = in_process_ms(args.requests)
    print("first content event - recorded TTFT, ms (p50 / p95):")
    print(f"  in-process pump reader (baseline): {statistics.median(baseline):.1f} / "
          f"{pct(baseline, 95):.1f}")
    print(f"  POST /chat, one client at a time:  {statistics.median(api_alone):.1f} / "
          f"{pct(api_alone, 95):.1f}  ({args.requests} requests)")
    print(f"  POST /chat, {args.clients} clients at once:   "
          f"{statistics.median(api_together):.1f} / {pct(api_together, 95):.1f}; "
          f"{len(failed)} incomplete")
    print(f"RESULT api first event added p50 {statistics.median(api_alone):.1f} ms alone, "
          f"{statistics.median(api_together):.1f} ms with {args.clients} clients "
          f"(baseline in-process {statistics.median(baseline):.1f} ms); "
          f"{len(failed)} of {args.clients} concurrent incomplete")


if __name__ == "__main__":
    main()
