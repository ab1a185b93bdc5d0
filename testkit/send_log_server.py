"""An OpenAI-style streaming server, run as a process of its own, that logs when it really
sent each chunk: the truth the app's recorded timings are checked against
(``bench/bench_timing_honesty.py``).

Every ``POST .../chat/completions`` is answered on a fixed schedule, measured from the moment
the request was received (its body read), or, with ``--capacity K``, from the moment it got
one of the server's K slots:

- the response headers at once (as vLLM, llama.cpp and OpenAI do: the stream opens, then
  the tokens come);
- content chunk 0 at ``first_delay_s`` (default 0.2 s), then ``chunks`` more (default 100),
  ``gap_s`` apart (default 10 ms), each on an absolute deadline so one late send does not
  shift the rest;
- then the finish chunk, the usage chunk and ``data: [DONE]`` at once.

**Capacity.** Without ``--capacity`` every request is served at once, however many there are.
With ``--capacity K`` at most K replies stream at once, as on a server with K batch slots: a
request beyond them waits, first come first served, with its stream open and silent, and its
schedule starts when a reply ends and hands it the slot. The wait shows in its TTFT exactly as
a real server's queue does; the log says how long it was (``queued_s``).

Each SSE frame is one HTTP chunk (chunked transfer encoding), written and flushed alone.

The log is JSON Lines, one line per request when its reply ends (``--log PATH``)::

    {"key": <the last user message's text>, "serial": n, "received": t, "queued_s": s,
     "sent": [t, ...], "sent_before": [t, ...], "texts": [...], "content_sent": true,
     "complete": true, "late_max_s": ...}

``serial`` numbers the requests in the order received; the reply's first chunk carries it
(``serial_of``), so a client's stored answer finds its log line even when two requests sent
the same prompt. ``queued_s``: how long the request waited for a slot (0 without a capacity).

``content_sent``: every content chunk was written; ``complete``: the whole reply, ``[DONE]``
and the body's end included. A client may close as soon as it has the usage chunk (the app's
OpenAI provider does): then ``content_sent`` holds, ``complete`` not, and ``error`` says
what the last write met (a broken pipe).

Times are ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for the whole machine on Linux, so
they compare with another process's). ``sent_before[i]`` is taken just before content chunk
``i`` is written, ``sent[i]`` just after it was written and flushed; the bytes reach the
reader in between. On a busy machine the stamp after is the one that goes wrong: the write
wakes the reader, which may take this thread's CPU before it stamps, so ``sent`` can land
milliseconds after the reader already had the chunk (as ``tests/wire/server.py`` notes too).
``late_max_s``: how far behind its own schedule the server sent (a starved server process;
the log still tells the truth, only the schedule slips).

Run: ``python -m testkit.send_log_server --log /tmp/sends.jsonl [--capacity K]`` prints
``PORT <n>`` (a free port on 127.0.0.1) on its first line once it listens, then serves until
stdin closes or SIGTERM. Base URL for a client: ``http://127.0.0.1:<n>/v1``. From a test or a
bench: ``testkit.send_log.send_log_server`` (a context manager) or ``WireServer``.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Schedule", "Slots", "content_texts", "serial_of", "serve", "main"]


@dataclass(frozen=True)
class Schedule:
    first_delay_s: float = 0.2
    chunks: int = 100  # content chunks after the first
    gap_s: float = 0.01


def content_texts(schedule: Schedule, serial: int) -> list[str]:
    """The content chunks of reply ``serial``: the first carries a marker unique to the
    request, so a stored answer can be told apart from another one at a glance. No text
    starts with ``<`` or is only whitespace: the app's ``<think>`` splitter would hold it
    back, and the recorded chunks would no longer be the sent ones, one for one."""
    return [f"Wire{serial:05d} "] + [f"w{i} " for i in range(1, schedule.chunks + 1)]


_MARKER = re.compile(r"^Wire(\d{5,}) $")


def serial_of(first_text: str) -> int | None:
    """The serial of the reply whose first content chunk is ``first_text`` (``None``: not a
    reply of this server)."""
    match = _MARKER.match(first_text)
    return int(match.group(1)) if match else None


class Slots:
    """At most ``capacity`` holders at once (``None``: no limit); the rest wait in arrival
    order. A slot freed while others wait is handed straight to the first of them, so a
    request that arrives later cannot take it first."""

    def __init__(self, capacity: int | None) -> None:
        if capacity is not None and capacity < 1:
            raise ValueError("a capacity is at least 1 slot")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._busy = 0
        self._waiting: deque[threading.Event] = deque()

    def acquire(self) -> None:
        if self.capacity is None:
            return
        with self._lock:
            if self._busy < self.capacity and not self._waiting:
                self._busy += 1
                return
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # the slot is ours when set: release() handed it over

    def release(self) -> None:
        if self.capacity is None:
            return
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()  # still busy: the slot changes hands
            else:
                self._busy -= 1


def _frame(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(serial: int, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    return _frame({"id": f"chatcmpl-wire{serial}", "object": "chat.completion.chunk",
                   "created": int(time.time()), "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def _usage(serial: int, model: str, prompt: int, completion: int) -> bytes:
    return _frame({"id": f"chatcmpl-wire{serial}", "object": "chat.completion.chunk",
                   "created": int(time.time()), "model": model, "choices": [],
                   "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}})


def _last_user_text(body: Any) -> str:
    messages = body.get("messages") if isinstance(body, dict) else None
    for m in reversed(messages or []):
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str):
            return m["content"]
    return ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Hundreds of clients connect at once in a load run: the stdlib's backlog of 5 would drop
    # their SYNs and add the kernel's 1 s retry to their TTFT, a delay of no real server's.
    request_queue_size = 1024
    schedule: Schedule
    slots: Slots
    log_file: Any
    log_lock: threading.Lock
    serial: int = 0

    def next_serial(self) -> int:
        with self.log_lock:
            self.serial += 1
            return self.serial

    def write_log(self, entry: dict[str, Any]) -> None:
        with self.log_lock:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()  # the bench reads the file while this server runs

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass  # the JSON log is the record; stderr stays quiet

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        # ``GET /models``: a client listing models gets one, anything else a 404.
        ok = self.path.split("?")[0].rstrip("/").endswith("/models")
        body = (json.dumps({"object": "list", "data": [{"id": "wire-probe", "object": "model",
                                                         "created": 0, "owned_by": "wire"}]})
                if ok else json.dumps({"error": {"message": f"no route {self.path}"}})).encode()
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        received = time.monotonic()  # the whole request is here: the schedule starts now
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        serial = self.server.next_serial()
        entry: dict[str, Any] = {"key": _last_user_text(body), "serial": serial,
                                 "received": received, "queued_s": 0.0, "sent": [],
                                 "sent_before": [], "texts": [], "content_sent": False,
                                 "complete": False, "late_max_s": 0.0}
        try:
            self._stream(serial, str(body.get("model") or "wire-probe"), received, entry)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError) as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            self.close_connection = True
        finally:
            self.server.write_log(entry)

    def _write_chunk(self, frame: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        self.wfile.flush()

    def _stream(self, serial: int, model: str, received: float, entry: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        slots = self.server.slots
        slots.acquire()
        try:
            start = time.monotonic() if slots.capacity is not None else received
            entry["queued_s"] = start - received
            self._send_reply(serial, model, start, entry)
        finally:
            slots.release()  # a reply cut short frees its slot too

    def _send_reply(self, serial: int, model: str, start: float, entry: dict[str, Any]) -> None:
        schedule = self.server.schedule
        texts = content_texts(schedule, serial)
        for i, text in enumerate(texts):
            due = start + schedule.first_delay_s + i * schedule.gap_s
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            delta: dict[str, Any] = {"content": text}
            if i == 0:
                delta["role"] = "assistant"
            frame = _chunk(serial, model, delta)
            before = time.monotonic()
            self._write_chunk(frame)
            after = time.monotonic()
            entry["sent_before"].append(before)
            entry["sent"].append(after)
            entry["texts"].append(text)
            entry["late_max_s"] = max(entry["late_max_s"], before - due)
        entry["content_sent"] = True
        self._write_chunk(_chunk(serial, model, {}, "stop"))
        self._write_chunk(_usage(serial, model, 10, len(texts)))
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        entry["complete"] = True


def serve(log_path: str, schedule: Schedule, capacity: int | None = None) -> _Server:
    """A started server on a free 127.0.0.1 port (``server_address``), logging to
    ``log_path``, streaming at most ``capacity`` replies at once (``None``: no limit);
    ``shutdown()`` then ``server_close()`` to stop it."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.schedule = schedule
    httpd.slots = Slots(capacity)
    httpd.log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed by main
    httpd.log_lock = threading.Lock()
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                     name="send-log-server", daemon=True).start()
    return httpd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", required=True, help="JSON Lines file, appended to")
    ap.add_argument("--first-delay", type=float, default=Schedule.first_delay_s)
    ap.add_argument("--chunks", type=int, default=Schedule.chunks)
    ap.add_argument("--gap", type=float, default=Schedule.gap_s)
    ap.add_argument("--capacity", type=int, default=None,
                    help="replies streamed at once; the rest wait in arrival order "
                    "(default: no limit)")
    args = ap.parse_args(argv)
    if args.capacity is not None and args.capacity < 1:
        ap.error("--capacity is at least 1")
    httpd = serve(args.log, Schedule(args.first_delay, args.chunks, args.gap), args.capacity)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    def watch_stdin() -> None:
        # Stdin closing (the parent gone) ends the server too: no orphan left behind.
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"PORT {httpd.server_address[1]}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    httpd.shutdown()
    httpd.server_close()
    httpd.log_file.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
