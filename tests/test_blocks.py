"""Markdown block splitting: cuts only between finished top-level blocks."""

from chatlib.blocks import BLOCK_BREAK, BlockSplitter, split_blocks


def blocks_of(text: str, piece: int) -> list[str]:
    pieces = [text[i : i + piece] for i in range(0, len(text), piece)]
    out, current = [], ""
    for item in split_blocks(pieces):
        if item is BLOCK_BREAK:
            out.append(current)
            current = ""
        else:
            current += item
    return out + [current]


DOC = (
    "Intro paragraph.\n\n"
    "```python\nx = 1\n\ny = 2\n```\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "$$\na = b\n\nc = d\n$$\n\n"
    "- item\n\n    indented continuation\n\n"
    "Last."
)


def test_blocks_are_the_same_whatever_the_chunking():
    expected = blocks_of(DOC, len(DOC))
    for size in (1, 2, 3, 7, 50):
        assert blocks_of(DOC, size) == expected
    assert "".join(expected) == DOC


def test_never_cuts_inside_fences_math_or_indented_continuations():
    blocks = blocks_of(DOC, 5)
    assert blocks[0] == "Intro paragraph.\n\n"
    assert blocks[1] == "```python\nx = 1\n\ny = 2\n```\n\n"
    assert blocks[2].startswith("| a | b |")
    assert blocks[3] == "$$\na = b\n\nc = d\n$$\n\n"
    assert blocks[4] == "- item\n\n    indented continuation\n\n"
    assert blocks[5] == "Last."


def test_idle_ticks_pass_through_and_no_break_before_any_text():
    assert list(split_blocks(["", "\n\nHello"])) == ["", "\n\nHello"]
    assert BlockSplitter().feed("a\n\n") == ["a\n\n"]  # next block not started yet
