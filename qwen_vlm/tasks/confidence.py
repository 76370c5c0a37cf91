"""A confidence for every located object, from the model's own token probabilities (pure).

**Definition.** For one object (a box or a point, with its label)::

    confidence = P(label) × GM(coordinates)

* ``P(label)`` is the probability that the model wrote this label: the product of the probabilities of
  the tokens holding the label's characters (a joint probability — "is there a cat here at all");
* ``GM(coordinates)`` is the geometric mean of the probabilities of the tokens holding the coordinates'
  digits — how sure the model was of *where*; a mean, so that a box written with more digits is not
  penalised for its length;
* an object without a label (open detection that gave none) has ``GM(coordinates)`` alone.

Tokens are found by their characters: each object's coordinate value and label string are located in
the answer text, and every generated token that holds one of their characters counts (a token such as
``cat"`` that also holds a quote counts for the label). Objects whose coordinates cannot be located in
the answer (a shape the locator does not know) get ``None``, never a made-up value.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..logprobs import TokenLogprobs
from .coordinates import BOX_KEYS, LABEL_KEYS, POINT_KEYS

__all__ = ["confidence", "with_confidences"]

_BRACE_OR_STRING = re.compile(r'[{}]|"(?:[^"\\\n]|\\.)*"')
_COLON = re.compile(r"\s*:\s*")
_STRING_VALUE = re.compile(r'"(?P<body>(?:[^"\\\n]|\\.)*)"')
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_TOKEN_BOX = re.compile(r"<\|box_start\|>(?P<body>.*?)<\|box_end\|>", re.S)
_TOKEN_REF = re.compile(r"<\|object_ref_start\|>(?P<label>.*?)<\|object_ref_end\|>", re.S)
_COORDINATE_KEYS = frozenset(BOX_KEYS + POINT_KEYS)
_LABEL_KEYS = frozenset(LABEL_KEYS)


@dataclass
class _Found:
    """An object located in the answer: its coordinates and where its digits and label are."""

    coords: tuple[float, ...]
    digits: list[tuple[int, int]]
    label: tuple[int, int] | None = None


def confidence(
    logprobs: TokenLogprobs, digits: Sequence[tuple[int, int]], label: tuple[int, int] | None
) -> float | None:
    """The definition applied to character spans of the generated text (``None`` without digits)."""
    coordinate_tokens = sorted({k for start, end in digits for k in logprobs.covering(start, end)})
    if not coordinate_tokens:
        return None
    label_tokens = set(logprobs.covering(*label)) if label is not None else set()
    label_tokens -= set(coordinate_tokens)
    values = logprobs.logprobs
    log_confidence = sum(values[k] for k in label_tokens) + sum(values[k] for k in coordinate_tokens) / len(
        coordinate_tokens
    )
    return min(1.0, max(0.0, math.exp(log_confidence)))


def _value_end(text: str, start: int) -> int:
    """Where the JSON value starting at ``start`` ends (brackets balanced, strings skipped; linear)."""
    if start < len(text) and text[start] == '"':
        m = _STRING_VALUE.match(text, start)
        return m.end() if m else start + 1
    depth, k = 0, start
    while k < len(text):
        ch = text[k]
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth <= 0:
                return k + 1
        elif ch == '"':
            m = _STRING_VALUE.match(text, k)
            k = m.end() - 1 if m else k
        elif depth == 0 and ch in ",\n":
            return k
        k += 1
    return len(text)


def _json_objects(text: str) -> list[_Found]:
    """Every object with coordinates in a JSON answer, with its label's span when it has one.

    One linear pass: braces are tracked (strings skipped) so each key knows the object it is in.
    """
    found: list[_Found] = []
    owner: dict[int, list[_Found]] = defaultdict(list)  # objects by the position of their opening "{"
    labels: dict[int, list[tuple[int, int]]] = defaultdict(list)
    stack: list[int] = []
    for m in _BRACE_OR_STRING.finditer(text):
        token = m.group()
        if token == "{":
            stack.append(m.start())
            continue
        if token == "}":
            if stack:
                stack.pop()
            continue
        colon = _COLON.match(text, m.end())
        if colon is None:
            continue  # a string value, not a key
        key, value_start, brace = token[1:-1], colon.end(), stack[-1] if stack else -1
        if key in _COORDINATE_KEYS:
            numbers = list(_NUMBER.finditer(text, value_start, _value_end(text, value_start)))
            if numbers:
                item = _Found(tuple(float(n.group()) for n in numbers), [n.span() for n in numbers])
                found.append(item)
                owner[brace].append(item)
        elif key in _LABEL_KEYS:
            value = _STRING_VALUE.match(text, value_start)
            if value is not None and value.group("body").strip():
                labels[brace].append(value.span("body"))
    for brace, items in owner.items():  # the k-th label of an object goes with its k-th coordinates
        for item, span in zip(items, labels.get(brace, []), strict=False):
            item.label = span
    return found


def _token_objects(text: str) -> list[_Found]:
    """Qwen2-VL's ``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``."""
    found: list[_Found] = []
    previous_end = 0
    for m in _TOKEN_BOX.finditer(text):
        numbers = list(_NUMBER.finditer(text, m.start("body"), m.end("body")))
        refs = list(_TOKEN_REF.finditer(text, previous_end, m.start()))
        label = refs[-1].span("label") if refs else None
        found.append(_Found(tuple(float(n.group()) for n in numbers), [n.span() for n in numbers], label))
        previous_end = m.end()
    return found


def _key(coords: Sequence[float]) -> tuple[float, ...]:
    return tuple(round(float(v), 6) for v in coords)


def with_confidences(items: Sequence[Any], answer: str, logprobs: TokenLogprobs | None) -> tuple[Any, ...]:
    """``items`` (detections or points) with ``confidence`` set from the tokens that wrote each one.

    Args:
        items: Parsed :class:`~qwen_vlm.Detection` or :class:`~qwen_vlm.Point` objects, each with its
            ``raw_box`` / ``raw_point`` as written.
        answer: The answer text they were parsed from (thinking removed).
        logprobs: The tokens of the generated text holding ``answer``; ``None`` leaves every
            confidence ``None``.
    """
    if logprobs is None or not items:
        return tuple(items)
    offset = logprobs.text.rfind(answer) if answer else -1
    if offset < 0:
        return tuple(items)
    located = _token_objects(answer) if "<|box_start|>" in answer else _json_objects(answer)
    queues: dict[tuple[float, ...], deque[_Found]] = defaultdict(deque)
    for item in located:
        queues[_key(item.coords)].append(item)
    out = []
    for item in items:
        raw = getattr(item, "raw_box", None) or getattr(item, "raw_point", None)
        queue = queues.get(_key(raw)) if raw is not None else None
        if not queue:
            out.append(item)
            continue
        where = queue.popleft()
        digits = [(s + offset, e + offset) for s, e in where.digits]
        label = (where.label[0] + offset, where.label[1] + offset) if where.label else None
        out.append(replace(item, confidence=confidence(logprobs, digits, label)))
    return tuple(out)
