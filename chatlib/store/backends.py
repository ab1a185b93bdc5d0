"""Which backend a store target names: a ``postgresql://`` URL is PostgreSQL
(``chatlib.store.postgres``), anything else a SQLite file (``chatlib.store.sqlite``); with no
target, the environment says (``CHATLAB_DATABASE_URL``, ``CHATLAB_DB``, the data dir)."""

from __future__ import annotations

import os
from pathlib import Path

from chatlib.store.database import Database

__all__ = ["database_url", "open_database"]


def database_url() -> str:
    """Where the store is: ``CHATLAB_DATABASE_URL`` (``postgresql://…`` for a team), else
    the SQLite file ``CHATLAB_DB``, else ``runs.sqlite3`` in the data dir."""
    from chatlib.core.paths import data_dir

    return (os.environ.get("CHATLAB_DATABASE_URL") or os.environ.get("CHATLAB_DB")
            or str(data_dir() / "runs.sqlite3"))


def open_database(target: str | Path | None = None) -> Database:
    """The backend for ``target``: a ``postgresql://`` URL, else a SQLite file path."""
    text = str(target) if target is not None else database_url()
    if text.startswith(("postgresql://", "postgres://")):
        from chatlib.store.postgres import PostgresDatabase

        return PostgresDatabase(text)
    from chatlib.store.sqlite import SqliteDatabase

    return SqliteDatabase(Path(text.removeprefix("sqlite:///")))
