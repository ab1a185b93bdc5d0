"""Markdown block splitting: cuts only between finished top-level blocks; the byte budget of
the updates of the growing block."""

from chatlib.streaming.blocks import (
    BLOCK_BREAK, BLOCK_MIN_CHARS, MESSAGE_BYTES, BlockSplitter, blocks_of, budget_batches,
    split_blocks,
)


def cut(text: str, piece: int, min_chars: int = 0) -> list[str]:
    """``text`` fed in pieces of ``piece`` characters, cut where the splitter breaks."""
    splitter = BlockSplitter(min_chars)
    out, current = [], ""
    for start in range(0, len(text), piece):
        for item in splitter.feed(text[start : start + piece]):
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
LONG = "\n\n".join(f"## Part {i}\n\nParagraph {i} " + "words " * (i * 7 % 60) for i in range(40))


def test_blocks_are_the_same_whatever_the_chunking():
    for min_chars in (0, 40, BLOCK_MIN_CHARS):
        expected = cut(DOC + "\n\n" + LONG, 10_000, min_chars)
        for size in (1, 2, 3, 7, 50):
            assert cut(DOC + "\n\n" + LONG, size, min_chars) == expected
        assert "".join(expected) == DOC + "\n\n" + LONG


def test_never_cuts_inside_fences_math_or_indented_continuations():
    blocks = cut(DOC, 5)
    assert blocks[0] == "Intro paragraph.\n\n"
    assert blocks[1] == "```python\nx = 1\n\ny = 2\n```\n\n"
    assert blocks[2].startswith("| a | b |")
    assert blocks[3] == "$$\na = b\n\nc = d\n$$\n\n"
    assert blocks[4] == "- item\n\n    indented continuation\n\n"
    assert blocks[5] == "Last."


def test_short_blocks_ride_with_the_next_one():
    blocks = cut(LONG, 9, BLOCK_MIN_CHARS)
    assert len(blocks) < len(cut(LONG, 9)) / 2  # fewer messages
    assert all(len(b) >= BLOCK_MIN_CHARS for b in blocks[:-1])
    # Still cut at block boundaries only: each piece is whole blocks of the plain split.
    plain = iter(cut(LONG, 9))
    for block in blocks:
        rebuilt = ""
        while len(rebuilt) < len(block):
            rebuilt += next(plain)
        assert rebuilt == block


def test_a_finished_answer_is_drawn_as_the_blocks_it_streamed_as():
    # The premise of sending references instead of the text again: same blocks, same bytes.
    text = DOC + "\n\n" + LONG
    for size in (1, 5, 64):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        streamed = [""]
        for item in split_blocks(pieces):
            if item is BLOCK_BREAK:
                streamed.append("")
            else:
                streamed[-1] += item
        assert streamed == blocks_of(text)


def test_idle_ticks_pass_through_and_no_break_before_any_text():
    assert list(split_blocks(["", "\n\nHello"])) == ["", "\n\nHello"]
    assert BlockSplitter().feed("a\n\n") == ["a\n\n"]  # next block not started yet


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_updates_wait_until_their_new_text_pays_for_what_they_resend():
    clock = Clock()

    def pieces():
        for _ in range(60):  # 10 characters every 10 ms: never waits for max_s
            clock.now += 0.01
            yield "x" * 10

    out = list(budget_batches(pieces(), ratio=1.0, max_s=10.0, clock=clock))
    assert "".join(out) == "x" * 600
    assert out[0] == "x" * 10  # the first text at once
    sent = len(out[0])
    for update in out[1:-1]:  # each later update carries at least what it re-sends
        assert len(update) >= MESSAGE_BYTES + sent
        assert len(update) < MESSAGE_BYTES + sent + 10  # and goes as soon as it does
        sent += len(update)


def test_a_slow_stream_still_moves_and_a_block_end_flushes():
    clock = Clock()

    def pieces():
        yield "first"
        clock.now += 0.05
        yield "a"
        yield ""  # idle tick: passes through while "a" waits
        clock.now += 0.06
        yield ""  # 0.11 s after the last update: "a" goes
        yield "b"
        yield BLOCK_BREAK  # the block's end sends what is held, before the break
        yield "c"

    out = list(budget_batches(pieces(), ratio=1.0, max_s=0.1, clock=clock))
    assert out == ["first", "", "a", "b", BLOCK_BREAK, "c"]
