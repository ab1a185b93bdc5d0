"""One answer as a recorded run and its figures (TTFT, ITL, TPOT, E2E, tokens/s), the
distributions of many runs, and what their tokens cost."""
