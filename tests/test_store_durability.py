"""The run store under concurrent writers and a writer killed mid-write.

Issue 6: 20 concurrent writers lose no run; a writer killed with SIGKILL mid-write leaves a
store that opens cleanly with every committed run intact. Every loop here is bounded in count
and in time. The writers are real threads and real OS processes, on each backend: one SQLite
file, and one database of a real PostgreSQL server (``store_target``, tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from chatlib.runs.record import RunRecord
from chatlib.store import RunStore
from chatlib.store.migrations_postgres import MIGRATIONS as PG_MIGRATIONS
from chatlib.store.migrations_sqlite import MIGRATIONS as SQLITE_MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent
WRITERS = 20


def make_record(writer: int, i: int, chunks: int = 40) -> RunRecord:
    """A run whose every field is derived from (writer, i), so any loss or mix-up shows."""
    texts = [f"w{writer}-r{i}-c{c} " for c in range(chunks)]
    return RunRecord(
        provider="scripted", model=f"m{writer % 3}", settings={"model": "m", "writer": writer},
        status="ok", created_at=1_700_000_000.0 + writer * 1000 + i,
        chunk_offsets_s=[0.05 + 0.01 * c for c in range(chunks)], chunk_texts=texts,
        finish_reason="stop", output_tokens=chunks, output_source="usage",
        prompt=f"prompt {writer}/{i}", group_id=f"g{writer}", id=f"w{writer:02d}-r{i:04d}",
    )


def digest(record: RunRecord) -> str:
    return hashlib.sha256(json.dumps(record.to_dict(), sort_keys=True).encode()).hexdigest()


def assert_store_sound(target: str) -> None:
    """The backend's own check passes, no run is half-written (a row without its chunks),
    and each migration was applied exactly once."""
    store = RunStore(target)
    try:
        assert store.integrity_problems() == []
        steps = PG_MIGRATIONS if target.startswith("postgresql:") else SQLITE_MIGRATIONS
        assert store.database.applied_migrations() == [m.__name__ for m in steps]
    finally:
        store.close()


def test_twenty_writer_threads_lose_no_run(store_target):
    store = RunStore(store_target)
    per_writer = 25
    start = threading.Barrier(WRITERS + 1)
    errors: list[BaseException] = []
    stop_reading = threading.Event()
    reads: list[int] = []

    def write(writer: int) -> None:
        try:
            start.wait(10)
            for i in range(per_writer):
                store.add(make_record(writer, i))
        except BaseException as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    def read() -> None:
        # The stats page reads while chat pages write; WAL must let it, without errors.
        try:
            start.wait(10)
            deadline = time.monotonic() + 30
            while not stop_reading.is_set() and time.monotonic() < deadline:
                reads.append(store.count())
                time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    reader = threading.Thread(target=read)
    for t in [*threads, reader]:
        t.start()
    for t in threads:
        t.join(60)
    stop_reading.set()
    reader.join(10)

    assert not errors, errors
    assert store.count() == WRITERS * per_writer
    for w in range(WRITERS):
        for i in range(per_writer):
            assert store.get(f"w{w:02d}-r{i:04d}") == make_record(w, i)
    assert reads and reads == sorted(reads)  # a reader never sees a count go back
    assert_store_sound(store_target)


def _process_writer(path: str, writer: int, per_writer: int, barrier) -> None:
    # Each process opens the (fresh) file itself, so the migrations race as well.
    barrier.wait(30)
    store = RunStore(path)
    for i in range(per_writer):
        store.add(make_record(writer, i))


def test_twenty_writer_processes_lose_no_run(store_target):
    path = store_target  # an absent file or an empty database: all 20 create and migrate it
    per_writer = 15
    # fork: the children start in milliseconds with chatlib already imported; no database
    # connection is open in this process yet, so none is carried across the fork.
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WRITERS)
    procs = [
        ctx.Process(target=_process_writer, args=(str(path), w, per_writer, barrier))
        for w in range(WRITERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    stuck = [p.pid for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(5)
    assert not stuck, f"writers still running after 60 s: {stuck}"
    assert [p.exitcode for p in procs] == [0] * WRITERS

    store = RunStore(path)
    assert store.count() == WRITERS * per_writer
    for w in range(WRITERS):
        for i in range(per_writer):
            assert store.get(f"w{w:02d}-r{i:04d}") == make_record(w, i)
    assert_store_sound(path)


# The child of the SIGKILL test. Its runs are built before the write loop, so the loop spends
# nearly all its time inside ``store.add`` (big runs: each insert takes a while) and a kill at
# a random moment usually lands inside a transaction. Each id is reported with its digest
# only after ``add`` returned, i.e. after the commit.
_KILLED_WRITER = """
import sys
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from chatlib.store import RunStore
from test_store_durability import digest, make_record
store = RunStore({path!r})
runs = [make_record({writer}, i, chunks=4000) for i in range(30)]
lines = [f"{{r.id}} {{digest(r)}}" for r in runs]
print("ready", flush=True)
for record, line in zip(runs, lines):
    store.add(record)
    print(line, flush=True)
"""


def test_writer_killed_mid_write_leaves_every_committed_run_intact(store_target):
    path = store_target
    rng = random.Random(6)
    committed: dict[str, str] = {}
    rounds = 4  # each round reopens a file whose last writer was killed
    for writer in range(rounds):
        code = _KILLED_WRITER.format(
            root=str(ROOT), tests=str(ROOT / "tests"), path=str(path), writer=writer
        )
        child = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        try:
            # Wait for a few commits, then kill at a random moment of a later write.
            ready = child.stdout.readline().decode()
            assert ready == "ready\n", child.stderr.read().decode()[-2000:]
            want = 3 + writer
            lines: list[str] = []
            deadline = time.monotonic() + 60
            while len(lines) < want and time.monotonic() < deadline:
                line = child.stdout.readline().decode()
                if not line:
                    break
                lines.append(line)
            assert len(lines) == want, child.stderr.read().decode()[-2000:]
            time.sleep(rng.uniform(0.0, 0.03))
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            assert child.returncode == -signal.SIGKILL
            lines += child.stdout.read().decode().splitlines(keepends=True)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(10)
            child.stdout.close()
            child.stderr.close()
        for line in lines:
            if line.endswith("\n"):  # a line cut by the kill is not a report
                run_id, run_digest = line.split()
                committed[run_id] = run_digest

        # The store opens cleanly after the kill, and every reported run is whole.
        assert_store_sound(path)
        store = RunStore(path)
        for run_id, run_digest in committed.items():
            saved = store.get(run_id)
            assert saved is not None, f"committed run {run_id} lost"
            assert digest(saved) == run_digest, f"committed run {run_id} changed"
        assert store.count() >= len(committed)
        # ...and it still takes writes.
        store.add(make_record(99, writer))
        committed[f"w99-r{writer:04d}"] = digest(make_record(99, writer))
    assert len(committed) >= sum(3 + w for w in range(rounds)) + rounds
