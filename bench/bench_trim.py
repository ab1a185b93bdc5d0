"""Bench 7: trim a 1,000-turn conversation to a 4k-token budget (goal: <= 20 ms).

What is timed is what the chat page does before every answer:
``fit_to_budget(to_messages(turns), 4096, counter, system_prompt)``, with the two real
counters the app uses: tiktoken o200k_base (OpenAI models) and the embedded model's own
llama.cpp tokenizer. Measured side by side in one run:

- cold: a fresh counter, so every message the trim looks at is tokenized (first prompt of a
  long imported chat, or after a restart);
- warm: the same counter on the next prompt (one new user turn), counts cached per text,
  which is the steady state of a chat;
- uncached: a counter without the cache, i.e. what every prompt would cost without it.

Run: ``.venv/bin/python bench/bench_trim.py [repetitions]`` (default 15).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatlib.core.conversation import ChatTurn, fit_to_budget, to_messages  # noqa: E402
from chatlib.core.tokens import FunctionCounter, TokenCounter  # noqa: E402

TURNS = 1_000
BUDGET = 4_096
GOAL_MS = 20.0
SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and clearly."

_WORDS = (
    "the model streams tokens while the page renders markdown tables code and math so a user "
    "can compare latency throughput and quality of each provider honestly across runs with "
    "the same prompt seed and settings; budgets keep the newest messages that fit while older "
    "context is dropped and the sidebar says how many were kept. def ttft(t0, first): return "
    "first - t0 | provider | tok/s | `p95` **bold** _italic_ 1. 2. 3. 42 3.14 2026"
).split()


def conversation(turns: int = TURNS, seed: int = 7) -> list[ChatTurn]:
    """A long chat with realistic lengths: short prompts, longer answers (some with code)."""
    rng = random.Random(seed)
    out: list[ChatTurn] = []
    for i in range(turns):
        user = i % 2 == 0
        n = rng.randint(8, 60) if user else rng.randint(40, 320)
        text = " ".join(rng.choice(_WORDS) for _ in range(n))
        if not user and rng.random() < 0.2:
            text += "\n\n```python\nfor i in range(10):\n    print(i * i)\n```\n"
        out.append(ChatTurn("user" if user else "assistant", text))
    return out


class Uncached:
    """The same tokenizer with no per-text cache: the baseline the cache is measured against."""

    def __init__(self, name: str, count: Callable[[str], int]) -> None:
        self.name, self.source, self.count = f"{name} (uncached)", "tokenizer", count


def trim_ms(turns: list[ChatTurn], counter: TokenCounter) -> tuple[float, int]:
    t = time.perf_counter()
    fit = fit_to_budget(to_messages(turns), BUDGET, counter, SYSTEM_PROMPT)
    return (time.perf_counter() - t) * 1000, fit.kept


def measure(name: str, tokenize: Callable[[str], int], reps: int) -> dict[str, float]:
    turns = conversation()
    cold, warm, uncached = [], [], []
    kept = 0
    for r in range(reps):
        # Interleaved in one loop so machine load hits every variant alike.
        counter = FunctionCounter(name, tokenize)
        ms, kept = trim_ms(turns, counter)
        cold.append(ms)
        grown = turns + [ChatTurn("user", f"one more question, number {r}?")]
        warm.append(trim_ms(grown, counter)[0])
        uncached.append(trim_ms(turns, Uncached(name, tokenize))[0])
    # The whole chat counted (a budget everything fits in), for scale.
    t = time.perf_counter()
    total_tokens = sum(tokenize(m.content) for m in to_messages(turns))
    all_ms = (time.perf_counter() - t) * 1000
    return {
        "cold": statistics.median(cold), "cold_max": max(cold),
        "warm": statistics.median(warm), "warm_max": max(warm),
        "uncached": statistics.median(uncached), "kept": kept,
        "total_tokens": total_tokens, "count_all_ms": all_ms,
    }


def main() -> int:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    os.environ.setdefault("CHATLAB_DATA_DIR", tempfile.mkdtemp(prefix="chatlab-bench-"))
    from chatlib.providers.local import LocalProvider, default_gguf_path, load_llama
    from chatlib.core.tokens import TiktokenCounter

    tik = TiktokenCounter("o200k_base")
    path = default_gguf_path()
    local = LocalProvider(load_llama(path), path)
    counters = {
        "tiktoken o200k_base": tik._count_uncached,
        f"llama tokenizer ({local.model_name})": local.count_tokens,
    }
    print(f"bench 7: trim a {TURNS}-turn chat to a {BUDGET}-token budget "
          f"(median of {reps}, goal <= {GOAL_MS:.0f} ms)")
    worst = 0.0
    for name, tokenize in counters.items():
        m = measure(name, tokenize, reps)
        worst = max(worst, m["cold"])
        print(f"  {name}: keeps the newest {m['kept']} of {TURNS} messages "
              f"(chat = {m['total_tokens']:,} tokens; counting all of it takes "
              f"{m['count_all_ms']:.0f} ms)")
        print(f"    cold (fresh counter)   {m['cold']:7.2f} ms  (max {m['cold_max']:.2f})  "
              f"= {m['cold'] / GOAL_MS:.2f} x goal")
        print(f"    warm (next prompt)     {m['warm']:7.2f} ms  (max {m['warm_max']:.2f})  "
              f"= {m['warm'] / GOAL_MS:.3f} x goal")
        print(f"    uncached baseline      {m['uncached']:7.2f} ms  "
              f"-> cache speed-up {m['uncached'] / m['warm']:.0f}x")
    verdict = "meets" if worst <= GOAL_MS else "MISSES"
    print(f"RESULT trim 1k turns to 4k: worst cold median {worst:.2f} ms, "
          f"{worst / GOAL_MS:.2f} x the 20 ms goal ({verdict} the goal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
