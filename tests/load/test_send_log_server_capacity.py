"""The send-log server with a known capacity (``--capacity K``), as a load sweep's test server:
at most K replies stream at once, the rest wait first come first served, and a waiting
request's schedule starts when it gets its slot, so the wait is in its TTFT and in the log
(``queued_s``). Without a capacity nothing waits. Read from the server's own log: no
timing of this machine is asserted beyond the order of the server's own stamps.

Bounded: 6 short replies (5 chunks, 20 ms apart) per server against 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

from testkit.send_log import read_log, send_log_server
from testkit.send_log_server import Schedule

SHORT = Schedule(first_delay_s=0.05, chunks=4, gap_s=0.02)


def _ask_all(base_url: str, count: int) -> list[str]:
    """``count`` streaming requests at once (a thread each), each read to its end; their
    replies' texts."""
    replies = [""] * count

    def ask(i: int) -> None:
        body = json.dumps({"model": "m", "stream": True,
                           "messages": [{"role": "user", "content": f"request {i}"}]})
        request = urllib.request.Request(f"{base_url}/chat/completions", body.encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            replies[i] = response.read().decode()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
        time.sleep(0.005)  # in a known order, still all within one reply's time
    for t in threads:
        t.join(30)
    return replies


def _serve(tmp_path: Path, capacity: int | None) -> list[dict]:
    with send_log_server(tmp_path / f"sends-{capacity}.jsonl", SHORT, capacity) as (url, log):
        replies = _ask_all(url, 6)
    assert all(r.rstrip().endswith("data: [DONE]") for r in replies)
    entries = sorted(read_log(log), key=lambda e: e["received"])
    assert len(entries) == 6 and all(e["complete"] for e in entries)
    return entries


def test_at_most_k_replies_stream_at_once_and_the_rest_wait_in_order(tmp_path):
    entries = _serve(tmp_path, capacity=2)
    slots = [(e["received"] + e["queued_s"], e["sent"][-1]) for e in entries]
    # At any slot start, at most 2 replies hold a slot (the one starting included).
    for start, _ in slots:
        assert sum(1 for s, end in slots if s <= start < end) <= 2
    assert sum(e["queued_s"] > 0 for e in entries) >= 3  # 6 at once on 2 slots: some waited
    # First come, first served: slots are given in the order requests arrived.
    starts = [s for s, _ in slots]
    assert starts == sorted(starts)
    # The schedule starts at the slot: the wait is inside the server's own TTFT.
    for e in entries:
        assert e["sent_before"][0] - e["received"] >= e["queued_s"] + SHORT.first_delay_s


def test_without_a_capacity_nothing_waits(tmp_path):
    entries = _serve(tmp_path, capacity=None)
    assert all(e["queued_s"] == 0 for e in entries)
