"""The PostgreSQL schema: the same tables and columns as SQLite's
(``chatlib.store.migrations_sqlite`` after all its steps), as migrations applied once each and
recorded in ``migrations`` (``PostgresDatabase`` runs them in one transaction, under an
advisory lock, so replicas that start together migrate once).

The first step is SQLite's eleven steps at once (PostgreSQL support started with that schema);
later steps are added to both modules. Types: ``DOUBLE PRECISION`` for SQLite's ``REAL``,
``BYTEA`` for its ``BLOB`` (the packed float64 chunk offsets, byte for byte the same).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatlib.store.itl_hours import ITL_HOURS_TABLE

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[Callable[[Any], None]] = []
migration = MIGRATIONS.append


@migration
def m001_schema(db: Any) -> None:
    db.execute(
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,  -- wall clock at t0 (epoch seconds)
            page TEXT NOT NULL,                    -- chat | compare | api
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            group_id TEXT,
            status TEXT NOT NULL,                  -- ok | stopped | error
            error TEXT,
            finish_reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 1,
            settings_json TEXT NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            response TEXT NOT NULL DEFAULT '',
            input_tokens INTEGER,
            input_source TEXT,                     -- usage | tokenizer | estimate
            output_tokens INTEGER,
            output_source TEXT,
            chunk_count INTEGER NOT NULL,
            ttft_s DOUBLE PRECISION,
            e2e_s DOUBLE PRECISION,
            tpot_s DOUBLE PRECISION,
            itl_mean_s DOUBLE PRECISION,
            output_tps DOUBLE PRECISION,
            decode_tps DOUBLE PRECISION,
            ttfat_s DOUBLE PRECISION,
            reasoning_s DOUBLE PRECISION,
            reasoning_tokens INTEGER,
            reasoning_source TEXT,
            reasoning_hidden INTEGER NOT NULL DEFAULT 0,
            answer_tokens INTEGER,
            answer_decode_tps DOUBLE PRECISION,
            cached_input_tokens INTEGER,
            owner TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute(
        """
        CREATE TABLE chunks (
            run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            offsets BYTEA NOT NULL,
            texts_json TEXT NOT NULL,
            reasoning_offsets BYTEA NOT NULL DEFAULT '',
            reasoning_texts_json TEXT NOT NULL DEFAULT '[]'
        )
        """
    )
    db.execute("CREATE INDEX runs_created ON runs(created_at)")
    db.execute("CREATE INDEX runs_group ON runs(group_id)")
    # The stats page's figures come from this index alone (an index-only scan once vacuumed).
    db.execute(
        """CREATE INDEX runs_stats ON runs(provider, model, status, created_at)
           INCLUDE (page, ttft_s, e2e_s, tpot_s, output_tps, decode_tps, chunk_count,
                    input_tokens, output_tokens, input_source, output_source, ttfat_s,
                    reasoning_s, answer_decode_tps, reasoning_tokens, owner, id)"""
    )
    db.execute(
        """
        CREATE TABLE votes (
            comparison_id TEXT PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            choice TEXT NOT NULL,
            blind INTEGER NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            targets_json TEXT NOT NULL,
            owner TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute(
        """
        CREATE TABLE chats (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            settings_json TEXT NOT NULL DEFAULT '{}',
            owner TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute(
        """
        CREATE TABLE chat_turns (
            chat_id TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            run_id TEXT,
            provider TEXT,
            model TEXT,
            summary TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            reasoning TEXT NOT NULL DEFAULT '',
            reasoning_s DOUBLE PRECISION,
            updated_at DOUBLE PRECISION,           -- refreshed while the answer arrives
            PRIMARY KEY (chat_id, seq)
        )
        """
    )
    db.execute("CREATE INDEX chats_owner_updated ON chats(owner, updated_at)")
    db.execute(
        """
        CREATE TABLE comparisons (
            id TEXT PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            prompt TEXT NOT NULL,
            shared_json TEXT NOT NULL,
            repeat INTEGER NOT NULL,
            warmup INTEGER NOT NULL,
            blind INTEGER NOT NULL,
            targets_json TEXT NOT NULL,
            ended_at DOUBLE PRECISION,
            wall_s DOUBLE PRECISION,
            stopped INTEGER NOT NULL DEFAULT 0,
            parent_id TEXT,
            owner TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX comparisons_created ON comparisons(created_at)")
    db.execute(
        """
        CREATE TABLE prompt_sets (
            id TEXT PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            source TEXT NOT NULL,
            targets_json TEXT NOT NULL,
            repeat INTEGER NOT NULL,
            settings_json TEXT NOT NULL,
            ended_at DOUBLE PRECISION,
            stopped INTEGER NOT NULL DEFAULT 0,
            owner TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute(
        """
        CREATE TABLE prompt_set_cases (
            prompt_set_id TEXT NOT NULL REFERENCES prompt_sets(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            case_json TEXT NOT NULL,
            comparison_id TEXT NOT NULL,
            PRIMARY KEY (prompt_set_id, seq)
        )
        """
    )
    db.execute("CREATE INDEX prompt_sets_created ON prompt_sets(created_at)")
    db.execute(ITL_HOURS_TABLE.format(real="DOUBLE PRECISION", blob="BYTEA"))


@migration
def m002_loads(db: Any) -> None:
    # SQLite's m012: a load sweep; its requests are runs with page 'load'.
    db.execute(
        """
        CREATE TABLE loads (
            id TEXT PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            spec_json TEXT NOT NULL,
            levels_json TEXT NOT NULL DEFAULT '[]',
            ended_at DOUBLE PRECISION,
            stopped INTEGER NOT NULL DEFAULT 0,
            owner TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX loads_owner_created ON loads(owner, created_at)")


@migration
def m003_judgements(db: Any) -> None:
    # SQLite's m013: a judge's verdicts; its requests are runs with page 'judge'.
    db.execute(
        """
        CREATE TABLE judgements (
            id TEXT PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL,
            subject_kind TEXT NOT NULL,
            subject_id TEXT NOT NULL,
            judge TEXT NOT NULL,
            mode TEXT NOT NULL,
            result_json TEXT NOT NULL,
            owner TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX judgements_subject ON judgements(owner, subject_id)")
