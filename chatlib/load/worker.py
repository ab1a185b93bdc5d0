"""A load worker process: ``python -m chatlib.load.worker FD``, started by
``chatlib.load.generator.WorkerPool`` with its end of a socket pair as file descriptor FD.

Its only work is sending a level's requests on schedule and reading them
(``lanes.run_here``): it builds the provider from its recipe (as the engine does), runs the
lanes or the pacer, and sends each request's record back as it ends, then what it measured
of itself. It renders, stores and counts nothing; the app fills in a token count the
provider did not report. Like the engine it runs its readers with a short switch interval
and a frozen heap, so a reader woken by its socket stamps promptly.

Protocol (``multiprocessing.connection``: pickles, both ends ours)::

    app -> worker   ("level", Recipe, LevelTask)     one at a time
                    ("stop",)                         stop the level in flight
    worker -> app   ("record", RunRecord)             each request, as it ends
                    ("done", LevelStats | None, error)  the level's end
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from chatlib.engine.main import ProviderCache, tune_for_reading
from chatlib.load.lanes import LevelTask, run_here
from chatlib.providers.base import Recipe

__all__ = ["main", "LEVEL", "STOP", "RECORD", "DONE"]

LEVEL, STOP, RECORD, DONE = "level", "stop", "record", "done"
log = logging.getLogger("chatlib.load.worker")


def _send_all(conn: Connection, outbox: queue.SimpleQueue[tuple[Any, ...] | None]) -> None:
    # One thread writes, so a reader that ends never waits on the socket.
    while (message := outbox.get()) is not None:
        try:
            conn.send(message)
        except OSError:
            return


def serve(conn: Connection) -> None:
    providers = ProviderCache()
    outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
    threading.Thread(target=_send_all, args=(conn, outbox), name="worker-send",
                     daemon=True).start()
    stop = threading.Event()
    running: threading.Thread | None = None

    def level(recipe: Recipe, task: LevelTask) -> None:
        try:
            provider = providers.build(recipe)
            stats = run_here(task, provider, stop, lambda record: outbox.put((RECORD, record)))
        except Exception as exc:  # said to the app, which ends the level with it
            log.exception("a load level failed")
            outbox.put((DONE, None, f"{type(exc).__name__}: {exc}"))
        else:
            outbox.put((DONE, stats, None))

    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            break
        if command[0] == LEVEL:
            if running is not None:
                running.join()
            stop.clear()
            running = threading.Thread(target=level, args=command[1:], name="worker-level",
                                       daemon=True)
            running.start()
        elif command[0] == STOP:
            stop.set()
    stop.set()
    if running is not None:
        running.join(30)
    outbox.put(None)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="load worker %(levelname)s %(message)s")
    tune_for_reading()
    serve(Connection(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
