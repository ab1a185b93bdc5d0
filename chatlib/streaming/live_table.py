"""The answers in flight in this process, by key (a chat's id, a comparison's id), for every
session, tab and script run of the process: the one registry chats and comparisons share.

Two kinds of lock, and neither is held across I/O (a database read, a provider's stream):

- the table's own lock guards its dicts alone, for the length of a dict operation;
- ``lock_for(key)`` gives a lock per key, for a caller that must make a few steps one step
  for that key only ("stop the live answer, then start the next"), without holding up any
  other chat or comparison.

Each entry remembers its owner (the store's user, ``None`` without sign-in), so a lookup
for another user finds nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["LiveTable"]

K = TypeVar("K")
V = TypeVar("V")


class LiveTable(Generic[K, V]):
    """Entries by key, oldest first; see the module docstring."""

    def __init__(self) -> None:
        self._entries: OrderedDict[K, tuple[V, str | None]] = OrderedDict()
        self._key_locks: dict[K, threading.RLock] = {}
        self._lock = threading.Lock()

    def get(self, key: K, owner: str | None = None) -> V | None:
        """The entry, if there is one and it is ``owner``'s (any owner's for ``None``)."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or (owner is not None and entry[1] != owner):
            return None
        return entry[0]

    def put(self, key: K, value: V, owner: str | None = None) -> None:
        with self._lock:
            self._entries[key] = (value, owner)
            self._entries.move_to_end(key)

    def remove(self, key: K, value: V | None = None) -> None:
        """Take the entry out (only if it is still ``value``, when given)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (value is None or entry[0] is value):
                del self._entries[key]

    def items(self) -> list[tuple[K, V]]:
        """A copy of the entries, oldest first."""
        with self._lock:
            return [(key, value) for key, (value, _) in self._entries.items()]

    def keep_last(self, count: int, ended: Callable[[V], bool]) -> None:
        """Forget all but the ``count`` newest entries that have ``ended``."""
        with self._lock:
            gone = [key for key, (value, _) in self._entries.items() if ended(value)]
            for key in gone[:max(0, len(gone) - count)]:
                del self._entries[key]

    def lock_for(self, key: K) -> threading.RLock:
        """The lock of this key alone (see the module docstring)."""
        with self._lock:
            return self._key_locks.setdefault(key, threading.RLock())
