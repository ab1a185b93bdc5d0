"""The SQLite schema, as a list of small migrations applied once each and recorded in the
``migrations`` table (``SqliteDatabase`` runs them in order, in one transaction, as it
opens). PostgreSQL's schema is ``chatlib.store.migrations_postgres``: the same tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from chatlib.store.itl_hours import ITL_HOURS_TABLE

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []
migration = MIGRATIONS.append


@migration
def m001_runs(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,      -- wall clock at t0 (epoch seconds)
            page TEXT NOT NULL,            -- chat | compare
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            group_id TEXT,
            status TEXT NOT NULL,          -- ok | stopped | error
            error TEXT,
            finish_reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 1,
            settings_json TEXT NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            response TEXT NOT NULL DEFAULT '',
            input_tokens INTEGER,
            input_source TEXT,             -- usage | tokenizer | estimate
            output_tokens INTEGER,
            output_source TEXT,
            chunk_count INTEGER NOT NULL,
            ttft_s REAL,
            e2e_s REAL,
            tpot_s REAL,
            itl_mean_s REAL,
            output_tps REAL,
            decode_tps REAL
        )
        """
    )
    # Offsets as packed float64 (seconds since t0), texts as a JSON list: kept apart so
    # aggregate queries never read them.
    db.execute(
        """
        CREATE TABLE chunks (
            run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            offsets BLOB NOT NULL,
            texts_json TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX runs_created ON runs(created_at)")
    db.execute("CREATE INDEX runs_provider_model ON runs(provider, model)")


@migration
def m002_votes(db: sqlite3.Connection) -> None:
    # One verdict per comparison (the compare page); its runs share group_id = comparison_id,
    # so a vote joins the latency figures of the runs it judged.
    db.execute(
        """
        CREATE TABLE votes (
            comparison_id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            choice TEXT NOT NULL,          -- the label judged better ("A", "B", ...) or "tie"
            blind INTEGER NOT NULL,        -- 1: names were hidden while voting
            prompt TEXT NOT NULL DEFAULT '',
            targets_json TEXT NOT NULL     -- [{label, provider, model, run_ids}]
        )
        """
    )


@migration
def m003_stats_index(db: sqlite3.Connection) -> None:
    # A covering index for the stats page: its per-model totals, per-run figures and the
    # run ids it joins to the chunk offsets are read from this narrow index alone (100k runs:
    # ~15 MB) instead of the wide rows that carry prompts and answers.
    db.execute(
        """CREATE INDEX runs_stats ON runs(provider, model, status, created_at, page, ttft_s,
               e2e_s, tpot_s, output_tps, decode_tps, chunk_count, input_tokens, output_tokens,
               input_source, output_source, id)"""
    )


@migration
def m004_chats(db: sqlite3.Connection) -> None:
    # A chat and its turns, written as they happen: the answer in flight is a turn with
    # status 'streaming' whose content the reader thread refreshes, so a crash keeps it.
    db.execute(
        """
        CREATE TABLE chats (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            settings_json TEXT NOT NULL DEFAULT '{}'  -- what the sidebar was set to; no key
        )
        """
    )
    db.execute(
        """
        CREATE TABLE chat_turns (
            chat_id TEXT NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,          -- 0, 1, 2, ... in the order shown
            role TEXT NOT NULL,            -- user | assistant
            content TEXT NOT NULL,
            status TEXT NOT NULL,          -- ok | stopped | error | streaming
            error TEXT,
            run_id TEXT,
            provider TEXT,
            model TEXT,
            summary TEXT,                  -- the run's figures line, once it ended
            created_at REAL NOT NULL,
            PRIMARY KEY (chat_id, seq)
        )
        """
    )
    db.execute("CREATE INDEX chats_updated ON chats(updated_at)")


@migration
def m005_comparisons(db: sqlite3.Connection) -> None:
    # A comparison, written when it starts and updated when it ends; its runs are the runs
    # with group_id = id (page 'compare', label = the target's), its vote the votes row.
    db.execute(
        """
        CREATE TABLE comparisons (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            prompt TEXT NOT NULL,
            shared_json TEXT NOT NULL,     -- system_prompt, max_tokens, temperature, seed
            repeat INTEGER NOT NULL,
            warmup INTEGER NOT NULL,
            blind INTEGER NOT NULL,
            targets_json TEXT NOT NULL,    -- [{label, provider, provider_label, model, settings}]
            ended_at REAL,                 -- NULL while it runs (or if the server died meanwhile)
            wall_s REAL,
            stopped INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute("CREATE INDEX comparisons_created ON comparisons(created_at)")


@migration
def m006_reasoning(db: sqlite3.Connection) -> None:
    # Reasoning models: their thinking is timed and counted apart from the answer (the
    # definitions are chatlib.runs.metrics'); its chunks are kept like the answer's.
    for column in ("ttfat_s REAL", "reasoning_s REAL", "reasoning_tokens INTEGER",
                   "reasoning_source TEXT", "reasoning_hidden INTEGER NOT NULL DEFAULT 0",
                   "answer_tokens INTEGER", "answer_decode_tps REAL"):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column}")
    db.execute("ALTER TABLE chunks ADD COLUMN reasoning_offsets BLOB NOT NULL DEFAULT x''")
    db.execute("ALTER TABLE chunks ADD COLUMN reasoning_texts_json TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE chat_turns ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE chat_turns ADD COLUMN reasoning_s REAL")  # "Thought for 4.2 s"
    # The stats page's covering index (m003), with the new per-run figures.
    db.execute("DROP INDEX runs_stats")
    db.execute(
        """CREATE INDEX runs_stats ON runs(provider, model, status, created_at, page, ttft_s,
               e2e_s, tpot_s, output_tps, decode_tps, chunk_count, input_tokens, output_tokens,
               input_source, output_source, ttfat_s, reasoning_s, answer_decode_tps,
               reasoning_tokens, id)"""
    )


@migration
def m007_prompt_sets(db: sqlite3.Connection) -> None:
    # A prompt-set run (chatlib.evals.runner): each case is one comparison (its runs: group_id =
    # comparison_id), linked here with what the case asks and checks.
    db.execute(
        """
        CREATE TABLE prompt_sets (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            source TEXT NOT NULL,          -- the name of the file the prompts came from
            targets_json TEXT NOT NULL,    -- ["provider:model", ...] in label order (A, B, ...)
            repeat INTEGER NOT NULL,
            settings_json TEXT NOT NULL,   -- the shared settings (system_prompt, max_tokens, ...)
            ended_at REAL,                 -- NULL while it runs (or if the process died meanwhile)
            stopped INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute(
        """
        CREATE TABLE prompt_set_cases (
            prompt_set_id TEXT NOT NULL REFERENCES prompt_sets(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,          -- 0, 1, 2, ... in the file's order
            case_json TEXT NOT NULL,       -- id, prompt, contains, regex, max_ttft_ms, ...
            comparison_id TEXT NOT NULL,   -- comparisons.id
            PRIMARY KEY (prompt_set_id, seq)
        )
        """
    )
    db.execute("CREATE INDEX prompt_sets_created ON prompt_sets(created_at)")


@migration
def m008_cached_tokens(db: sqlite3.Connection) -> None:
    # Input tokens a provider served from its prompt cache: a validity flag on Compare.
    db.execute("ALTER TABLE runs ADD COLUMN cached_input_tokens INTEGER")


@migration
def m009_comparison_turns(db: sqlite3.Connection) -> None:
    # Multi-turn compare: a comparison may continue an earlier one (its targets' histories
    # are in targets_json).
    db.execute("ALTER TABLE comparisons ADD COLUMN parent_id TEXT")


@migration
def m010_teams(db: sqlite3.Connection) -> None:
    # Sign-in: whose each row is (the signed-in user's id; '' when sign-in is not set up).
    for table in ("runs", "chats", "comparisons", "prompt_sets", "votes"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
    # Replicas: when an answer's turn was last written (its reader refreshes it every 0.5 s),
    # so another process can tell an answer in flight elsewhere from one cut off by a crash.
    db.execute("ALTER TABLE chat_turns ADD COLUMN updated_at REAL")
    db.execute("CREATE INDEX chats_owner_updated ON chats(owner, updated_at)")
    db.execute("CREATE INDEX runs_group ON runs(group_id)")  # a comparison's runs
    # The stats page's covering index (m006), which a signed-in user's filter reads too.
    db.execute("DROP INDEX runs_stats")
    db.execute(
        """CREATE INDEX runs_stats ON runs(provider, model, status, created_at, page, ttft_s,
               e2e_s, tpot_s, output_tps, decode_tps, chunk_count, input_tokens, output_tokens,
               input_source, output_source, ttfat_s, reasoning_s, answer_decode_tps,
               reasoning_tokens, owner, id)"""
    )


@migration
def m011_itl_hours(db: sqlite3.Connection) -> None:
    # The pooled inter-token latency of finished runs per model, page, owner and UTC hour, as
    # a histogram (chatlib.runs.distributions.GapHistogram), kept as runs are added: the stats
    # page sums these instead of reading every chunk offset (a million runs: 180M gaps).
    db.execute(ITL_HOURS_TABLE.format(real="REAL", blob="BLOB"))
    from chatlib.store.itl_hours import backfill

    backfill(db)


@migration
def m012_loads(db: sqlite3.Connection) -> None:
    # A load sweep (chatlib.load): what it ran (targets, workload, schedule, SLOs) and, per
    # level and target, what the generator measured of itself. Its requests are runs with
    # page 'load', group_id = '<load id>/<level seq>' and label = the target's.
    db.execute(
        """
        CREATE TABLE loads (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            spec_json TEXT NOT NULL,       -- targets, workload, schedule, SLOs (never a key)
            levels_json TEXT NOT NULL DEFAULT '[]',  -- [{seq, label, level, ... generator}]
            ended_at REAL,                 -- NULL while it runs (or if the process died)
            stopped INTEGER NOT NULL DEFAULT 0,
            owner TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX loads_owner_created ON loads(owner, created_at)")


@migration
def m013_judgements(db: sqlite3.Connection) -> None:
    # A judge's verdicts on a comparison or a prompt-set run (chatlib.quality.judge): kept
    # with what it judged; the judge's own requests are runs with page 'judge' and group_id =
    # this id, so its cost and latency are counted apart from the targets'.
    db.execute(
        """
        CREATE TABLE judgements (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            subject_kind TEXT NOT NULL,    -- comparison | prompt_set
            subject_id TEXT NOT NULL,
            judge TEXT NOT NULL,           -- "provider:model" of the judge
            mode TEXT NOT NULL,            -- pairwise | grade
            result_json TEXT NOT NULL,     -- the verdicts, with the judge's reasoning
            owner TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX judgements_subject ON judgements(owner, subject_id)")
