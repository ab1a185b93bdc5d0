"""The engine process: ``python -m chatlib.engine.main FD``, started by
``chatlib.engine.client`` with its end of a socket pair as file descriptor FD.

Its only work is reading streams: for each "ask" it builds the provider from its recipe and
runs a ``StreamPump`` (a reader thread per answer, timestamping every event on this
process's monotonic clock, which on Linux is the same clock as the app's), forwarding each
event to the app as it is kept (``chatlib.engine.protocol``). It renders nothing, runs no
script, stores nothing and runs no model: the embedded model is supervised in a process of
its own (``chatlib.providers.model_process``), which this process starts and restarts.

Threads, not asyncio: every provider is a blocking generator (the SDKs' sync clients,
llama.cpp's pipe), and one reader thread per answer keeps the app's one streaming path
(``StreamPump``) the same in both processes. The app's interpreter lock is what moved the
figures; this process's is held only by readers (bench ``bench_timing_honesty.py``).

It ends when the app's end of the socket closes (the app process ended or restarts it):
every answer in flight is stopped.
"""

from __future__ import annotations

import gc
import logging
import pickle
import queue
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from chatlib.core.errors import ProviderError
from chatlib.core.types import Message, Settings
from chatlib.engine.protocol import ASK, END, NOTICE, REASONING, STOP, TEXT, failed
from chatlib.providers.base import Provider, Recipe
from chatlib.streaming.pump import Outcome, StreamPump

__all__ = ["main", "ForwardingPump", "ProviderCache", "tune_for_reading"]

log = logging.getLogger("chatlib.engine")

Send = Callable[[tuple[Any, ...]], None]
_MAX_BATCH = 500  # events per message to the app, at most
SWITCH_INTERVAL_S = 0.0002


class ProviderCache:
    """Providers built from recipes; a reusable one (an SDK client with its pool of
    connections) is kept for the next answer with the same recipe, up to ``size``."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._kept: OrderedDict[bytes, Provider] = OrderedDict()
        self._lock = threading.Lock()

    def build(self, recipe: Recipe) -> Provider:
        if not recipe.reuse:
            return recipe.build(**recipe.kwargs)
        key = pickle.dumps(recipe)
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        provider: Provider = recipe.build(**recipe.kwargs)
        with self._lock:
            self._kept[key] = provider
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return provider


class _Unbuilt:
    """Stands in for the provider until the reader thread has built it."""

    id = "engine"


class ForwardingPump(StreamPump):
    """A ``StreamPump`` whose events go to the app as they are kept, and whose end is an
    ``Outcome`` sent there (the app builds the record with its own token counter)."""

    def __init__(self, answer_id: str, recipe: Recipe, messages: Sequence[Message],
                 settings: Settings, send: Send, providers: ProviderCache,
                 on_end: Callable[[str], None]) -> None:
        super().__init__(_Unbuilt(), messages, settings)  # type: ignore[arg-type]
        self.answer_id = answer_id
        self._recipe = recipe
        self._send = send
        self._providers = providers
        self._on_end = on_end

    def _read(self) -> None:
        try:
            self.provider = self._providers.build(self._recipe)
        except ProviderError as exc:
            self._finish(failed(exc.user_message))
            return
        except Exception as exc:  # a recipe the app could build but this process not
            self._finish(failed(f"Unexpected error ({type(exc).__name__}): {exc}"))
            return
        super()._read()

    def _add_text(self, offset: float, text: str) -> bool:
        kept = super()._add_text(offset, text)
        if kept:
            self._send((TEXT, self.answer_id, offset, text))
        return kept

    def _add_reasoning(self, offset: float, text: str, redacted: bool) -> bool:
        kept = super()._add_reasoning(offset, text, redacted)
        if kept:
            self._send((REASONING, self.answer_id, offset, text, redacted))
        return kept

    def _add_notice(self, notice: str) -> None:
        super()._add_notice(notice)
        self._send((NOTICE, self.answer_id, notice))

    def _finish(self, outcome: Outcome) -> None:
        self._send((END, self.answer_id, outcome))
        self._on_end(self.answer_id)
        self._done.set()


def _send_batches(conn: Connection, outbox: queue.SimpleQueue[tuple[Any, ...]]) -> None:
    """The one writer of ``conn``: whatever the readers queued since its last write goes
    as one message (a list). A reader never waits for the socket: when the app's process is
    busy it drains the socket late, and a reader blocked on a full socket would stamp its
    next chunk late (measured: p99 ITL error 41 ms at 50 sessions before this)."""
    while True:
        batch = [outbox.get()]
        while len(batch) < _MAX_BATCH:
            try:
                batch.append(outbox.get_nowait())
            except queue.Empty:
                break
        try:
            conn.send(batch)
        except OSError:  # the app is gone: the command loop ends this process
            return


def serve(conn: Connection) -> None:
    """Answer the app's commands on ``conn`` until it closes."""
    pumps: dict[str, ForwardingPump] = {}
    pumps_lock = threading.Lock()
    providers = ProviderCache()
    outbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    threading.Thread(target=_send_batches, args=(conn, outbox), name="engine-send",
                     daemon=True).start()
    send: Send = outbox.put

    def ended(answer_id: str) -> None:
        with pumps_lock:
            pumps.pop(answer_id, None)

    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            break
        if command[0] == ASK:
            _, answer_id, recipe, messages, settings = command
            pump = ForwardingPump(answer_id, recipe, messages, settings, send, providers, ended)
            with pumps_lock:
                pumps[answer_id] = pump
            pump.start()
        elif command[0] == STOP:
            with pumps_lock:
                stopping = pumps.get(command[1])
            if stopping is not None:
                stopping.stop()
    with pumps_lock:
        in_flight = list(pumps.values())
    for pump in in_flight:
        pump.stop()


def tune_for_reading() -> None:
    """Set up a process whose work is reading streams (the engine, a load worker)."""
    # A reader woken by its socket waits for the interpreter lock before it can stamp the
    # event; with dozens of readers, by default up to 5 ms (the switch interval). Its work
    # between stamps is short, so a 0.2 ms interval costs little and bounds that wait.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    # What was imported lives as long as the process: the collector need not walk it.
    gc.freeze()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="engine %(levelname)s %(message)s")
    tune_for_reading()
    serve(Connection(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
