"""Stored chats: each chat and its turns in the run store's SQLite file.

Turns are written as they happen (``append_turns``, then ``update_turn`` while an answer
arrives and when it ends), so what a page shows is what a reload, another tab or a restarted
server finds. Settings are stored without keys (the sidebar's values only). The typed
arguments (``Chat``, ``ChatTurn``) are all a caller passes: no SQL leaves this package.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from chatlib.conversation import Chat, ChatTurn, TurnStatus
from chatlib.store.runs import RunStore

__all__ = ["ChatStore", "ChatSummary"]

_TURN_COLUMNS = ("role, content, status, error, run_id, provider, model, summary, created_at, "
                 "reasoning, reasoning_s")


@dataclass(frozen=True)
class ChatSummary:
    """A chat as the chat list shows it."""

    id: str
    title: str
    updated_at: float
    turns: int


class ChatStore:
    """Chats in the same file as ``runs`` (one ``RunStore``'s connection per thread)."""

    def __init__(self, runs: RunStore) -> None:
        self._runs = runs

    def _db(self) -> Any:
        return self._runs._connect()

    def create(self, chat: Chat) -> None:
        """Store a new chat with the turns it already has."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT INTO chats VALUES (?,?,?,?,?)",
                       (chat.id, chat.title, chat.created_at, chat.updated_at,
                        json.dumps(chat.settings)))
            self._insert_turns(db, chat.id, 0, chat.turns)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def exists(self, chat_id: str) -> bool:
        """Whether the chat is stored (without reading its turns)."""
        return self._db().execute("SELECT 1 FROM chats WHERE id = ?",
                                  (chat_id,)).fetchone() is not None

    def get(self, chat_id: str) -> Chat | None:
        db = self._db()
        row = db.execute("SELECT title, settings_json, created_at, updated_at FROM chats "
                         "WHERE id = ?", (chat_id,)).fetchone()
        if row is None:
            return None
        turns = [
            ChatTurn(role, content, status, error, run_id, provider, model, created_at, summary,
                     reasoning, reasoning_s)
            for (role, content, status, error, run_id, provider, model, summary, created_at,
                 reasoning, reasoning_s)
            in db.execute(f"SELECT {_TURN_COLUMNS} FROM chat_turns WHERE chat_id = ? "
                          "ORDER BY seq", (chat_id,))
        ]
        return Chat(chat_id, row[0], turns, json.loads(row[1]), row[2], row[3])

    def summaries(self, search: str = "", limit: int = 50) -> list[ChatSummary]:
        """Newest first; ``search`` matches the title or any turn's text (case-insensitive
        for ASCII letters, as SQL ``LIKE`` is)."""
        sql = ("SELECT c.id, c.title, c.updated_at, "
               "(SELECT COUNT(*) FROM chat_turns t WHERE t.chat_id = c.id) FROM chats c")
        params: list[Any] = []
        if search.strip():
            pattern = "%" + search.strip().replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_") + "%"
            sql += (" WHERE c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM chat_turns t "
                    "WHERE t.chat_id = c.id AND t.content LIKE ? ESCAPE '\\')")
            params += [pattern, pattern]
        sql += " ORDER BY c.updated_at DESC LIMIT ?"
        rows = self._db().execute(sql, [*params, int(limit)]).fetchall()
        return [ChatSummary(*row) for row in rows]

    def append_turns(self, chat_id: str, turns: list[ChatTurn]) -> int:
        """Add turns after the last one; returns the position (seq) of the first."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            (count,) = db.execute("SELECT COUNT(*) FROM chat_turns WHERE chat_id = ?",
                                  (chat_id,)).fetchone()
            self._insert_turns(db, chat_id, count, turns)
            db.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (time.time(), chat_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return int(count)

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
        self._db().execute(
            "UPDATE chat_turns SET content = ?, status = ?, error = ?, "
            "run_id = COALESCE(?, run_id), summary = COALESCE(?, summary), reasoning = ?, "
            "reasoning_s = ? WHERE chat_id = ? AND seq = ?",
            (content, status, error, run_id, summary, reasoning, reasoning_s, chat_id, seq))

    def truncate(self, chat_id: str, keep: int) -> None:
        """Drop every turn from position ``keep`` on (regenerate, edit-and-resend)."""
        self._db().execute("DELETE FROM chat_turns WHERE chat_id = ? AND seq >= ?",
                           (chat_id, keep))

    def save_settings(self, chat_id: str, settings: dict[str, Any]) -> None:
        self._db().execute("UPDATE chats SET settings_json = ? WHERE id = ?",
                           (json.dumps(settings), chat_id))

    def rename(self, chat_id: str, title: str) -> None:
        self._db().execute("UPDATE chats SET title = ? WHERE id = ?", (title, chat_id))

    def delete(self, chat_id: str) -> None:
        """The chat and its turns; its runs stay on the Stats page."""
        self._db().execute("DELETE FROM chats WHERE id = ?", (chat_id,))

    @staticmethod
    def _insert_turns(db: Any, chat_id: str, first: int, turns: list[ChatTurn]) -> None:
        db.executemany(
            f"INSERT INTO chat_turns (chat_id, seq, {_TURN_COLUMNS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(chat_id, first + i, t.role, t.content, t.status, t.error, t.run_id, t.provider,
              t.model, t.summary, t.created_at, t.reasoning, t.reasoning_s)
             for i, t in enumerate(turns)])
