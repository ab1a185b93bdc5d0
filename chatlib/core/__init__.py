"""The plain parts every other package stands on: messages, settings and events, errors, safe
text, where files live, token counters, a chat's history and its token budget."""
