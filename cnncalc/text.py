"""How user text and counts are written into every output.

A layer's name and a spec's name and description are the user's words: every
format shows them as written, never as rich markup, an emoji code, Markdown or a
terminal escape, and never lets them break a line, a table row or a CSV record.
JSON and CSV carry the true text (their writers quote it); text for a reader
(tables, messages, warnings) goes through :func:`printable`, Markdown through
:func:`markdown` or :func:`markdown_code`. rich renderables hold user text as
``rich.text.Text``, which is never read as markup.

Counts go through :func:`plural`, so that no message says "1 positions".
"""

from __future__ import annotations

import re

__all__ = ["markdown", "markdown_code", "plural", "printable"]


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``; ``plural_form`` where adding "s" is wrong."""
    word = singular if count == 1 else plural_form or singular + "s"
    return f"{count:,} {word}"


def printable(text: str) -> str:
    """``text`` on one line, every character visible: a newline, tab, escape or other control or
    invisible character (a bidi override, a zero-width space) is written as its Python escape,
    ``\\n``, ``\\x1b``, ``\\u202e``. Printable text, backslashes included, is left as it is."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


# Characters that start Markdown syntax anywhere in a line: escapes, code, emphasis, links and
# images, HTML and autolinks, table cells, strikethrough, GitHub's math, headings. '_' is left
# alone inside a word (conv_1), where CommonMark never reads it as emphasis, and '&' unless it
# starts an entity (&amp;).
_INLINE = frozenset("\\`*[]<>|~$#")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Syntax only at the start of a line: a list item (- x, + x, 1. x, 1) x), a rule or underline (---, ===).
_LINE_START = re.compile(r"(?:[-+]|\d{1,9}[.)])(?=[ \t]|$)|[-=]+[ \t]*$")


def markdown(text: str) -> str:
    """User text inside Markdown (a table cell, a heading, a paragraph, a list item): rendered,
    it reads exactly as :func:`printable` text and never makes a cell, a link, emphasis or a list."""
    text = printable(text)
    out = []
    for i, c in enumerate(text):
        inside_word = c == "_" and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        entity = c == "&" and _ENTITY.match(text, i)
        out.append("\\" + c if c in _INLINE or (c == "_" and not inside_word) or entity else c)
    escaped = "".join(out)
    body = escaped.strip(" ")
    # Markdown drops spaces at either end (and four at the start make a code block): entities keep them.
    before, after = (len(escaped) - len(escaped.lstrip(" "))), len(escaped) - len(escaped.rstrip(" "))
    if _LINE_START.match(body):
        # A backslash before a digit is no escape: escape the list number's '.' or ')' instead.
        at = len(body) - len(body.lstrip("0123456789"))
        body = body[:at] + "\\" + body[at:]
    return "&#32;" * before + body + "&#32;" * (after if body else 0)


def markdown_code(text: str) -> str:
    """User text as a Markdown code span, fenced by more backticks than it holds in a row (a
    backslash cannot escape a backtick inside one)."""
    text = printable(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    # A span strips one space from each end when both have one: pad where that would eat the
    # text's own spaces, or where a backtick would touch the fence.
    pad = " " if text.startswith("`") or text.endswith("`") or (
        text.startswith(" ") and text.endswith(" ") and text.strip()) else ""
    return f"{fence}{pad}{text}{pad}{fence}"
