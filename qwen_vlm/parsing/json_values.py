"""JSON values in model answers: every value found in one linear pass, repaired where it is broken."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .fences import find_fences
from .spans import BROKEN, CUT, MAX_JSON_DEPTH, Spans

__all__ = [
    "MAX_JSON_DEPTH",
    "JSONObject",
    "JSONScan",
    "NoJSONError",
    "TruncatedJSONError",
    "combine",
    "parse_json",
    "scan_json",
]

#: Spans larger than this are never handed to ``json_repair`` (pure Python, ~1 µs a byte): a broken
#: span that big is read element by element instead, so parsing stays fast on any answer.
MAX_REPAIR_CHARS = 64 * 1024
#: How many levels of broken containers the reader descends into to recover complete elements.
MAX_RECOVERY_DEPTH = 8

#: More JSON fences than this in one answer is not a real answer's shape: the whole text is read instead.
_MAX_FENCES = 32
_NON_JSON_FENCES = {"html", "xml", "markdown", "md", "text", "txt", "python", "py"}
# Quick fixes of the usual slips, applied in one linear pass before falling back to json_repair.
_FIXABLE = re.compile(
    r"""(?P<dq>"(?:[^"\\\n]|\\.)*")|(?<=[\[{,:])(?P<ws>[ \t]*)'(?P<sq>(?:[^'\\\n]|\\.)*)'"""
    r"""|(?P<comma>,)(?=\s*[\]}])|\b(?P<lit>True|False|None)\b"""
)
# Whether a text needs the quick fix at all (checked first: most answers are valid JSON).
# Trailing commas are left to the per-span fix: cheap there, and common in otherwise valid answers.
_NEEDS_FIX = re.compile(r"""(?<=[\[{,:])[ \t]*'|\b(?:True|False|None)\b""")
_LITERALS = {"True": "true", "False": "false", "None": "null"}


class NoJSONError(ValueError):
    """The text holds no JSON value."""


class TruncatedJSONError(NoJSONError):
    """The text ends inside a JSON value before any complete element (cut off at ``max_tokens``)."""


class JSONObject(dict[str, Any]):
    """A parsed JSON object that remembers its key/value pairs in order, repeated keys included.

    ``json`` keeps only the last value of a repeated key; Qwen sometimes writes several boxes in one
    object (``{"bbox_2d": ..., "label": "a", "bbox_2d": ..., "label": "b"}``), so the pairs are kept.

    Attributes:
        pairs: Every ``(key, value)`` pair in the order written.
    """

    pairs: list[tuple[str, Any]]

    @property
    def has_repeated_keys(self) -> bool:
        """Whether a key occurs more than once."""
        return len(self.pairs) != len(self)


def _object(pairs: list[tuple[str, Any]]) -> JSONObject:
    obj = JSONObject(pairs)
    obj.pairs = pairs
    return obj


def _int(text: str) -> int | None:
    # int() refuses more than 4300 digits; a number that long is never a real answer.
    return int(text) if len(text) <= 400 else None


def _float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_int, parse_float=_float, parse_constant=lambda _c: None
)


@dataclass(frozen=True)
class JSONScan:
    """Every JSON value found in a model answer.

    Attributes:
        values: The top-level values, in the order written.
        truncated: The text ended inside a JSON value (its complete elements are still in ``values``).
        dropped: Pieces that looked like JSON but could not be read.
        last_cut: The last of ``values`` comes from the document the text ended inside (it holds only
            that document's complete elements); every other value is a whole document.
    """

    values: tuple[Any, ...]
    truncated: bool = False
    dropped: int = 0
    last_cut: bool = False

    @property
    def documents(self) -> tuple[Any, ...]:
        """The values that are whole documents (``values`` without a cut-off last one)."""
        return self.values[:-1] if self.last_cut else self.values


def _depth_ok(value: Any) -> bool:
    """Check nesting depth and replace non-finite floats (from json_repair) by ``None``, iteratively."""
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if depth > MAX_JSON_DEPTH:
            return False
        if isinstance(item, dict):
            for k, v in item.items():
                if isinstance(v, float) and not math.isfinite(v):
                    item[k] = None
                elif isinstance(v, (dict, list)):
                    todo.append((v, depth + 1))
        elif isinstance(item, list):
            for i, v in enumerate(item):
                if isinstance(v, float) and not math.isfinite(v):
                    item[i] = None
                elif isinstance(v, (dict, list)):
                    todo.append((v, depth + 1))
    return True


def _strict(span: str) -> Any:
    value, end = _DECODER.raw_decode(span)
    if span[end:].strip():
        raise ValueError("extra data")
    return value


def _quick_fix(span: str) -> str:
    def fix(m: re.Match[str]) -> str:
        if m.group("dq") is not None:
            return m.group("dq")
        if m.group("sq") is not None:
            inner = m.group("sq").replace("\\'", "'")
            return m.group("ws") + json.dumps(inner.replace('\\"', '"'))
        if m.group("comma") is not None:
            return ""
        return _LITERALS[m.group("lit")]

    return _FIXABLE.sub(fix, span)


def _fixed(span: str) -> Any:
    return _strict(_quick_fix(span))


def _looks_like_json(span: str) -> bool:
    return any(c in span for c in "\"':") or bool(re.search(r"\d", span))


_NOTHING = object()


def _decoded(text: str, attempts: tuple[Callable[[str], Any], ...]) -> Any:
    """The first attempt's value that decodes ``text``, or ``_NOTHING``."""
    for attempt in attempts:
        try:
            return attempt(text)
        except (ValueError, RecursionError):
            continue
    return _NOTHING


class _Reader:
    def __init__(self, text: str) -> None:
        self.spans = Spans(text)
        self.dropped = 0

    def value(self, sid: int, level: int = 0) -> Any:
        """The value of one span, recovering complete elements from broken or cut-off containers."""
        spans = self.spans
        end, kind, children = spans.end[sid], spans.kind[sid], spans.children(sid)
        if level > MAX_RECOVERY_DEPTH:
            self.dropped += 1
            return _NOTHING
        if end >= 0:
            span = spans.span(sid)
            # The quick fix is skipped on very large spans: a broken span that big is read child by child
            # (each child is fixed on its own), so no text is fixed more than once per recovery level.
            value = _decoded(span, (_strict, _fixed) if len(span) <= MAX_REPAIR_CHARS * 4 else (_strict,))
            if value is not _NOTHING:
                # A span with no overflowed text inside is at most _MAX_SCAN_DEPTH deep: no walk needed.
                if sid not in spans.too_deep or _depth_ok(value):
                    return value
                self.dropped += 1
                return _NOTHING
            if (kind == "{" or not children) and len(span) <= MAX_REPAIR_CHARS and _looks_like_json(span):
                value = _repair(span)
                if value is not _NOTHING and isinstance(value, (dict, list)) and _depth_ok(value):
                    return value
            if not children:
                self.dropped += 1
                return _NOTHING
            return self._elements(children, level)
        if end == BROKEN:
            return self._elements(children, level) if children else _NOTHING
        # Cut off at the end of the text: a list keeps its complete elements (the last, partial one is
        # dropped); an object is incomplete, but may wrap a list whose complete elements can be kept.
        if kind == "[":
            complete = [c for c in children if spans.end[c] != CUT]
            return self._elements(complete, level) if complete else _NOTHING
        if children and spans.end[children[-1]] == CUT:
            value = self.value(children[-1], level + 1)
            if value is not _NOTHING:
                return value
        closed = [c for c in children if spans.end[c] >= 0]
        if closed:  # keep the pairs up to its last complete nested value (a cut object of boxes)
            head = spans.text[spans.start[sid] : spans.end[closed[-1]] + 1] + "}"
            value = _decoded(head, (_strict, _fixed))
            if value is not _NOTHING:
                return value if _depth_ok(value) else _NOTHING
        return _NOTHING

    def _elements(self, children: list[int], level: int) -> Any:
        out: list[Any] = []
        for c in children:
            value = self.value(c, level + 1)
            if value is _NOTHING:
                continue
            if self.spans.end[c] == BROKEN and isinstance(value, list):
                out.extend(value)  # a stray opener: its complete elements belong to this list
            else:
                out.append(value)
        return out if out else _NOTHING


def _repair(span: str) -> Any:
    import json_repair  # imported on first use: keeps `import qwen_vlm` fast

    try:
        value = json_repair.loads(span)
    except Exception:  # json_repair is best effort; any failure means "not JSON"
        return _NOTHING
    return value if value not in ("", None) else _NOTHING


_FIRST_OPENER = re.compile(r"[\[{]")


def _whole_value(text: str) -> Any:
    """The common case at C speed: one valid JSON value, with at most bracket-free prose around it."""
    first = _FIRST_OPENER.search(text)
    if first is None:
        return None
    try:
        value, end = _DECODER.raw_decode(text, first.start())
    except (ValueError, RecursionError):
        return None
    if _FIRST_OPENER.search(text, end) is not None or '"' in text[: first.start()]:
        return None
    return value if _depth_ok(value) else None


def _scan_text(text: str) -> JSONScan:
    if _NEEDS_FIX.search(text):
        # Single quotes, trailing commas and Python literals, fixed once for the whole text (C-speed
        # regex, strings in value position only, so apostrophes in prose are left alone).
        text = _quick_fix(text)
    fast = _whole_value(text)
    if fast is not None:
        return JSONScan((fast,))
    reader = _Reader(text)
    spans = reader.spans
    found = [
        (v, spans.end[r] == CUT) for r, v in ((r, reader.value(r)) for r in spans.roots) if v is not _NOTHING
    ]
    dropped = reader.dropped + (1 if spans.overflow else 0)
    last_cut = bool(found) and found[-1][1]
    return JSONScan(tuple(v for v, _ in found), spans.cut, dropped, last_cut)


def scan_json(text: str) -> JSONScan:
    """Find every JSON value in a model answer, in one linear pass (plus bounded repairs).

    Looks inside ```json (or unlabelled) fences when they hold JSON, otherwise in the whole text
    (``<tool_call>`` blocks included). Every top-level value is read, in order: several values on
    separate lines (JSON Lines) or separated by prose all count. Single quotes, trailing commas and
    Python literals are repaired (``json_repair`` for the rest, on spans up to
    :data:`MAX_REPAIR_CHARS`). A stray ``{`` or ``}``, or a missing comma, between the elements of a list
    loses only the broken element: reading resynchronises at the next well-formed one. A list cut off
    by the token limit keeps its complete elements and the scan is marked ``truncated``. Objects keep
    repeated keys in :attr:`JSONObject.pairs`. ``NaN``, ``Infinity`` and numbers that overflow a float
    become ``None``; values nested deeper than :data:`MAX_JSON_DEPTH` are dropped.

    Args:
        text: The model answer.

    Returns:
        A :class:`JSONScan`; ``values`` is empty when there is no JSON.
    """
    fences = [f for f in find_fences(text) if f.lang not in _NON_JSON_FENCES]
    if 0 < len(fences) <= _MAX_FENCES:
        scans = [_scan_text(f.body) for f in fences]
        values = tuple(v for s in scans for v in s.values)
        if values:
            last_cut = bool(scans[-1].values) and scans[-1].last_cut
            return JSONScan(values, scans[-1].truncated, sum(s.dropped for s in scans), last_cut)
    return _scan_text(text)


def combine(values: Sequence[Any]) -> Any:
    """One value from several: a single value as is; several become one list (lists concatenated)."""
    if len(values) == 1:
        return values[0]
    out: list[Any] = []
    for value in values:
        out.extend(value if isinstance(value, list) else [value])
    return out


def parse_json(text: str) -> Any:
    r"""Find and parse the JSON in a model answer (see :func:`scan_json` for what is repaired).

    Several top-level values (JSON Lines, or values separated by prose) become one list, list values
    concatenated: ``'[{"a": 1}]\\n[{"a": 2}]'`` gives ``[{"a": 1}, {"a": 2}]``.

    Args:
        text: The model answer.

    Returns:
        The parsed value (usually a list or dict).

    Raises:
        TruncatedJSONError: If the text ends inside JSON before any complete element.
        NoJSONError: If the text holds no JSON value.
    """
    scan = scan_json(text)
    if not scan.values:
        if scan.truncated:
            raise TruncatedJSONError("the answer was cut off inside its JSON, before any complete element")
        raise NoJSONError("the answer contains no JSON")
    return combine(scan.values)
