"""Answers that degenerate into repetition: a span or line written over and over at the end (pure).

The failure olmOCR-bench's ``baseline`` test catches — the text ends with more than 30 repeats of one
n-gram of up to five characters (olmOCR's ``RepeatDetector``) — and the longer loops document models
fall into: a line, a table row or a sentence repeated again and again until the token budget runs out.
Whitespace runs count as one space, as olmOCR counts them.
"""

from __future__ import annotations

import re

__all__ = ["repetition"]

#: olmOCR-bench's baseline test: more than this many repeats of a 1- to 5-character n-gram at the end.
SHORT_REPEATS = 30
#: A longer span (a word, a line, a row) repeated at least this many times at the end is a loop...
LONG_REPEATS = 8
#: ...when the repeats cover at least this many characters.
LONG_COVER = 160
#: Longest repeating span looked for, in characters.
LONGEST_SPAN = 400
_SPACES = re.compile(r"\s+")


def repetition(text: str, *, tail: int = 8000) -> str | None:
    r"""Why ``text`` ends in a repetition loop, or ``None`` when it does not.

    Args:
        text: An answer (or its part generated so far).
        tail: How many characters of the end are looked at.

    Example:
        >>> repetition("Total: 12\n" + "| 1 | 2 |\n" * 40) is not None
        True
        >>> repetition("A short, ordinary page.") is None
        True
    """
    data = _SPACES.sub(" ", text[-tail:]).rstrip()
    for size in range(1, min(LONGEST_SPAN, len(data) // 2) + 1):
        target = data[-size:]
        count, pos = 1, len(data) - 2 * size
        while pos >= 0 and data[pos : pos + size] == target:
            count += 1
            pos -= size
        if size <= 5 and count > SHORT_REPEATS:
            return f"the text ends with {count} repeats of {target!r}"
        if size > 5 and count >= LONG_REPEATS and count * size >= LONG_COVER:
            shown = target if len(target) <= 60 else target[:57] + "..."
            return f"the text ends with {count} repeats of a {size}-character span ({shown!r})"
    return None
