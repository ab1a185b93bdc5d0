"""Stored chats: each chat and its turns, in the run store's database.

Turns are written as they happen (``append_turns``, then ``update_turn`` while an answer
arrives and when it ends), so what a page shows is what a reload, another tab or a restarted
server finds. Settings are stored without keys (the sidebar's values only). The typed
arguments (``Chat``, ``ChatTurn``) are all a caller passes: no SQL leaves this package.
Through a store scoped to a user (``RunStore.for_owner``), a chat is created as that user's,
and every read and change finds only that user's chats: another user's id is "no such chat".
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from chatlib.core.conversation import Chat, ChatTurn, TurnStatus
from chatlib.store.runs import RunStore

__all__ = ["ChatStore", "ChatSummary"]

_TURN_COLUMNS = ("role, content, status, error, run_id, provider, model, summary, created_at, "
                 "reasoning, reasoning_s, updated_at")


@dataclass(frozen=True)
class ChatSummary:
    """A chat as the chat list shows it."""

    id: str
    title: str
    updated_at: float
    turns: int


class ChatStore:
    """Chats in the database of ``runs``, seen as its owner."""

    def __init__(self, runs: RunStore) -> None:
        self._db = runs.database
        self._owner = runs.owner
        #: Whether other processes (replicas) may be answering in these chats too.
        self.shared = runs.database.shared
        self.location = runs.database.location

    def _mine(self, alias: str = "") -> tuple[str, list[Any]]:
        """`` AND owner = ?`` when scoped to a user."""
        return ("", []) if self._owner is None else (f" AND {alias}owner = ?", [self._owner])

    def _my_turns(self) -> tuple[str, list[Any]]:
        """For a statement on ``chat_turns``: only turns of this user's chats."""
        if self._owner is None:
            return "", []
        return " AND chat_id IN (SELECT id FROM chats WHERE owner = ?)", [self._owner]

    def create(self, chat: Chat) -> None:
        """Store a new chat with the turns it already has."""
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO chats (id, title, created_at, updated_at, settings_json, owner) "
                "VALUES (?,?,?,?,?,?)",
                (chat.id, chat.title, chat.created_at, chat.updated_at,
                 json.dumps(chat.settings), self._owner or ""))
            self._insert_turns(chat.id, 0, chat.turns)

    def exists(self, chat_id: str) -> bool:
        """Whether the chat is stored (without reading its turns)."""
        clause, params = self._mine()
        return self._db.one(f"SELECT 1 FROM chats WHERE id = ?{clause}",
                            (chat_id, *params)) is not None

    def get(self, chat_id: str) -> Chat | None:
        clause, params = self._mine()
        with self._db.snapshot():
            row = self._db.one("SELECT title, settings_json, created_at, updated_at FROM chats "
                               f"WHERE id = ?{clause}", (chat_id, *params))
            if row is None:
                return None
            turns = [
                ChatTurn(role, content, status, error, run_id, provider, model, created_at,
                         summary, reasoning, reasoning_s, updated_at)
                for (role, content, status, error, run_id, provider, model, summary,
                     created_at, reasoning, reasoning_s, updated_at)
                in self._db.all(f"SELECT {_TURN_COLUMNS} FROM chat_turns WHERE chat_id = ? "
                                "ORDER BY seq", (chat_id,))
            ]
        return Chat(chat_id, row[0], turns, json.loads(row[1]), row[2], row[3])

    def summaries(self, search: str = "", limit: int = 50) -> list[ChatSummary]:
        """Newest first; ``search`` matches the title or any turn's text (case-insensitive
        for ASCII letters at least)."""
        clause, params = self._mine("c.")
        sql = ("SELECT c.id, c.title, c.updated_at, "
               "(SELECT COUNT(*) FROM chat_turns t WHERE t.chat_id = c.id) FROM chats c "
               f"WHERE 1 = 1{clause}")
        if search.strip():
            pattern = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_") + "%"
            like = self._db.ilike
            sql += (f" AND (c.title {like} ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM chat_turns t "
                    f"WHERE t.chat_id = c.id AND t.content {like} ? ESCAPE '\\'))")
            params += [pattern, pattern]
        sql += " ORDER BY c.updated_at DESC, c.id LIMIT ?"
        rows = self._db.all(sql, [*params, int(limit)])
        return [ChatSummary(*row) for row in rows]

    def append_turns(self, chat_id: str, turns: list[ChatTurn]) -> int:
        """Add turns after the last one; returns the position (seq) of the first.
        ``LookupError`` if the chat is not this user's (or not stored)."""
        with self._db.transaction():
            if self._owner is not None and not self.exists(chat_id):
                raise LookupError(f"no chat {chat_id!r}")
            row = self._db.one("SELECT COUNT(*) FROM chat_turns WHERE chat_id = ?", (chat_id,))
            count = int(row[0]) if row else 0
            self._insert_turns(chat_id, count, turns)
            self._db.execute("UPDATE chats SET updated_at = ? WHERE id = ?",
                             (time.time(), chat_id))
        return count

    def update_turn(
        self,
        chat_id: str,
        seq: int,
        *,
        content: str,
        status: TurnStatus,
        error: str | None = None,
        run_id: str | None = None,
        summary: str | None = None,
        reasoning: str = "",
        reasoning_s: float | None = None,
    ) -> None:
        """The answer at ``seq`` as it stands (while streaming) or as it ended."""
        clause, params = self._my_turns()
        self._db.execute(
            "UPDATE chat_turns SET content = ?, status = ?, error = ?, "
            "run_id = COALESCE(?, run_id), summary = COALESCE(?, summary), reasoning = ?, "
            f"reasoning_s = ?, updated_at = ? WHERE chat_id = ? AND seq = ?{clause}",
            (content, status, error, run_id, summary, reasoning, reasoning_s, time.time(),
             chat_id, seq, *params))

    def touch(self, turns: list[tuple[str, int]], at: float | None = None) -> None:
        """Mark these ``(chat_id, seq)`` answers as still arriving (the replicas' lease), as
        of ``at`` (now)."""
        now = time.time() if at is None else at
        clause, params = self._my_turns()
        self._db.executemany(
            f"UPDATE chat_turns SET updated_at = ? WHERE chat_id = ? AND seq = ?{clause}",
            [(now, chat_id, seq, *params) for chat_id, seq in turns])

    def truncate(self, chat_id: str, keep: int) -> None:
        """Drop every turn from position ``keep`` on (regenerate, edit-and-resend)."""
        clause, params = self._my_turns()
        self._db.execute(f"DELETE FROM chat_turns WHERE chat_id = ? AND seq >= ?{clause}",
                         (chat_id, keep, *params))

    def save_settings(self, chat_id: str, settings: dict[str, Any]) -> None:
        clause, params = self._mine()
        self._db.execute(f"UPDATE chats SET settings_json = ? WHERE id = ?{clause}",
                         (json.dumps(settings), chat_id, *params))

    def rename(self, chat_id: str, title: str) -> None:
        clause, params = self._mine()
        self._db.execute(f"UPDATE chats SET title = ? WHERE id = ?{clause}",
                         (title, chat_id, *params))

    def delete(self, chat_id: str) -> None:
        """The chat and its turns; its runs stay on the Stats page."""
        clause, params = self._mine()
        with self._db.transaction():  # PostgreSQL's cascade and SQLite's alike
            if self._db.execute(f"DELETE FROM chats WHERE id = ?{clause}",
                                (chat_id, *params)):
                self._db.execute("DELETE FROM chat_turns WHERE chat_id = ?", (chat_id,))

    def _insert_turns(self, chat_id: str, first: int, turns: list[ChatTurn]) -> None:
        now = time.time()
        self._db.executemany(
            f"INSERT INTO chat_turns (chat_id, seq, {_TURN_COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(chat_id, first + i, t.role, t.content, t.status, t.error, t.run_id, t.provider,
              t.model, t.summary, t.created_at, t.reasoning, t.reasoning_s, now)
             for i, t in enumerate(turns)])
