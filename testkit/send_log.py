"""The send-log server (``testkit.send_log_server``) from a test or a bench: start it in a
process of its own, read its log, and hold a stored answer's recorded chunks against what the
server really sent.

Used by bench 13 (``bench/bench_timing_honesty.py``: the app's timings under load) and
bench 14 (``bench/bench_load_generator.py``: the load generator's own timing error), and by
their small versions in ``tests/load/``. The definitions are theirs (seconds here):

- ITL error = |recorded gap between chunks i and i+1 − the server's gap between sending
  them|, for every consecutive pair;
- TTFT error = recorded TTFT − (server's first chunk sent − server's request received). The
  recorded TTFT starts at the client's t0, just before the request is made, so this error
  also holds the request's trip to the server (client setup, connect, send);
- lag = recorded arrival of chunk i − its send time, on one clock: the client's t0 is put on
  the monotonic clock through the record's ``created_at`` (the wall time of t0) and this
  machine's wall-to-monotonic offset (``wall_minus_monotonic``). A negative lag is a chunk
  recorded before the server sent it (``early``): a late send stamp, or a wrong clock.

The send time is the server's stamp *before* the write (``stamp="before"``), or after the
write and flush (``"after"``); see the server's docstring for why "before" is the default.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from testkit.send_log_server import Schedule

__all__ = ["WireServer", "send_log_server", "read_log", "wall_minus_monotonic",
           "ChunkCheck", "check_chunks", "why_not_comparable", "Stamp", "UNCERTAIN_S"]

ROOT = Path(__file__).resolve().parent.parent
Stamp = Literal["before", "after"]
# A chunk whose write took longer than this, stamp to stamp, has a send time known only that
# well (the server process was starved or preempted): counted, so noise on the server's side
# is not read as the client's.
UNCERTAIN_S = 0.001


class WireServer:
    """``python -m testkit.send_log_server`` as a child process, and its log. ``stop()``
    (or leaving its ``with``) ends it; it also ends by itself when this process dies (its
    stdin closes)."""

    def __init__(self, log_path: Path, schedule: Schedule = Schedule(),
                 capacity: int | None = None) -> None:
        self.log_path = Path(log_path)
        self.schedule = schedule
        self.capacity = capacity
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout_s: float = 30) -> WireServer:
        s = self.schedule
        cmd = [sys.executable, "-m", "testkit.send_log_server", "--log", str(self.log_path),
               "--first-delay", str(s.first_delay_s), "--chunks", str(s.chunks),
               "--gap", str(s.gap_s)]
        if self.capacity is not None:
            cmd += ["--capacity", str(self.capacity)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the wire server did not start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def entries(self) -> list[dict[str, Any]]:
        """Its log so far, a line per request, in the order the replies ended."""
        return read_log(self.log_path)

    def log(self) -> dict[str, list[dict[str, Any]]]:
        """Its log so far, by prompt (a list: a prompt sent twice is there twice)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for entry in self.entries():
            out.setdefault(entry["key"], []).append(entry)
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # it stops when its stdin closes
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> WireServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextmanager
def send_log_server(log_path: Path, schedule: Schedule = Schedule(),
                    capacity: int | None = None) -> Iterator[tuple[str, Path]]:
    """A send-log server for the ``with`` block: yields its base URL
    (``http://127.0.0.1:<port>/v1``) and the path of its log."""
    with WireServer(log_path, schedule, capacity) as wire:
        yield wire.base_url, wire.log_path


def read_log(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a send log (none when it does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wall_minus_monotonic() -> float:
    """time.time() − time.monotonic() on this machine, the narrowest of a few reads."""
    best = None
    for _ in range(20):
        a = time.monotonic()
        w = time.time()
        b = time.monotonic()
        if best is None or b - a < best[0]:
            best = (b - a, w - (a + b) / 2)
    assert best is not None
    return best[1]


def why_not_comparable(status: str | None, chunk_texts: Sequence[str],
                       entry: dict[str, Any]) -> str | None:
    """Why a stored answer cannot be held against the log line ``entry`` chunk for chunk,
    or ``None`` when it can: it must have ended ok, the server must have sent all its
    content (a client may hang up after the usage chunk, before ``[DONE]``), and the
    recorded chunks must be the sent ones, one for one, or the gaps would not be the same
    gaps."""
    if status != "ok" or not entry["content_sent"]:
        return (f"run {status or 'gone'}, server content "
                f"{'sent' if entry['content_sent'] else 'cut'}")
    if list(chunk_texts) != entry["texts"]:
        return f"{len(chunk_texts)} chunks recorded for {len(entry['texts'])} sent"
    return None


@dataclass(frozen=True)
class ChunkCheck:
    """One answer's recorded chunk times held against the server's (seconds)."""

    itl_err_s: list[float]  # |recorded gap − sent gap|, per consecutive pair
    ttft_err_s: float  # recorded TTFT − server's (first send − received)
    lag_s: list[float]  # recorded arrival − sent, per chunk, on the monotonic clock
    trip_s: float  # client t0 → server received
    write_s: list[float]  # each chunk's write, stamp to stamp (the send time's uncertainty)
    server_late_s: float  # the server's worst lateness against its own schedule
    queued_s: float  # how long the request waited for a server slot

    @property
    def early(self) -> int:
        """Chunks recorded before the server sent them."""
        return sum(1 for v in self.lag_s if v < 0)

    @property
    def uncertain_sends(self) -> int:
        return sum(1 for v in self.write_s if v > UNCERTAIN_S)


def check_chunks(offsets_s: Sequence[float], created_at: float, entry: dict[str, Any],
                 wall_minus_mono: float, stamp: Stamp = "before") -> ChunkCheck:
    """Hold an answer recorded at ``offsets_s`` from its t0 (wall time ``created_at``)
    against its log line ``entry`` (check ``why_not_comparable`` first)."""
    sent_at = entry["sent_before"] if stamp == "before" else entry["sent"]
    received = entry["received"]
    itl = [abs((offsets_s[i + 1] - offsets_s[i]) - (sent_at[i + 1] - sent_at[i]))
           for i in range(len(offsets_s) - 1)]
    t0 = created_at - wall_minus_mono  # the client's t0 on the monotonic clock
    return ChunkCheck(
        itl_err_s=itl,
        ttft_err_s=offsets_s[0] - (sent_at[0] - received),
        lag_s=[t0 + off - s for off, s in zip(offsets_s, sent_at)],
        trip_s=received - t0,
        write_s=[a - b for a, b in zip(entry["sent"], entry["sent_before"])],
        server_late_s=float(entry.get("late_max_s", 0.0)),
        queued_s=float(entry.get("queued_s", 0.0)),
    )
