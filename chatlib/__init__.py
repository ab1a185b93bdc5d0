"""Chat Lab's library, grouped by job (docs/architecture.md): core, runs, providers, store,
streaming, chat, compare, evals, stats, reports, and the front doors api and cli. Everything
here works without Streamlit; the pages only arrange widgets around it."""
