"""Labels in free text: a normalised form, and which of several labels an answer mentions."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

__all__ = ["find_mentions", "normalize_label"]


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
