"""Load workers on a Ray cluster (``chatlib.load.ray_pool``), tested on a local Ray instance
this test starts: the command line's ``--ray local`` runs a sweep whose requests are sent
and read in Ray actors (processes Ray started, not ours), stored like any other."""

from __future__ import annotations

import json
import os

import pytest

from chatlib.cli import load as load_cli

ray = pytest.importorskip("ray") if os.environ.get("CI") != "true" else __import__("ray")


def test_the_command_line_spreads_its_workers_over_a_local_ray_instance(
        isolated_data, capsys) -> None:
    out_json = isolated_data / "load.json"
    code = load_cli.main([
        "--target", "scripted:demo-fast", "--concurrency", "1,3", "--seconds", "1",
        "--input-tokens", "16", "--output-tokens", "16", "--workers", "2",
        "--ray", "local", "--json", str(out_json)])
    out = capsys.readouterr()
    assert code == load_cli.EXIT_PASSED, out.err
    assert not ray.is_initialized()  # the instance it started is ended with the run
    data = json.loads(out_json.read_text())
    levels = {level["level"]: level for level in data["levels"]}
    assert set(levels) == {1, 3}
    for level in levels.values():
        assert level["generator"]["in_workers"] and level["ok"] >= level["level"]
        assert not level["errors"]
    # Every request came back with its chunks, and from a process that is not this one.
    requests = data["requests"]
    assert len(requests) == sum(level["requests"] for level in levels.values())
    assert all(len(r["chunk_offsets_s"]) > 10 for r in requests)
    senders = {s for level in levels.values() for s in level["generator"]["senders"]}
    assert len(senders) == 2 and all(not s.endswith(f":{os.getpid()}") for s in senders)
    assert "A (scripted:demo-fast)" in out.out
