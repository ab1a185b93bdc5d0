"""One prompt (or a conversation) to several targets at once: the comparison, its lifecycle and
store, the race, verdicts, tables, charts and exports."""
