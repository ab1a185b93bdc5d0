"""The timing-honesty bench in small (``bench/bench_timing_honesty.py``): probes through the
app's ``POST /chat``, read and timed by the engine while sessions chat beside them, each
matched chunk for chunk to the wire server's own send log. No timing is asserted (bench 13
in the README has the figures): what must hold is that every probe's stored run is the
server's answer, chunk for chunk, and that no chunk is recorded before the server sent it
(the engine's clock is the machine's).

Bounded: one app, 3 sessions, 4 s of probes against 127.0.0.1; every wait has a timeout.
"""

from __future__ import annotations

from bench.bench_timing_honesty import SCHEDULE, run_level
from testkit.send_log import WireServer


def test_probes_timed_by_the_engine_match_the_servers_send_log(tmp_path):
    wire = WireServer(tmp_path / "wire-sends.jsonl", SCHEDULE).start()
    try:
        level = run_level("process", "3", 4.0, tmp_path, wire)
    finally:
        wire.stop()
    assert level.errors == [] and level.skipped == []
    assert level.probes >= 3 and level.matched == level.probes
    assert level.early_chunks == 0  # nothing stamped before the server sent it
    # A gap and a TTFT for every matched probe: ~100 gaps each.
    assert len(level.ttft_err_ms) == level.matched
    assert len(level.itl_err_ms) >= 90 * level.matched
    assert level.child_cores > 0  # the engine read them: the app's child process worked
