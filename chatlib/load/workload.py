"""The prompts a load level sends: a prompt set's in turn, or synthetic ones of a length in
the target's own tokens (its tokenizer counts them, so "128 input tokens" means 128 of that
model's tokens, or an estimate when its counter says so), head included.

Every request's prompt starts with its own number (``lanes.request_head``), so a provider's
prefix cache cannot serve one request from another's. The synthetic texts are built before a
level starts: counting tokens is CPU work the generator must not do while it times. Each
request's own count is taken afterwards, in the app, from the prompt it sent.
"""

from __future__ import annotations

import random

from chatlib.core.tokens import TokenCounter
from chatlib.load.lanes import request_head
from chatlib.load.spec import Workload

__all__ = ["synthetic_prompt", "level_prompts", "POOL_SIZE"]

POOL_SIZE = 64  # synthetic texts per level; request k sends text k mod the pool, after its head

_WORDS = (
    "river stone window garden music paper orange silver market winter letter bridge "
    "candle forest planet yellow castle summer ticket engine pocket valley mirror thunder "
    "basket island rocket meadow harbor lantern copper falcon velvet marble canyon violin "
    "pepper saddle meadow glacier compass anchor feather helmet jungle kettle ladder needle "
    "oyster parrot quartz ribbon tunnel walnut zephyr amber blossom cactus dolphin ember "
    "fossil granite hammock igloo jasmine kayak lemon magnet nectar orchid pebble quiver"
).split()
_ASK = "Write a story with these words"  # short: a 16-token prompt still has room


def synthetic_prompt(counter: TokenCounter, tokens: int, seed: int) -> str:
    """A text that, after a request's head, makes a prompt of ``tokens`` tokens by
    ``counter`` (or one more where a word cannot be split evenly), different for every
    ``seed``."""
    rng = random.Random(seed)
    head = f"{request_head(0)}{_ASK} ({seed}):"
    words: list[str] = []
    while counter.count(" ".join([head, *words])) < tokens:
        words.extend(rng.choice(_WORDS) for _ in range(max(1, tokens // 4)))
    low, high = 0, len(words)  # the fewest words that reach ``tokens``
    while low < high:
        middle = (low + high) // 2
        if counter.count(" ".join([head, *words[:middle]])) >= tokens:
            high = middle
        else:
            low = middle + 1
    return " ".join([head, *words[:low]])[len(request_head(0)):]


def level_prompts(workload: Workload, counter: TokenCounter, seed: int,
                  count: int = POOL_SIZE) -> list[str]:
    """The texts of one level, ``count`` at most: the prompt set's, or synthetic ones."""
    if workload.prompts:
        return list(workload.prompts)
    return [synthetic_prompt(counter, workload.input_tokens, seed * 100_003 + i)
            for i in range(count)]
