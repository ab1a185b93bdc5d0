"""What a user typed (a prompt, a chat's title), drawn as the text it is.

Read as Markdown, a prompt holding ``![x](http://host/pixel.png)`` makes every page that
shows it fetch that URL (each reload, each viewer of a shared link), and ``[text](url)``
becomes a link. Prompts are therefore drawn with ``st.text`` (no Markdown, no HTML; line
breaks kept), as the Stats page always did: ``show_prompt`` is the one way the chat and
compare pages draw one. A widget label is always read as Markdown by Streamlit, so a title
on a button goes through ``plain_label`` first.
"""

from __future__ import annotations

import re

import streamlit as st

__all__ = ["show_prompt", "plain_label", "markdown_literal"]

# Every ASCII punctuation character: CommonMark lets a backslash make any of them literal,
# which undoes links, images, emphasis, code, autolinks (``http\:``), HTML and directives.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# What can make Markdown fetch, link, mark up or hide text (an image, a link, an autolink's
# "http:", emphasis, code, HTML, an emoji shortcode); "-", "." and "·" stay as they are, so
# a model id such as "gpt-4o-mini" reads the same in the source.
_MARKUP = re.compile(r"([\\`*_\[\]()!<>#~|{}:$])")


def show_prompt(text: str) -> None:
    """A user's prompt, in the current container, exactly as typed."""
    st.text(text)


def plain_label(text: str) -> str:
    """``text`` as a one-line widget label that shows literally (Markdown escaped)."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(text.split()))


def markdown_literal(text: str) -> str:
    """``text`` (a typed model id, a title) to put inside Markdown that shows it literally."""
    return _MARKUP.sub(r"\\\1", " ".join(text.split()))
