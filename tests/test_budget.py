"""fit_to_budget: keeps the system prompt and the newest whole messages that fit."""

import pytest

from chatlib.core.conversation import MESSAGE_OVERHEAD_TOKENS, fit_to_budget
from chatlib.core.errors import ConfigError
from chatlib.core.tokens import FunctionCounter, counter_for
from chatlib.core.types import Message

# One token per word: makes every expected figure easy to check by hand.
WORDS = FunctionCounter("words", lambda text: len(text.split()))
OVERHEAD = MESSAGE_OVERHEAD_TOKENS


def chat(*contents: str) -> list[Message]:
    return [Message("user" if i % 2 == 0 else "assistant", c) for i, c in enumerate(contents)]


def test_everything_fits():
    history = chat("a b", "c d e", "f")
    fit = fit_to_budget(history, 1000, WORDS, system_prompt="be nice")
    assert fit.messages[0] == Message("system", "be nice")
    assert fit.messages[1:] == history
    assert fit.tokens == (2 + OVERHEAD) + (2 + OVERHEAD) + (3 + OVERHEAD) + (1 + OVERHEAD)
    assert (fit.kept, fit.total, fit.dropped) == (3, 3, 0)


def test_drops_oldest_whole_messages_and_says_so():
    history = chat("one two three", "four five", "six", "seven eight", "nine")
    budget = (1 + OVERHEAD) + (2 + OVERHEAD) + (1 + OVERHEAD)  # exactly the newest three
    fit = fit_to_budget(history, budget, WORDS)
    assert [m.content for m in fit.messages] == ["six", "seven eight", "nine"]
    assert fit.dropped == 2 and fit.tokens == budget
    assert "3 of 5 messages" in fit.summary() and "words" in fit.summary()


def test_never_starts_with_an_assistant_message():
    history = chat("u1", "a1 a1 a1", "u2")
    budget = (3 + OVERHEAD) + (1 + OVERHEAD)  # fits a1 and u2, but a1 would lead
    fit = fit_to_budget(history, budget, WORDS)
    assert [m.content for m in fit.messages] == ["u2"]


def test_system_prompt_counts_against_the_budget():
    history = chat("a", "b", "c")
    fit = fit_to_budget(history, 2 * (1 + OVERHEAD) + (2 + OVERHEAD), WORDS, system_prompt="x y")
    assert [m.role for m in fit.messages] == ["system", "user"]  # only "c" fits after system


def test_message_too_big_for_budget_is_a_clear_error():
    with pytest.raises(ConfigError, match="token budget is 5"):
        fit_to_budget(chat("a very long message indeed"), 5, WORDS)
    with pytest.raises(ConfigError, match="positive"):
        fit_to_budget(chat("a"), 0, WORDS)


def test_thousand_turn_chat_trims_in_milliseconds_with_real_tokenizer():
    # What keeps a re-trim at milliseconds, checked by counting rather than timing (the
    # machine is shared; bench/bench_trim.py measures the time): the scan stops at the
    # budget instead of walking the 2000 turns, and a message already counted never goes
    # through the tokenizer again (the per-text cache every counter class shares), so a new
    # prompt costs one tokenizer run.
    real = counter_for("openai", "gpt-4o")
    tokenized: list[str] = []
    looked_at: list[str] = []

    def tokenize(text: str) -> int:
        tokenized.append(text)
        return real.count(text)

    cached = FunctionCounter("tiktoken o200k_base", tokenize)

    class Looking:  # what fit_to_budget asks the counter about, cached or not
        name, source = cached.name, cached.source

        def count(self, text: str) -> int:
            looked_at.append(text)
            return cached.count(text)

    counter = Looking()
    history = chat(*[f"turn {i}: " + "some words about the topic " * 20 for i in range(2000)])
    first = fit_to_budget(history, 4096, counter)  # fills the per-message cache
    assert first.dropped > 1900 and len(looked_at) < first.kept + 5
    tokenized.clear()
    looked_at.clear()
    again = fit_to_budget(history + chat("new question"), 4096, counter)
    assert again.tokens <= 4096 and again.messages[-1].content == "new question"
    assert tokenized == ["new question"]  # only the new message went through the tokenizer
    assert len(looked_at) < again.kept + 5  # the scan stopped near the budget
