"""The load generator's honesty bench in small (``bench/bench_load_generator.py``): a load
run of 1 then 20 concurrent streams against the send-log server, every stored request
matched to the server's own log. No timing is asserted (bench 14 in the README has the
figures): what must hold is that every request's stored chunks are the server's reply,
chunk for chunk, that no chunk is stamped before the server sent it (the workers' clock is
the machine's), and that the streams were read in the generator's worker processes.

Bounded: two levels of 3 s against 127.0.0.1, plus their last requests (~1.2 s each).
"""

from __future__ import annotations

from bench.bench_load_generator import SCHEDULE, measure


def test_a_load_runs_requests_match_the_servers_send_log(tmp_path):
    bench = measure([1, 20], 3.0, tmp_path)
    assert bench.failure is None
    assert [r.level for r in bench.levels] == [1, 20]
    for level in bench.levels:
        assert level.result.errors == {}
        assert level.requests >= level.level  # every lane sent at least one request
        # Every stored request is one of the server's replies, chunk for chunk.
        assert level.skipped == [] and level.matched == level.requests
        assert level.chunks == level.matched * (SCHEDULE.chunks + 1)
        assert len(level.itl_err_ms) == level.matched * SCHEDULE.chunks
        assert level.early_chunks == 0  # nothing stamped before the server sent it
        assert level.result.generator.in_workers  # read in the worker processes
