"""Lenient, pure helpers for reading model output: fences, JSON, labels.

Model output is messy: JSON arrives in ```json fences, with prose around it, truncated at ``max_tokens``,
as JSON Lines, with single quotes, trailing commas, stray brackets or repeated keys. :func:`scan_json`
copes with all of these in time linear in the answer's length: one pass matches brackets (recovering from
stray ones), each value is parsed by the C ``json`` decoder, and only small broken spans go to
``json_repair``. "Nothing found" (``[]``), "cut off" (:class:`TruncatedJSONError`) and "garbage"
(:class:`NoJSONError`) never look the same.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_JSON_DEPTH",
    "Fence",
    "JSONObject",
    "JSONScan",
    "NoJSONError",
    "TruncatedJSONError",
    "combine",
    "find_fences",
    "find_mentions",
    "normalize_label",
    "parse_json",
    "scan_json",
]


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


# --------------------------------------------------------------------------------------------- JSON
#: Values nested deeper than this are refused (no task's answer is anywhere near; it keeps results
#: serialisable without hitting Python's recursion limit).
MAX_JSON_DEPTH = 64
#: Spans larger than this are never handed to ``json_repair`` (pure Python, ~1 µs a byte): a broken
#: span that big is read element by element instead, so parsing stays fast on any answer.
MAX_REPAIR_CHARS = 64 * 1024
#: How many levels of broken containers the reader descends into to recover complete elements.
MAX_RECOVERY_DEPTH = 8

#: More JSON fences than this in one answer is not a real answer's shape: the whole text is read instead.
_MAX_FENCES = 32
_NON_JSON_FENCES = {"html", "xml", "markdown", "md", "text", "txt", "python", "py"}

# Tokens that matter for bracket matching. A double-quoted string, or a single-quoted one where a JSON
# value or key may start (after ``[ { , :``, so apostrophes in prose are not strings), is consumed whole;
# a string never spans a line break (JSON strings cannot), which bounds the damage of a stray quote.
_TOKEN = re.compile(r"""[\[\]{}]|"(?:[^"\\\n]|\\.)*"?|(?<=[\[{,:])[ \t]*'(?:[^'\\\n]|\\.)*'?""")
# Quick fixes of the usual slips, applied in one linear pass before falling back to json_repair.
_FIXABLE = re.compile(
    r"""(?P<dq>"(?:[^"\\\n]|\\.)*")|(?<=[\[{,:])(?P<ws>[ \t]*)'(?P<sq>(?:[^'\\\n]|\\.)*)'"""
    r"""|(?P<comma>,)(?=\s*[\]}])|\b(?P<lit>True|False|None)\b"""
)
# Whether a text needs the quick fix at all (checked first: most answers are valid JSON).
# Trailing commas are left to the per-span fix: cheap there, and common in otherwise valid answers.
_NEEDS_FIX = re.compile(r"""(?<=[\[{,:])[ \t]*'|\b(?:True|False|None)\b""")
_LITERALS = {"True": "true", "False": "false", "None": "null"}
_CUT = -1  # span still open when the text ended (truncated output)
_BROKEN = -2  # span closed implicitly by an outer closing bracket (a syntax slip)


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
    """

    values: tuple[Any, ...]
    truncated: bool = False
    dropped: int = 0


#: Brackets nested deeper than this are matched by counting only (no spans are recorded for them: a value
#: that deep is refused anyway), skipping whole chunks of text at C speed when they cannot close.
_MAX_SCAN_DEPTH = MAX_JSON_DEPTH
#: At most this many bracket spans are recorded per answer; text beyond is not read (counted as dropped).
_MAX_SPANS = 200_000
_BRACKET = re.compile(r"[\[\]{}]")
_SKIP_CHUNK = 4096


class _Spans:
    """Bracket spans of a text, matched in one linear pass with recovery from stray brackets.

    A closing bracket with no opener of its kind is ignored; one that matches an opener further down
    the stack closes it and marks the openers above as broken (a stray ``{`` inside a list).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        start: list[int] = []
        end: list[int] = []
        kind: list[str] = []
        parent: list[int] = []
        stack: list[int] = []
        open_count = {"[": 0, "{": 0}
        self.overflow = False
        self.too_deep: set[int] = set()
        pos = 0
        length = len(text)
        while pos < length:
            deep_at = -1
            for m in _TOKEN.finditer(text, pos):
                p = m.start()
                ch = text[p]
                if ch == "[" or ch == "{":
                    if len(stack) >= _MAX_SCAN_DEPTH or len(start) >= _MAX_SPANS:
                        deep_at = m.end()
                        break
                    parent.append(stack[-1] if stack else -1)
                    stack.append(len(start))
                    start.append(p)
                    end.append(_CUT)
                    kind.append(ch)
                    open_count[ch] += 1
                elif ch == "]" or ch == "}":
                    want = "[" if ch == "]" else "{"
                    if not open_count[want]:
                        continue  # a stray closing bracket: ignored
                    while True:  # pop up to the matching opener; skipped ones were never closed
                        sid = stack.pop()
                        open_count[kind[sid]] -= 1
                        if kind[sid] == want:
                            end[sid] = p
                            break
                        end[sid] = _BROKEN
            if deep_at < 0:
                break
            self.overflow = True
            self.too_deep.update(stack)  # these spans hold text nested deeper than the limit
            pos = self._skip_deep(text, deep_at)
        self.start, self.end, self.kind, self.parent = start, end, kind, parent
        self.cut = bool(stack)
        self._children: list[list[int]] | None = None

    @staticmethod
    def _skip_deep(text: str, pos: int) -> int:
        """Past the bracket that closes the one just before ``pos`` (kinds and strings ignored)."""
        depth = 1
        length = len(text)
        while pos < length:
            chunk = text[pos : pos + _SKIP_CHUNK]
            closes = chunk.count("]") + chunk.count("}")
            if depth - closes > 0:  # cannot get back out within this chunk
                depth += chunk.count("[") + chunk.count("{") - closes
                pos += len(chunk)
                continue
            for m in _BRACKET.finditer(chunk):
                depth += 1 if m.group() in "[{" else -1
                if depth == 0:
                    return pos + m.end()
            pos += len(chunk)
        return length

    @property
    def roots(self) -> list[int]:
        return [sid for sid, p in enumerate(self.parent) if p < 0]

    def children(self, sid: int) -> list[int]:
        if self._children is None:
            self._children = [[] for _ in self.start]
            for child, p in enumerate(self.parent):
                if p >= 0:
                    self._children[p].append(child)
        return self._children[sid]

    def span(self, sid: int) -> str:
        return self.text[self.start[sid] : self.end[sid] + 1]


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
        self.spans = _Spans(text)
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
        if end == _BROKEN:
            return self._elements(children, level) if children else _NOTHING
        # Cut off at the end of the text: a list keeps its complete elements (the last, partial one is
        # dropped); an object is incomplete, but may wrap a list whose complete elements can be kept.
        if kind == "[":
            complete = [c for c in children if spans.end[c] != _CUT]
            return self._elements(complete, level) if complete else _NOTHING
        if children and spans.end[children[-1]] == _CUT:
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
            if self.spans.end[c] == _BROKEN and isinstance(value, list):
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
    values = [v for v in (reader.value(r) for r in reader.spans.roots) if v is not _NOTHING]
    dropped = reader.dropped + (1 if reader.spans.overflow else 0)
    return JSONScan(tuple(values), reader.spans.cut, dropped)


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
            return JSONScan(values, scans[-1].truncated, sum(s.dropped for s in scans))
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


def normalize_label(label: str) -> str:
    """Case-, punctuation- and whitespace-insensitive form of a label (``"TV-Stand."`` → ``"tvstand"``)."""
    return re.sub(r"[\W_]+", "", label.casefold())


@functools.lru_cache(maxsize=256)
def _mention_pattern(label: str) -> re.Pattern[str] | None:
    words = re.findall(r"\w+", label)
    if not words:
        return None
    # One-letter labels ("A", "B"... option letters) must match case, or every article "a" would count.
    flags = 0 if len("".join(words)) == 1 else re.IGNORECASE
    return re.compile(r"(?<!\w)" + r"[\W_]*".join(re.escape(w) for w in words) + r"(?!\w)", flags)


@functools.lru_cache(maxsize=64)
def _nested_labels(labels: tuple[str, ...]) -> frozenset[int]:
    """Indices of labels whose words occur inside another label's words, or contain another's."""
    words = [tuple(re.findall(r"\w+", label.casefold())) for label in labels]

    def inside(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
        return 0 < len(a) < len(b) and any(b[k : k + len(a)] == a for k in range(len(b) - len(a) + 1))

    out: set[int] = set()
    for i, a in enumerate(words):
        for j, b in enumerate(words):
            if i != j and (inside(a, b) or (a == b and a)):
                out.update((i, j))
    return frozenset(out)


def find_mentions(text: str, labels: Sequence[str]) -> list[str]:
    """Return the labels mentioned as whole words in ``text``, ignoring case and punctuation.

    A label that only occurs inside a longer mentioned label (``"stand"`` in ``"tv stand"``) is not counted.
    Runs in ``O(n log n)`` for ``n`` mentions.
    """
    nested = _nested_labels(tuple(labels))
    spans: list[tuple[int, int, int]] = []
    found: dict[int, None] = {}
    for i, label in enumerate(labels):
        pattern = _mention_pattern(label)
        if pattern is None:
            continue
        if i not in nested:  # no other label contains it or is contained in it: one search suffices
            if pattern.search(text):
                found[i] = None
            continue
        spans.extend((m.start(), -m.end(), i) for m in pattern.finditer(text))
    # Sorted by start, longest first: a span lies inside a longer one exactly when an earlier span
    # (other than an identical one) reaches at least as far.
    spans.sort()
    reach = -1  # furthest end among earlier spans that differ from the current one
    k = 0
    while k < len(spans):
        start, neg_end, _ = spans[k]
        group_end = k
        while group_end < len(spans) and spans[group_end][:2] == (start, neg_end):
            group_end += 1
        if reach < -neg_end:
            for _s, _e, i in spans[k:group_end]:
                found.setdefault(i, None)
        reach = max(reach, -neg_end)
        k = group_end
    return [labels[i] for i in sorted(found)]
