"""The dated price table: snapshot ids match their base model, unknown models have no cost."""

import json
from datetime import date

import pytest

from chatlib.runs.pricing import PRICES_PATH, PriceTable, load_prices


@pytest.fixture(scope="module")
def prices():
    return load_prices()


@pytest.mark.parametrize("provider, model, price", [
    ("openai", "gpt-4o-mini", (0.15, 0.60)),
    ("openai", "gpt-4o-mini-2024-07-18", (0.15, 0.60)),  # dated snapshot -> base id
    ("openai", "gpt-4o", (2.50, 10.00)),
    ("openai", "GPT-4.1", (2.00, 8.00)),
    ("anthropic", "claude-sonnet-4-5-20250929", (3.00, 15.00)),
    ("anthropic", "claude-3-7-sonnet-latest", (3.00, 15.00)),
    ("anthropic", "claude-opus-4-1-20250805", (15.00, 75.00)),
    ("local", "SmolLM2-135M-Instruct.Q4_1.gguf", (0.0, 0.0)),  # free by nature, said so
])
def test_known_models_have_their_list_price(prices, provider, model, price):
    found = prices.price(provider, model)
    assert found is not None and (found.input_per_m, found.output_per_m) == price


@pytest.mark.parametrize("provider, model", [
    ("openai", "gpt-4o-audio-preview-2024-12-17"),  # a different model, not gpt-4o
    ("openai", "my-finetune"),
    ("openai-compatible", "gpt-4o"),  # a local server's "gpt-4o" is not OpenAI's bill
    ("anthropic", "claude-unknown-9"),
])
def test_unknown_models_have_no_price_and_no_cost(prices, provider, model):
    assert prices.price(provider, model) is None
    assert prices.cost(provider, model, 1000, 1000) is None


def test_cost_is_per_million_tokens_and_needs_both_counts(prices):
    assert prices.cost("openai", "gpt-4o", 1_000_000, 100_000) == pytest.approx(2.50 + 1.00)
    assert prices.cost("openai", "gpt-4o", None, 100) is None
    assert prices.cost("local", "anything", 10, 10) == 0.0


def test_the_table_is_dated_labelled_an_estimate_and_sane(prices):
    raw = json.loads(PRICES_PATH.read_text())
    assert prices.as_of == date.fromisoformat(raw["as_of"]) <= date.today()
    assert all(p["input"] >= 0 and p["output"] >= 0 for p in raw["prices"])
    label = prices.label(today=date(2026, 1, 1))
    assert label.startswith("estimate") and raw["as_of"] in label and "USD" in label
    keys = [(p["provider"], p["model"].lower()) for p in raw["prices"]]
    assert len(keys) == len(set(keys))


def test_a_price_table_says_in_words_when_it_is_old_and_nothing_when_it_is_fresh():
    table = PriceTable(date(2026, 1, 1), "USD", {})
    fresh = table.label(today=date(2026, 3, 1))
    assert fresh == "estimate from list prices as of 2026-01-01, USD"
    stale = table.label(today=date(2026, 12, 7))
    assert stale.startswith(fresh) and "over 11 months old" in stale and "prices.json" in stale
    assert "days ago" not in stale
