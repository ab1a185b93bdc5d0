"""Chat Lab's store: recorded runs (``runs``), stored chats (``chats``), stored comparisons
(``comparisons``) and the schema they live in (``migrations``), in one SQLite file. All SQL
of chatlib is in this package."""

from chatlib.store.chats import ChatStore
from chatlib.store.comparisons import ComparisonStore, StoredComparison, StoredTarget, StoredVote
from chatlib.store.migrations import MIGRATIONS
from chatlib.store.prompt_sets import PromptSetStore, StoredPromptCase, StoredPromptSet
from chatlib.store.runs import STATS_COLUMNS, RowidMismatch, RunStore, default_store_path

__all__ = [
    "RunStore", "ChatStore", "ComparisonStore", "StoredComparison", "StoredTarget",
    "StoredVote", "RowidMismatch", "default_store_path", "MIGRATIONS", "STATS_COLUMNS",
    "PromptSetStore", "StoredPromptSet", "StoredPromptCase",
]
