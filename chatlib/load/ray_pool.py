"""Load workers past one machine: the same level shares (``lanes.run_here``) run in Ray
actors, one per worker, on whatever nodes a Ray cluster has (``python -m chatlib.cli.load
--ray ADDRESS``; ``--ray local`` starts a Ray instance on this machine).

Why Ray: an actor is a plain Python process running our own code unchanged (the recipe, the
lanes, the SDKs' threads), as llmperf spreads its clients; Locust's distributed mode runs
gevent, whose monkey-patched sockets and threads the SDK clients and the lanes were not
written for. Each actor sends its share of a level and returns its records and its check of
itself when the share ends; a Stop reaches it while it runs (two calls at once per actor).
Every node needs this checkout's dependencies (``requirements.txt``); chatlib itself is
shipped to the actors with the job (``runtime_env`` ``py_modules``).

Ray is imported only here, and only when asked for: it is a test dependency, not the app's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatlib.load.lanes import LevelStats, LevelTask, run_here
from chatlib.load.worker import LEVEL, STOP
from chatlib.providers.base import Recipe
from chatlib.runs.record import RunRecord

__all__ = ["RayPool", "LoadActor"]


class LoadActor:
    """What a Ray actor runs (wrapped by ``ray.remote`` in ``RayPool``)."""

    def __init__(self) -> None:
        from chatlib.engine.main import ProviderCache

        self._providers = ProviderCache()
        self._stop = threading.Event()

    def run(self, recipe: Recipe, task: LevelTask
            ) -> tuple[list[RunRecord], LevelStats | None, str | None]:
        self._stop.clear()
        records: list[RunRecord] = []
        try:
            stats = run_here(task, self._providers.build(recipe), self._stop, records.append)
        except Exception as exc:  # said to the generator, which ends the level with it
            return records, None, f"{type(exc).__name__}: {exc}"
        return records, stats, None

    def stop(self) -> None:
        self._stop.set()

    def node(self) -> str:
        import socket

        return socket.gethostname()


class _RayWorker:
    """One actor, as the generator sees a worker: ``run`` a level, ``send`` a stop."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def run(self, message: tuple[Any, ...], on_record: Callable[[RunRecord], None]
            ) -> tuple[LevelStats | None, str | None]:
        import ray

        kind, recipe, task = message
        assert kind == LEVEL
        try:
            records, stats, error = ray.get(self.actor.run.remote(recipe, task))
        except ray.exceptions.RayError as exc:
            return None, f"A Ray load worker failed: {exc}"
        for record in records:
            on_record(record)
        return stats, error

    def send(self, message: tuple[Any, ...]) -> None:
        if message[0] == STOP:
            self.actor.stop.remote()

    def close(self) -> None:
        import ray

        ray.kill(self.actor)


class RayPool:
    """``count`` load actors on the Ray cluster at ``address`` ("local": a new instance on
    this machine, ended with the pool; anything else is passed to ``ray.init``)."""

    def __init__(self, count: int, address: str = "auto") -> None:
        self.count = max(1, count)
        self.address = address
        self._workers: list[_RayWorker] = []
        self._started_here = False

    def workers(self) -> list[_RayWorker]:
        if self._workers:
            return self._workers
        import ray

        if not ray.is_initialized():
            # This package's folder, shipped to every node with the job.
            modules = {"py_modules": [str(Path(__file__).resolve().parent.parent)]}
            if self.address == "local":
                ray.init(include_dashboard=False, log_to_driver=False, runtime_env=modules)
                self._started_here = True
            else:
                ray.init(address=self.address, log_to_driver=False, runtime_env=modules)
        # Two calls at once, so a Stop reaches a running level; no CPU reserved, so a small
        # cluster (this machine's) places every actor.
        actor = ray.remote(LoadActor).options(max_concurrency=2, num_cpus=0)
        self._workers = [_RayWorker(actor.remote()) for _ in range(self.count)]
        return self._workers

    def nodes(self) -> list[str]:
        """Where each actor runs (host names)."""
        import ray

        return ray.get([w.actor.node.remote() for w in self.workers()])

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        self._workers = []
        if self._started_here:
            import ray

            ray.shutdown()
            self._started_here = False
