"""Chat Lab's library: providers, the streaming pump, token budgets, metrics and the run
store. Everything here works without Streamlit; the pages only arrange widgets around it."""
