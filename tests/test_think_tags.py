"""``ThinkTagSplitter``: ``<think>`` blocks split out of streamed ``content`` as it arrives,
wherever the chunks cut the text."""

from __future__ import annotations

import pytest

from chatlib.providers.think_tags import ThinkTagSplitter
from chatlib.core.types import ReasoningDelta, TextDelta


def split(chunks: list[str], **kwargs) -> list[TextDelta | ReasoningDelta]:
    splitter = ThinkTagSplitter(**kwargs)
    events = [e for c in chunks for e in splitter.feed(c)]
    return events + splitter.flush()


def joined(events) -> tuple[str, str]:
    """(reasoning, answer), each concatenated."""
    return ("".join(e.text for e in events if isinstance(e, ReasoningDelta)),
            "".join(e.text for e in events if isinstance(e, TextDelta)))


def test_every_cut_of_a_think_block_gives_the_same_reasoning_and_answer():
    text = "<think>abc</think>\n\nanswer"
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            chunks = [text[:i], text[i:j], text[j:]]
            events = split(chunks)
            assert joined(events) == ("abc", "answer"), chunks
            # Reasoning comes first and ends before the answer starts; nothing empty is sent.
            kinds = [type(e) for e in events]
            assert kinds == sorted(kinds, key=lambda k: k is TextDelta), chunks
            assert all(e.text for e in events), chunks


def test_one_character_at_a_time():
    events = split(list("<think>\nLet me see.\n</think>\n\nIt is 4."))
    assert joined(events) == ("Let me see.\n", "It is 4.")


def test_text_is_emitted_at_once_holding_back_only_a_possible_tag():
    s = ThinkTagSplitter()
    assert s.feed("<thi") == []  # could still be the opening tag
    assert s.feed("nk>Hmm, 2+2") == [ReasoningDelta("Hmm, 2+2")]
    assert s.feed(" is 4.</th") == [ReasoningDelta(" is 4.")]  # "</th" held
    assert s.feed("ink>\n") == []  # the newline after the tag is dropped
    assert s.feed("\nFour") == [TextDelta("Four")]
    assert s.feed(" <think> and </think>") == [TextDelta(" <think> and </think>")]
    assert s.flush() == []


def test_a_lone_less_than_sign_in_reasoning_is_held_only_until_it_cannot_be_the_tag():
    s = ThinkTagSplitter()
    assert s.feed("<think>a <") == [ReasoningDelta("a ")]
    assert s.feed(" b") == [ReasoningDelta("< b")]
    assert s.feed("</") == []
    assert s.feed("x") == [ReasoningDelta("</x")]


def test_an_answer_without_a_think_block_passes_through_at_once():
    s = ThinkTagSplitter()
    assert s.feed("Hello") == [TextDelta("Hello")]
    assert s.feed(", <think> is a tag") == [TextDelta(", <think> is a tag")]
    assert s.flush() == []


@pytest.mark.parametrize("chunks", [
    ["To hide it, write ", "<think>", "x</think>", " first."],
    ["To hide it, write <think>x</think> first."],
    ["T", "o hide it, write <thi", "nk>x</think> first."],
])
def test_a_think_tag_later_in_the_prose_is_a_quote_not_reasoning(chunks):
    assert joined(split(chunks)) == ("", "To hide it, write <think>x</think> first.")


def test_leading_whitespace_before_the_tag_is_allowed():
    assert joined(split(["\n ", " <th", "ink>why</think>because"])) == ("why", "because")


def test_leading_whitespace_of_an_ordinary_answer_is_kept():
    s = ThinkTagSplitter()
    assert s.feed("\n") == []  # could still come before <think>
    assert s.feed("  Hi") == [TextDelta("\n  Hi")]


def test_what_looked_like_a_tag_is_text_when_the_stream_ends():
    s = ThinkTagSplitter()
    assert s.feed("<thi") == []
    assert s.flush() == [TextDelta("<thi")]


def test_an_answer_cut_off_while_thinking_is_reasoning_only():
    events = split(["<think>", "Step 1. Step 2.</thi"])  # finish_reason "length"
    assert events == [ReasoningDelta("Step 1. Step 2."), ReasoningDelta("</thi")]
    assert joined(events) == ("Step 1. Step 2.</thi", "")


def test_an_empty_think_block_yields_no_reasoning():
    assert split(["<think>\n\n</think>\n\n", "Hi!"]) == [TextDelta("Hi!")]


def test_only_the_newlines_after_the_closing_tag_are_stripped():
    assert joined(split(["<think>x</think>\r\n\n  indented"])) == ("x", "  indented")


@pytest.mark.parametrize("chunks", [["plan</think>\n\nanswer"], ["plan</th", "ink>", "answer"]])
def test_a_block_opened_by_the_prompt_template(chunks):
    """A caller whose chat template ends the prompt with ``<think>`` says so."""
    assert joined(split(chunks, opened=True)) == ("plan", "answer")


def test_without_an_opening_tag_a_closing_one_is_answer_text():
    # Not guessed (the module docstring says why): the text was already shown as answer.
    assert joined(split(["plan</think>\n\nanswer"])) == ("", "plan</think>\n\nanswer")
