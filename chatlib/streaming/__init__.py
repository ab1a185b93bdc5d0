"""The one streaming path: a provider read and timed in its own thread, its text handed out in
batches and blocks, and the live figures of an answer in flight."""
