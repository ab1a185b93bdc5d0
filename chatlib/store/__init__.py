"""Chat Lab's store: recorded runs (``runs``), stored chats (``chats``), comparisons
(``comparisons``) and prompt-set runs (``prompt_sets``), in one database: an embedded SQLite
file by default (``sqlite``), or a PostgreSQL server for a team (``postgres``), chosen by
``CHATLAB_DATABASE_URL`` (``database``). Callers pass typed values (``RunFilter``, records,
chats); all SQL of chatlib is in this package."""

from chatlib.store.chats import ChatStore, ChatSummary
from chatlib.store.comparisons import ComparisonStore, StoredComparison, StoredTarget, StoredVote
from chatlib.store.backends import database_url, open_database
from chatlib.store.database import Database
from chatlib.store.filters import RunFilter
from chatlib.store.prompt_sets import PromptSetStore, StoredPromptCase, StoredPromptSet
from chatlib.store.runs import STATS_COLUMNS, RunStore

__all__ = [
    "RunStore", "RunFilter", "ChatStore", "ChatSummary", "ComparisonStore",
    "StoredComparison", "StoredTarget", "StoredVote", "STATS_COLUMNS", "PromptSetStore",
    "StoredPromptSet", "StoredPromptCase", "Database", "database_url", "open_database",
]
