"""Lenient, pure helpers for reading model output: fences, JSON, labels.

Model output is messy: JSON arrives in ```json fences, with prose around it, truncated at ``max_tokens``,
as JSON Lines, with single quotes or trailing commas. :func:`parse_json` copes with all of these, using
``json_repair`` for the repairs and a small bracket scanner to drop a list's last element when the output
was cut in the middle of it. It raises :class:`NoJSONError` when there is no JSON at all, so "nothing
found" (``[]``) and "garbage" never look the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Fence",
    "NoJSONError",
    "find_fences",
    "find_mentions",
    "normalize_label",
    "parse_json",
]


class NoJSONError(ValueError):
    """The text holds no JSON value."""


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


_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
_NON_JSON_FENCES = {"html", "xml", "markdown", "md", "text", "txt", "python", "py"}


def _scan_list(s: str) -> tuple[list[str], bool]:
    """Split a JSON-ish list into its top-level element texts.

    Returns the elements and whether the list was closed. When it was not (truncated output), the last
    element is kept only if its brackets and quotes balance.
    """
    depth = 0
    quote: str | None = None
    escaped = False
    items: list[str] = []
    start = 1
    for i, ch in enumerate(s):
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                items.append(s[start:i])
                return [it for it in items if it.strip()], True
        elif ch == "," and depth == 1:
            items.append(s[start:i])
            start = i + 1
    tail = s[start:]
    if depth == 1 and quote is None and tail.strip():
        items.append(tail)
    return [it for it in items if it.strip()], False


def _loads_lenient(s: str) -> Any:
    try:
        return json.loads(s)
    except ValueError:
        pass
    import json_repair  # imported on first use: keeps `import qwen_vlm` fast

    value = json_repair.loads(s)
    if value == "" and s.strip() not in ('""', "''"):
        raise NoJSONError("unparseable JSON value")
    return value


def _json_lines(s: str) -> list[Any] | None:
    """Several JSON values in a row (JSON Lines); a cut-off last value is dropped."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    pos = 0
    while pos < len(s):
        while pos < len(s) and s[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(s):
            break
        try:
            value, pos = decoder.raw_decode(s, pos)
        except ValueError:
            break
        values.append(value)
    return values if len(values) > 1 else None


def _parse_candidate(s: str) -> Any:
    starts = [i for i in (s.find("["), s.find("{")) if i >= 0]
    if not starts:
        raise NoJSONError("no '[' or '{' in text")
    s = s[min(starts) :].rstrip()
    try:
        return json.loads(s)
    except ValueError:
        pass
    if s.startswith("["):
        items, _closed = _scan_list(s)
        values = []
        for item in items:
            try:
                values.append(_loads_lenient(item))
            except NoJSONError:
                continue
        if values or re.fullmatch(r"\[\s*\]?", s.split("\n", 1)[0].strip()):
            return values
        raise NoJSONError("list elements are not JSON")
    lines = _json_lines(s)
    if lines is not None:
        return lines
    return _loads_lenient(s)


def parse_json(text: str) -> Any:
    """Find and parse the JSON value in a model answer.

    Looks, in order, inside ```json (or unlabelled) fences, inside ``<tool_call>`` blocks, then in the
    whole text from its first ``[`` or ``{``. Repairs single quotes, trailing commas, missing brackets
    and JSON Lines (several values on separate lines become a list); drops a list's last element when
    the output was cut inside it.

    Args:
        text: The model answer.

    Returns:
        The parsed value (usually a list or dict).

    Raises:
        NoJSONError: If the text holds no JSON value.
    """
    candidates = [f.body for f in find_fences(text) if f.lang not in _NON_JSON_FENCES]
    candidates += [m.group(1) for m in _TOOL_CALL.finditer(text)]
    candidates.append(text)
    for candidate in candidates:
        try:
            return _parse_candidate(candidate)
        except (NoJSONError, RecursionError):
            continue
    raise NoJSONError("the answer contains no JSON")


def normalize_label(label: str) -> str:
    """Case-, punctuation- and whitespace-insensitive form of a label (``"TV-Stand."`` → ``"tvstand"``)."""
    return re.sub(r"[\W_]+", "", label.casefold())


def _mention_pattern(label: str) -> re.Pattern[str] | None:
    words = re.findall(r"\w+", label)
    if not words:
        return None
    # One-letter labels ("A", "B"... option letters) must match case, or every article "a" would count.
    flags = 0 if len("".join(words)) == 1 else re.IGNORECASE
    return re.compile(r"(?<!\w)" + r"[\W_]*".join(re.escape(w) for w in words) + r"(?!\w)", flags)


def find_mentions(text: str, labels: Sequence[str]) -> list[str]:
    """Return the labels mentioned as whole words in ``text``, ignoring case and punctuation.

    A label that only occurs inside a longer mentioned label (``"stand"`` in ``"tv stand"``) is not counted.
    """
    spans: list[tuple[int, int, str]] = []
    for label in labels:
        pattern = _mention_pattern(label)
        if pattern is None:
            continue
        spans.extend((m.start(), m.end(), label) for m in pattern.finditer(text))
    found: list[str] = []
    for start, end, label in spans:
        inside_longer = any(
            s <= start and end <= e and (e - s) > (end - start) for s, e, other in spans if other != label
        )
        if not inside_longer and label not in found:
            found.append(label)
    return found
