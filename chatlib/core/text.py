"""Text from outside made safe to show, store and send.

Text enters Chat Lab from the browser (prompt, system prompt, model ids, base URLs), from a
model's output and from servers (error messages, model lists). Any of it may hold a lone
UTF-16 surrogate: JSON's ``"\\ud800"`` escape decodes to one, and a browser can send one.
Python keeps such a string, but nothing downstream can encode it as UTF-8: Streamlit's
protobuf refuses the whole message (the page then never finishes its run), and so would
SQLite and an HTTP body. ``clean_text`` is applied where text enters; ``one_line`` turns
a server's error body (often a whole HTML page) into something fit for one line of UI.
"""

from __future__ import annotations

import html
import re

__all__ = ["clean_text", "one_line", "count_of"]

_TAG = re.compile(r"<[^>]*>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_NOISE = re.compile(r"<(script|style|head)[^>]*>.*?</\1>", re.IGNORECASE | re.DOTALL)


def clean_text(text: str) -> str:
    """``text`` as valid Unicode: a surrogate pair becomes its character, a lone surrogate
    becomes U+FFFD (the replacement character). Valid text is returned as it is."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def one_line(text: str, limit: int = 200) -> str:
    """A server's message as one short line: an HTML page gives its title (or its text
    without tags), whitespace is collapsed, and anything past ``limit`` characters is cut."""
    text = clean_text(text)
    if "<" in text and ">" in text:
        title = _TITLE.search(text)
        body = title.group(1) if title else _TAG.sub(" ", _NOISE.sub(" ", text))
        text = html.unescape(body)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def count_of(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless one: "1 token", "2 tokens", "1,200 prompts"."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
