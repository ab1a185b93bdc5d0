"""The app's side of the engine: start it, send it answers, and give the pages pumps that
read what it timed.

    new_pump(provider, ...) ─► EnginePump (a StreamPump fed by the engine)   the default
                            └► StreamPump (read here)     CHATLAB_ENGINE=inline, or a provider
                                                          with no recipe / a test's own clock

One engine per app process (``shared_client``): the answers' callbacks (the chat's turn, the
run store) live in that process, so an engine per host would need a network protocol of our
own and would outlive the callbacks it serves. It is started when the app starts
(``start()``, from ``app.py``) or by the first answer; until it is up, what the app sends
waits in the socket. Each ``EnginePump`` has a thread in the app that applies the engine's
events, reports progress and records the run (store writes never hold up the engine or the
channel's reader).

If the engine dies (killed, crashed), every answer it was reading ends at once with
``ENGINE_LOST_MESSAGE`` and the text that had arrived; the next answer starts a new engine.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from chatlib.core.errors import ProviderError
from chatlib.core.exits import exit_words
from chatlib.core.types import Message, Settings
from chatlib.engine.protocol import (ASK, END, ENGINE_LOST_MESSAGE, NOTICE, REASONING, STOP,
                                     TEXT, failed)
from chatlib.providers.base import Provider, Recipe, recipe_of
from chatlib.streaming.pump import StreamPump

__all__ = ["EngineClient", "EnginePump", "new_pump", "shared_client", "engine_enabled",
           "child_env", "ENGINE_ENV"]

log = logging.getLogger(__name__)

ENGINE_ENV = "CHATLAB_ENGINE"  # "inline": read every stream in the app's process


def engine_enabled() -> bool:
    return os.environ.get(ENGINE_ENV, "process") != "inline"


class EngineClient:
    """Starts the engine process, sends it commands, routes its events to the pumps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the connection, the process, the answers in flight
        self._send_lock = threading.Lock()
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._answers: dict[str, EnginePump] = {}
        self.starts = 0  # engines started so far (a restart after a crash counts)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def start(self) -> None:
        """Start the engine now if it is not running (the app calls this at start-up)."""
        with self._lock:
            self._ensure_locked()

    def _ensure_locked(self) -> Connection:
        if self._conn is not None:
            return self._conn
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "chatlib.engine.main", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=child_env())
        finally:
            theirs.close()
        conn = Connection(ours.detach())
        self._conn, self._process = conn, process
        self.starts += 1
        threading.Thread(target=self._route, args=(conn, process), name="chatlib-engine",
                         daemon=True).start()
        return conn

    def ask(self, pump: EnginePump, recipe: Recipe) -> bool:
        """Hand ``pump``'s answer to the engine; False if it was stopped before it went."""
        for attempt in (1, 2):
            with self._lock:
                if pump.stop_asked:
                    return False
                conn = self._ensure_locked()
                pump.engine_conn = conn
                self._answers[pump.run_id] = pump
            try:
                with self._send_lock:
                    conn.send((ASK, pump.run_id, recipe, pump.messages, pump.settings))
                return True
            except OSError:  # the engine died just now: its router ends this answer
                with self._lock:
                    self._answers.pop(pump.run_id, None)
                    if self._conn is conn:
                        self._conn = None
                if attempt == 2:
                    raise
        return False  # not reached

    def stop(self, answer_id: str) -> None:
        with self._lock:
            conn = self._conn if answer_id in self._answers else None
        if conn is not None:
            try:
                with self._send_lock:
                    conn.send((STOP, answer_id))
            except OSError:
                pass  # the engine is gone: its router ends the answer

    def _route(self, conn: Connection, process: subprocess.Popen[bytes]) -> None:
        while True:
            try:
                batch = conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                for message in batch:
                    pump = self._answers.get(message[1])
                    if message[0] == END:
                        self._answers.pop(message[1], None)
                    if pump is not None:
                        pump.inbox.put(message)
        with self._lock:
            if self._conn is conn:
                self._conn = None
            lost = [p for p in self._answers.values() if p.engine_conn is conn]
            for p in lost:
                self._answers.pop(p.run_id, None)
        conn.close()
        why = _exit_reason(process)
        for p in lost:
            p.inbox.put(("lost", p.run_id, why, conn))

    def close(self) -> None:
        """End the engine (its answers in flight end as lost)."""
        with self._lock:
            conn, process = self._conn, self._process
        if conn is not None:
            # Shut the socket down, not close it: the router thread is reading it, and ends
            # (closing it) when it reads the end; so does the engine.
            try:
                with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the router closed it already (the engine had ended)
        if process is not None:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()


def child_env() -> dict[str, str]:
    """The app's environment for a child process of ours (the engine, a load worker), with
    this checkout first on its import path: the app
    may have been started from any directory, and relative paths in the environment
    (``CHATLAB_GGUF``) must mean what they mean to the app, so the working directory stays."""
    root = str(Path(__file__).resolve().parent.parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([root, path] if path else [root])}


def _exit_reason(process: subprocess.Popen[bytes]) -> str:
    """How the engine ended, in words: its signal, or its exit code."""
    try:
        code = process.wait(1.0)
    except subprocess.TimeoutExpired:
        return "it closed its channel"
    return exit_words(code)


class EnginePump(StreamPump):
    """A ``StreamPump`` whose stream is read and timed in the engine: its own thread sends
    the answer there, then applies the events that come back (offsets as the engine took
    them) and records the run, so pages read it exactly as they read a local pump."""

    def __init__(self, provider: Provider, messages: Sequence[Message], settings: Settings, *,
                 client: EngineClient, recipe: Recipe, **kwargs: Any) -> None:
        super().__init__(provider, messages, settings, **kwargs)
        self._client = client
        self._recipe = recipe
        self.inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.engine_conn: Connection | None = None

    def _read(self) -> None:
        before_send = getattr(type(self.provider), "before_send", None)
        try:
            if before_send is not None:
                before_send(self.provider)  # the session's paid-request limit, counted here
            sent = self._client.ask(self, self._recipe)
        except ProviderError as exc:
            self._finish(failed(exc.user_message))
            return
        except OSError as exc:
            self._finish(failed(ENGINE_LOST_MESSAGE.format(why=f"could not start: {exc}")))
            return
        if not sent:
            self._finish(replace(failed(""), status="stopped", error=None))
            return
        while True:
            message = self.inbox.get()
            kind = message[0]
            if kind == TEXT:
                self._add_text(message[2], message[3])
            elif kind == REASONING:
                self._add_reasoning(message[2], message[3], message[4])
            elif kind == NOTICE:
                self._add_notice(message[2])
            elif kind == END:
                outcome = message[2]
                if self.stop_asked and outcome.status == "ok":
                    # Stopped here before the engine's end arrived: the text was frozen
                    # at the Stop, so the run is a stopped one.
                    outcome = replace(outcome, status="stopped", complete=False)
                self._finish(outcome)
                return
            elif message[3] is self.engine_conn:  # the engine it was sent to died
                if self.stop_asked:
                    self._finish(replace(failed(""), status="stopped", error=None))
                else:
                    self._finish(failed(ENGINE_LOST_MESSAGE.format(why=message[2])))
                return

    def stop(self) -> None:
        super().stop()  # the text is frozen here at once
        self._client.stop(self.run_id)


_CLIENT: EngineClient | None = None
_CLIENT_LOCK = threading.Lock()


def shared_client() -> EngineClient:
    """This process's engine client (one engine per app process)."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            _CLIENT = EngineClient()
        return _CLIENT


def new_pump(provider: Provider, messages: Sequence[Message], settings: Settings, *,
             clock: Callable[[], float] = time.monotonic, client: EngineClient | None = None,
             **kwargs: Any) -> StreamPump:
    """The pump for one answer, not started: read and timed in an engine (``client``'s, by
    default this process's shared one) when the provider can be built there (``recipe_of``)
    and the clock is the real one (the engine's clock is ``time.monotonic``), else in this
    process. ``kwargs`` are ``StreamPump``'s."""
    recipe = recipe_of(provider) if engine_enabled() and clock is time.monotonic else None
    if recipe is None:
        return StreamPump(provider, messages, settings, clock=clock, **kwargs)
    return EnginePump(provider, messages, settings, client=client or shared_client(),
                      recipe=recipe, **kwargs)
