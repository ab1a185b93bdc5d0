"""A scripted HTTP server on 127.0.0.1 that speaks a streaming API's wire format.

The real ``openai`` and ``anthropic`` clients are pointed at it with ``base_url``; each
POST takes the next scripted ``Reply`` from a queue, so one test can script "429, then a
good stream". SSE bodies are sent with chunked transfer encoding, as real servers do, so a
dropped connection (``end="drop"``) is a broken body to the client, not a clean end.

The server records what a test needs to assert: each request (path, headers, JSON body)
and whether and when the client went away mid-reply (``Exchange.disconnected_at``).
A client that goes away is noticed within ``POLL_S`` while the server waits between events
(the socket turns readable with EOF), or at the next write.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = ["Reply", "Exchange", "WireServer", "free_port"]

POLL_S = 0.01


@dataclass(frozen=True)
class Reply:
    """One scripted response.

    ``events`` are raw SSE frames (bytes) for a streaming reply; ``body`` is a JSON body
    for a plain one (errors). ``first_byte_delay_s``: wait before sending anything (the
    status line included). ``gap_s``: wait before each event (``delays_s[i]`` before event
    ``i`` when given). ``end``: "clean" ends the
    chunked body, "drop" closes the socket mid-body, "hold" keeps the connection open and
    silent for ``hold_s`` after the last event (a stream that stalls).
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    events: tuple[bytes, ...] = ()
    first_byte_delay_s: float = 0.0
    gap_s: float = 0.0
    delays_s: tuple[float, ...] | None = None
    end: Literal["clean", "drop", "hold"] = "clean"
    hold_s: float = 10.0


@dataclass
class Exchange:
    """What the server saw of one request and how its reply went."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    started_at: float
    events_sent: int = 0
    # Monotonic, as each event starts to be written: the reader cannot have it before (a stamp
    # after the flush can land after the reader's own, when this thread is scheduled late).
    sent_at: list[float] = field(default_factory=list)
    finished: bool = False  # the whole reply was written
    disconnected_at: float | None = None  # monotonic time the client was seen gone


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass  # tests read Exchange records, not stderr

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        ex = self._record(None)
        if self.path.split("?")[0].rstrip("/").endswith("/models"):
            wire = self.server.wire
            self._send_json(wire.models_status, wire.models_body(), {})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}}, {})
        ex.finished = True

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        ex = self._record(body)
        reply = self.server.wire.next_reply()
        try:
            self._reply(ex, reply)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            self._gone(ex)

    # -- helpers ----------------------------------------------------------------------
    def _record(self, body: Any) -> Exchange:
        ex = Exchange(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
            body, time.monotonic(),
        )
        with self.server.wire.lock:
            self.server.wire.exchanges.append(ex)
        return ex

    def _gone(self, ex: Exchange) -> None:
        if ex.disconnected_at is None:
            ex.disconnected_at = time.monotonic()
            self.server.wire.disconnect.set()
        self.close_connection = True

    def _wait(self, ex: Exchange, seconds: float) -> bool:
        """Sleep ``seconds`` unless the client goes away (returns False) or the server stops."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if self.server.wire.closing.is_set():
                self.close_connection = True
                return False
            readable, _, _ = select.select([self.connection], [], [], min(POLL_S, left))
            if readable:
                try:
                    peek = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    peek = b""
                if not peek:  # EOF: the client closed its end
                    self._gone(ex)
                    return False
                time.sleep(min(POLL_S, left))  # pipelined bytes: not our business here

    def _send_json(self, status: int, body: Any, headers: dict[str, str]) -> None:
        # A str body is sent as it is, as HTML: a proxy's error page instead of JSON.
        html = isinstance(body, str)
        data = body.encode() if html else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if html else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _reply(self, ex: Exchange, reply: Reply) -> None:
        if reply.first_byte_delay_s and not self._wait(ex, reply.first_byte_delay_s):
            return
        if not reply.events:
            self._send_json(reply.status, reply.body, reply.headers)
            ex.finished = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.flush()
        for i, frame in enumerate(reply.events):
            gap = reply.delays_s[i] if reply.delays_s is not None else reply.gap_s
            if gap and not self._wait(ex, gap):
                return
            ex.sent_at.append(time.monotonic())
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            self.wfile.flush()
            ex.events_sent += 1
        if reply.end == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if reply.end == "hold" and not self._wait(ex, reply.hold_s):
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        ex.finished = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    wire: WireServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client dropping an idle keep-alive connection is normal (a pool being closed);
        # anything else is printed as the stdlib does.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class WireServer:
    """Serve scripted replies on 127.0.0.1; use as a context manager (or ``close()``)."""

    def __init__(self, models_body: Callable[[], Any] | None = None) -> None:
        self.lock = threading.Lock()
        self.exchanges: list[Exchange] = []
        self.disconnect = threading.Event()  # set when any client goes away mid-reply
        self.closing = threading.Event()
        self._replies: deque[Reply] = deque()
        self._models_body = models_body or (lambda: {"data": []})
        self.models_status = 200  # GET /models answers with this status
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.wire = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="wire-server", daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *replies: Reply) -> WireServer:
        """Queue replies for the next POSTs, in order."""
        with self.lock:
            self._replies.extend(replies)
        return self

    def next_reply(self) -> Reply:
        with self.lock:
            if self._replies:
                return self._replies.popleft()
        # A request the test did not script fails loudly rather than hanging.
        return Reply(status=418, body={"error": {"message": "no reply scripted", "type": "test"}})

    def models_body(self) -> Any:
        return self._models_body()

    @property
    def posts(self) -> list[Exchange]:
        with self.lock:
            return [e for e in self.exchanges if e.method == "POST"]

    def close(self) -> None:
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> WireServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port() -> int:
    """A port nothing listens on (bound then released): connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
