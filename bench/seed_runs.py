"""Seed a run store with many realistic runs, for the stats benchmark and demos.

    .venv/bin/python bench/seed_runs.py /tmp/runs.sqlite3 --runs 100000

Runs are spread over six providers/models with their own TTFT and inter-chunk gap
distributions, 100-300 chunks each, ~92 % ok, ~5 % stopped part-way, ~3 % failed (some before
any text), over the last 30 days. They go in through ``RunStore.add_many``, so every row is
what ``RunStore.add`` would have written (per-run metrics included). Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatlib.runs.record import RunRecord  # noqa: E402
from chatlib.store import RunStore  # noqa: E402

# provider, model, median TTFT (s), median gap (s), token source of output counts
MODELS = [
    ("openai", "gpt-4o-mini", 0.35, 0.012, "usage"),
    ("openai", "gpt-4.1", 0.55, 0.018, "usage"),
    ("anthropic", "claude-haiku-4-5", 0.45, 0.010, "usage"),
    ("anthropic", "claude-sonnet-4-5", 0.80, 0.020, "usage"),
    ("local", "SmolLM2-135M-Instruct.Q4_1.gguf", 0.15, 0.014, "tokenizer"),
    ("scripted", "demo-fast", 0.05, 0.005, "usage"),
]
WORDS = "the quick brown fox jumps over a lazy dog while streaming tokens arrive in order".split()


def _texts(n: int) -> list[str]:
    return [WORDS[i % len(WORDS)] + " " for i in range(n)]


def generate(count: int, seed: int = 7, now: float | None = None) -> Iterator[RunRecord]:
    """``count`` RunRecords; chunk text lists are shared between runs of the same length."""
    rng = np.random.default_rng(seed)
    now = time.time() if now is None else now
    texts = {n: _texts(n) for n in range(0, 301)}
    for start in range(0, count, 5000):
        n_batch = min(5000, count - start)
        which = rng.integers(0, len(MODELS), n_batch)
        chunks = rng.integers(100, 301, n_batch)
        status_draw = rng.random(n_batch)
        created = now - rng.random(n_batch) * 30 * 86400
        for i in range(n_batch):
            provider, model, ttft_med, gap_med, source = MODELS[which[i]]
            n = int(chunks[i])
            status = "ok"
            if status_draw[i] > 0.97:
                status, n = "error", int(n * rng.random() * 0.5)
            elif status_draw[i] > 0.92:
                status, n = "stopped", max(1, int(n * rng.random()))
            ttft = ttft_med * rng.lognormal(0.0, 0.35)
            gaps = gap_med * rng.lognormal(0.0, 0.5, max(0, n - 1))
            offsets = np.concatenate(([ttft], ttft + np.cumsum(gaps)))[:n] if n else np.empty(0)
            yield RunRecord(
                provider=provider, model=model,
                settings={"model": model, "temperature": 0.7, "max_tokens": 512},
                status=status, created_at=float(created[i]),
                chunk_offsets_s=offsets.tolist(), chunk_texts=texts[n],
                error="The provider failed (seeded)." if status == "error" else None,
                finish_reason="stop" if status == "ok" else None,
                input_tokens=int(20 + which[i] * 7), input_source=source,
                output_tokens=n, output_source=source,
                prompt="Seeded prompt", page="compare" if i % 4 == 0 else "chat",
            )


def seed(path: str | Path, count: int, seed: int = 7) -> RunStore:
    store = RunStore(path)
    store.add_many(generate(count, seed), batch=5000)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    t = time.perf_counter()
    store = seed(args.path, args.runs, args.seed)
    print(f"seeded {store.count():,} runs into {args.path} in {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
