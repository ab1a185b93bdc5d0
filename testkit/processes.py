"""Which processes the app started, read from /proc: its engine and the embedded model's
workers (for the tests that kill them)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["processes", "workers_of", "engine_of"]


def processes() -> dict[int, tuple[int, bytes]]:
    """Every process's parent and command line (read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found[int(entry.name)] = (ppid, cmdline)
    return found


def workers_of(parent: int) -> list[int]:
    """The model workers whose parent is ``parent``."""
    return [pid for pid, (ppid, cmdline) in processes().items()
            if ppid == parent and b"chatlib.providers.model_worker" in cmdline]


def engine_of(app: int) -> int:
    """The engine process the app ``app`` started."""
    [engine] = [pid for pid, (ppid, cmdline) in processes().items()
                if ppid == app and b"chatlib.engine.main" in cmdline]
    return engine
