"""Markdown code fences in model output, an unclosed last one included."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Fence", "find_fences", "strip_fences"]


@dataclass(frozen=True)
class Fence:
    """A Markdown code fence found in model output.

    Attributes:
        lang: The info string after the opening backticks (``"json"``, ``"html"``, or ``""``).
        body: The text inside the fence.
        closed: False when the output ended before the closing backticks (truncated).
        start: Offset of the opening backticks in the text.
    """

    lang: str
    body: str
    closed: bool
    start: int


_FENCE_OPEN = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n?")
_FENCE_CLOSE = re.compile(r"(?m)^[ \t]*```|```")


def find_fences(text: str) -> list[Fence]:
    """Return every Markdown code fence in ``text``, including an unclosed last one."""
    fences: list[Fence] = []
    pos = 0
    while True:
        opening = _FENCE_OPEN.search(text, pos)
        if opening is None:
            return fences
        body_start = opening.end()
        closing = _FENCE_CLOSE.search(text, body_start)
        if closing is None:
            fences.append(Fence(opening.group(1).lower(), text[body_start:], False, opening.start()))
            return fences
        fences.append(
            Fence(opening.group(1).lower(), text[body_start : closing.start()], True, opening.start())
        )
        pos = closing.end()


#: Fence languages a whole document answer comes in.
_DOCUMENT_LANGS = ("", "html", "markdown", "md", "latex", "text")


def strip_fences(text: str) -> str:
    """A document answer without the code fence it was wrapped in (and any lead-in line before it).

    The answer is unchanged when no fence holds most of it (a Markdown page with a code block in it).
    """
    fences = [f for f in find_fences(text) if f.lang in _DOCUMENT_LANGS]
    if not fences:
        return text
    largest = max(fences, key=lambda f: len(f.body))
    return largest.body if len(largest.body) >= len(text.strip()) / 2 else text
