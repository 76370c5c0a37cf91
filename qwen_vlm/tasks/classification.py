"""Single- and multi-label classification parsing: map a free-form answer onto the given classes (pure).

An answer may hold several JSON documents (``{"label": "cat"}`` then ``{"label": "dog"}``, or JSON
Lines). Each document is read on its own, never merged into one list:

* single-label: the documents must agree. The class they all name is the label; documents naming
  different classes are an error that names them (the answer is ambiguous, not the first one's);
* multi-label: the union of the classes every document names.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..parsing import find_mentions, normalize_label, scan_json

__all__ = ["match_class", "match_classes"]

_ANSWER_KEYS = ("label", "class", "class_name", "category", "answer", "labels", "classes", "categories")
# No pattern here may cross a line break before "answer": that kept it linear on answers of many lines.
_ANSWER_LINE = re.compile(r"(?im)^[ \t*_#>-]*(?:final[ \t]+)?answer[ \t]*[:：][ \t]*(.+)$")
_OPTION_PREFIX = re.compile(r"^\(?([A-Za-z])[.)：:]\s+(.+)$")
_NONE_WORDS = {"none", "nothing", "noneofthem", "noneoftheabove", "null", "no", "n/a", "na"}


def _exact(candidate: str, classes: Sequence[str]) -> str | None:
    keys, limit = _class_keys(tuple(classes))
    if len(candidate) > limit:
        return None  # far longer than any class: cannot be one (and normalising it would cost time)
    key = normalize_label(candidate)
    return keys.get(key) if key else None


@functools.lru_cache(maxsize=64)
def _class_keys(classes: tuple[str, ...]) -> tuple[dict[str, str], int]:
    keys: dict[str, str] = {}
    for cls in classes:
        keys.setdefault(normalize_label(cls), cls)
    return keys, 4 * max((len(c) for c in classes), default=0) + 64


def _candidates(answer: str) -> list[str]:
    """Strings that may name the class: the answer, an 'Answer:' line, text after an option letter."""
    out: list[str] = []
    lines = _ANSWER_LINE.findall(answer)
    for text in [lines[-1]] if lines else []:
        out.append(text)
    out.append(answer)
    expanded: list[str] = []
    for text in out:
        text = text.strip().strip("*_`\"'“”").strip()
        expanded.append(text)
        option = _OPTION_PREFIX.match(text)
        if option:
            expanded.append(option.group(2))
        first = re.split(r"[.,;:)\s]", text, maxsplit=1)[0]
        if first:
            expanded.append(first)
    return expanded


def _answers_of(value: Any) -> list[str] | None:
    """The strings one JSON document gives as its answer (``None``: not an answer's shape)."""
    if isinstance(value, Mapping):
        for key in _ANSWER_KEYS:
            if key in value:
                value = value[key]
                break
        else:
            return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v if isinstance(v, str) else str(v) for v in value if v is not None]
    return None


def _json_documents(text: str) -> list[list[str]] | None:
    """Each JSON document's answer strings, in order (``None``: no JSON, or none of answer shape)."""
    scan = scan_json(text)
    documents = [answers for answers in map(_answers_of, scan.values) if answers is not None]
    return documents or None


def _class_of(answers: list[str], classes: Sequence[str]) -> str | None:
    for answer in dict.fromkeys(answers):
        for candidate in _candidates(answer):
            found = _exact(candidate, classes)
            if found is not None:
                return found
    return None


def match_class(text: str, classes: Sequence[str]) -> tuple[str | None, str | None]:
    """Pick the one class the answer names.

    Tries, in order: the JSON documents (``{"label": ...}``; several must agree), the whole answer or
    its ``Answer:`` line (case, punctuation and whitespace ignored, an option letter like ``"C. window"``
    stripped), then classes mentioned as whole words in the prose (only when exactly one is).

    Args:
        text: The model answer.
        classes: The allowed classes.

    Returns:
        ``(label, error)``: the matching class and ``None``, or ``None`` and the reason.
    """
    named = list(
        dict.fromkeys(c for c in (_class_of(doc, classes) for doc in _json_documents(text) or []) if c)
    )
    if len(named) == 1:
        return named[0], None
    if len(named) > 1:
        return (
            None,
            f"the answer's JSON documents name different classes ({', '.join(named)}), not exactly one",
        )
    for candidate in _candidates(text):
        found = _exact(candidate, classes)
        if found is not None:
            return found, None
    lines = _ANSWER_LINE.findall(text)
    for scope in ([lines[-1]] if lines else []) + [text]:
        mentioned = find_mentions(scope, classes)
        if len(mentioned) == 1:
            return mentioned[0], None
        if len(mentioned) > 1 and scope is text:
            return None, f"the answer names several classes ({', '.join(mentioned)}), not exactly one"
    if not text.strip():
        return None, "the model returned an empty answer"
    return None, f"the answer names none of the classes {list(classes)}"


def match_classes(text: str, classes: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    """Pick the subset of classes the answer names (multi-label).

    A JSON list is matched item by item; otherwise the answer is split on commas and new lines, and
    classes mentioned as whole words are collected. An explicit ``[]`` or "none" is an empty success.

    Returns:
        ``(labels, error)``: the labels in the order of ``classes``, and the reason when nothing usable
        was found.
    """
    documents = _json_documents(text)
    chosen: set[str] = set()
    if documents is not None:
        answers = [answer for document in documents for answer in document]  # the union of the documents
        for answer in dict.fromkeys(answers):  # each distinct answer once
            found = _exact(answer, classes) or next(iter(find_mentions(answer, classes)), None)
            if found is not None:
                chosen.add(found)
        if chosen or not answers:
            return tuple(c for c in classes if c in chosen), None
    for part in dict.fromkeys(re.split(r"[,\n;]+", text)):
        found = _exact(part.strip().strip("-*• ").strip(), classes)
        if found is not None:
            chosen.add(found)
    chosen.update(find_mentions(text, classes))
    if chosen:
        return tuple(c for c in classes if c in chosen), None
    if normalize_label(text) in _NONE_WORDS or text.strip().casefold().startswith("none"):
        return (), None
    if not text.strip():
        return (), "the model returned an empty answer"
    return (), f"the answer names none of the classes {list(classes)}"
