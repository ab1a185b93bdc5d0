"""The knee against servers of known capacity, side by side: two OpenAI-style streaming
servers (testkit.send_log_server, real HTTP, read by the official SDK in the load's worker
processes), one with 2 slots and one with 5; past its slots a request waits for a whole
reply, so its TTFT goes from 0.1 s to over 0.5 s. The sweep finds 2 and 5, goodput falls
past each, and the command line exits 1 when an SLO is missed at the required level.

No timing is asserted beyond that gulf between a slot and a queue. On a loaded machine a
level may be flagged client-bound and then is not counted: the knee is checked against the
levels that were measured cleanly, and exactly when none was flagged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatlib.cli import load as load_cli
from chatlib.compare.comparison import TargetSpec
from chatlib.core.tokens import counter_for
from chatlib.load.levels import LevelResult
from chatlib.load.run import LoadRun
from chatlib.load.spec import LoadSpec, Schedule, Workload, parse_slo
from chatlib.providers.catalog import PRESETS, KeyChoice, build_provider
from testkit.send_log import read_log, send_log_server
from testkit.send_log_server import Schedule as Reply

# 0.1 s to the first chunk, then 10 chunks 40 ms apart: a reply holds its slot 0.5 s.
REPLY = Reply(first_delay_s=0.1, chunks=10, gap_s=0.04)
# A queued request waits a whole reply (0.5 s) before its first chunk (0.1 s): its TTFT is
# 0.6 s at least, never under this limit; one in a slot has 0.35 s of slack for a busy machine.
SLO = "p99 ttft <= 450ms"


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, str]]:
    with send_log_server(tmp_path / "two.jsonl", REPLY, capacity=2) as (two, log), \
            send_log_server(tmp_path / "five.jsonl", REPLY, capacity=5) as (five, _):
        yield {"two": two, "five": five, "two_log": str(log)}


def _target(base_url: str) -> TargetSpec:
    provider = build_provider(PRESETS["openai-compatible"], base_url=base_url,
                              key=KeyChoice(None, None))
    return TargetSpec(provider, "wire", counter_for("openai-compatible", "wire"))


def _expected_knee(results: list[LevelResult], capacity: int) -> float | None:
    clean = [r for r in results if not r.client_bound]
    assert all(r.meets_slos == (r.level <= capacity) for r in clean), \
        [(r.level, r.meets_slos, r.percentiles["ttft"]) for r in clean]
    return max((r.level for r in clean if r.level <= capacity), default=None)


def test_a_sweep_finds_each_servers_capacity_side_by_side(servers) -> None:
    spec = LoadSpec((("A", "two"), ("B", "five")), Workload(input_tokens=16, output_tokens=10),
                    Schedule("sweep", max_level=16), slos=(parse_slo(SLO),), seconds=1.5)
    run = LoadRun(spec, [_target(servers["two"]), _target(servers["five"])]).start()
    assert run.wait(300) and run.failure is None
    knees = {k.label: k for k in run.knees()}
    for label, capacity in (("A", 2), ("B", 5)):
        results = run.target_results(label)
        assert all(r.generator.in_workers and not r.errors for r in results)
        assert knees[label].level == _expected_knee(results, capacity)
        if not any(r.client_bound for r in results):
            assert knees[label].level == capacity
            assert f"holds p99 TTFT ≤ 450 ms up to {capacity} concurrent streams" \
                in knees[label].words
            # Goodput (requests within the SLO per second) falls past the knee: the queued
            # requests miss, and there is no more capacity to finish others.
            held = next(r for r in results if r.level == capacity)
            past = [r for r in results if r.level > capacity]
            assert past and all(r.goodput_per_s < held.goodput_per_s for r in past)


def test_the_command_line_fails_when_an_slo_is_missed_at_the_required_level(
        servers, monkeypatch, isolated_data, capsys) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", servers["two"])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    common = ["--target", "openai:wire", "--concurrency", "1,4", "--seconds", "1.5",
              "--input-tokens", "16", "--output-tokens", "10", "--slo", SLO,
              "--json", str(isolated_data / "load.json"), "--yes"]
    # 4 streams on 2 slots: half the requests queue behind a whole reply.
    code = load_cli.main([*common, "--require", "4", "--requests", "12"])
    out = capsys.readouterr().out
    results = _levels_from(out)
    if not results.get(4, "").count("CLIENT-BOUND"):
        assert code == load_cli.EXIT_FAILED
        assert "FAIL A does not hold p99 TTFT ≤ 450 ms at 4 concurrent streams" in out
    sent = json.loads((isolated_data / "load.json").read_text())["requests"]
    assert len(sent) >= 2 and all(r["chunk_offsets_s"] for r in sent)
    # The server saw each stored request, and one warm-up first (one worker), never stored.
    received = read_log(Path(servers["two_log"]))
    assert len(received) == len(sent) + 1
    first = min(received, key=lambda entry: entry["received"])
    assert first["key"] not in {r["prompt"] for r in sent}
    code = load_cli.main([*common, "--require", "1", "--requests", "12"])
    out = capsys.readouterr().out
    if "CLIENT-BOUND" not in _levels_from(out).get(1, ""):
        assert code == load_cli.EXIT_PASSED


def _levels_from(out: str) -> dict[int, str]:
    """Each level's progress line, by its number of streams."""
    lines = {}
    for line in out.splitlines():
        if line.startswith("A at "):
            lines[int(line.split()[2])] = line
    return lines


def test_bad_input_exits_2_with_one_line(capsys) -> None:
    assert load_cli.main(["--target", "scripted:demo-fast", "--sweep", "--slo", "p99 x"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_:
        load_cli.main(["--target", "scripted:demo-fast"])  # no schedule
    assert exit_.value.code == 2
    assert load_cli.main(["--target", "scripted:demo-fast", "--concurrency", "1",
                          "--require", "1"]) == 2  # --require needs an SLO
