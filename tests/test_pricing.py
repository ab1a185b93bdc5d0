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


def test_prices_edited_on_the_compare_page_are_saved_and_every_cost_reads_them(
        app_test, isolated_data, monkeypatch):
    """Issue 25: the table says where its prices come from, and a user updates them in the
    sidebar; the next cost reads the saved table (no restart), and bad rows are refused."""
    from datetime import date as day

    from chatlib.runs.pricing import default_prices, prices_path

    monkeypatch.delenv("CHATLAB_PRICES", raising=False)
    assert prices_path() == PRICES_PATH  # nothing saved yet: the shipped table
    at = app_test()
    at.switch_page("app_pages/compare.py").run()
    prices = next(e for e in at.sidebar.expander if e.label == "Prices")
    assert "Read from" in prices.caption[0].value and "prices.json" in prices.caption[0].value
    (frame,) = prices.dataframe  # the editor, holding the table
    assert len(frame.value) == len(default_prices().prices)
    # Edit: the session state of st.data_editor takes row edits and added rows.
    at.session_state["prices_editor"] = {
        "edited_rows": {}, "deleted_rows": [],
        "added_rows": [{"provider": "openai-compatible", "model": "my-model",
                        "input per 1M": 2.0, "output per 1M": 8.0}]}
    at.sidebar.date_input(key="prices_as_of").set_value(day(2026, 12, 1))
    at.sidebar.button(key="prices_save").click().run()
    assert not at.exception
    assert any("Saved to" in s.value for s in at.sidebar.success)
    saved = isolated_data / "data" / "prices.json"
    assert prices_path() == saved and saved.is_file()
    table = default_prices()
    assert table.as_of == day(2026, 12, 1) and table.origin == str(saved)
    assert table.cost("openai-compatible", "my-model", 1_000_000, 1_000_000) == 10.0
    assert table.price("scripted", "demo-fast") is not None  # the rest kept
    assert "Edited in Chat Lab" in table.source



def test_the_price_editor_refuses_a_bad_row_and_says_which():
    import pandas as pd

    from datetime import date as day

    from ui.prices import edited_table

    table = load_prices()
    columns = ["provider", "model", "input per 1M", "output per 1M", "note"]
    for rows, words in (([["x", "y", -1.0, 1.0, ""]], "Row 1: a price cannot be negative"),
                        ([["x", "", 1.0, 1.0, ""]], "Row 1: give both a provider and a model"),
                        ([["x", "y", 1.0, 1.0, ""], ["x", "Y", 2.0, 2.0, ""]],
                         "Row 2: x · y is listed twice"),
                        ([["x", "y", "cheap", 1.0, ""]], "Row 1: prices are numbers")):
        with pytest.raises(ValueError, match=words):
            edited_table(pd.DataFrame(rows, columns=columns), day(2026, 1, 1), table)
    kept = edited_table(pd.DataFrame([["x", "Y", 1.0, 2.0, None], [None, None, None, None,
                                                                  None]], columns=columns),
                        day(2026, 1, 1), table)
    assert kept.prices == {("x", "y"): __import__("chatlib.runs.pricing", fromlist=["Price"])
                           .Price(1.0, 2.0, "")}
