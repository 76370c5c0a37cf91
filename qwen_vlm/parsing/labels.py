"""Labels in free text: a normalised form, and which of several labels an answer mentions."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["find_mentions", "normalize_label"]


def normalize_label(label: str) -> str:
    """Case-, punctuation- and whitespace-insensitive form of a label (``"TV-Stand."`` → ``"tvstand"``)."""
    return re.sub(r"[\W_]+", "", label.casefold())


@functools.lru_cache(maxsize=4096)
def _mention_pattern(label: str) -> re.Pattern[str] | None:
    words = re.findall(r"\w+", label)
    if not words:
        return None
    # One-letter labels ("A", "B"... option letters) must match case, or every article "a" would count.
    flags = 0 if len("".join(words)) == 1 else re.IGNORECASE
    return re.compile(r"(?<!\w)" + r"[\W_]*".join(re.escape(w) for w in words) + r"(?!\w)", flags)


_RUN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class _Index:
    """Labels by their letters and digits (case folded, separators dropped), for a one-pass lookup.

    A label can only be mentioned where consecutive letter-and-digit runs of the text spell its key:
    its words are whole words, joined by nothing but separators. So one pass over the text's runs finds
    every label that may be mentioned, in time linear in the text (times the longest label's runs), not
    in the number of labels; only those candidates are then matched exactly.
    """

    keys: dict[str, tuple[int, ...]]
    longest: int
    most_runs: int
    odd: tuple[int, ...]  # labels with word characters but no letters or digits ("___"): always tried


@functools.lru_cache(maxsize=16)
def _index(labels: tuple[str, ...]) -> _Index:
    keys: dict[str, list[int]] = {}
    odd: list[int] = []
    longest = most_runs = 0
    for i, label in enumerate(labels):
        runs = _RUN.findall(label.casefold())
        key = "".join(runs)
        if key:
            keys.setdefault(key, []).append(i)
            longest, most_runs = max(longest, len(key)), max(most_runs, len(runs))
        elif re.search(r"\w", label):
            odd.append(i)
    return _Index({k: tuple(v) for k, v in keys.items()}, longest, most_runs, tuple(odd))


def _candidates(text: str, labels: tuple[str, ...]) -> list[int]:
    """Indices of the labels that may be mentioned in ``text`` (a superset of those that are)."""
    index = _index(labels)
    runs = _RUN.findall(text.casefold())
    found: set[int] = set(index.odd)
    for i in range(len(runs)):
        spelled = ""
        for run in runs[i : i + index.most_runs]:
            spelled += run
            if len(spelled) > index.longest:
                break
            hit = index.keys.get(spelled)
            if hit is not None:
                found.update(hit)
    return sorted(found)


def _nested_labels(labels: Sequence[str], among: Sequence[int]) -> frozenset[int]:
    """Of the labels ``among``, those whose words occur inside another's words, or contain another's."""
    words = {i: tuple(re.findall(r"\w+", labels[i].casefold())) for i in among}

    def inside(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
        return 0 < len(a) < len(b) and any(b[k : k + len(a)] == a for k in range(len(b) - len(a) + 1))

    out: set[int] = set()
    for i, a in words.items():
        for j, b in words.items():
            if i != j and (inside(a, b) or (a == b and a)):
                out.update((i, j))
    return frozenset(out)


def find_mentions(text: str, labels: Sequence[str]) -> list[str]:
    """Return the labels mentioned as whole words in ``text``, ignoring case and punctuation.

    A label that only occurs inside a longer mentioned label (``"stand"`` in ``"tv stand"``) is not counted.
    Near-linear: one pass over the text finds the few labels it may mention (whatever the number of
    labels), and only those are matched exactly; ``O(n log n)`` for ``n`` mentions.
    """
    labels = tuple(labels)
    among = _candidates(text, labels)
    nested = _nested_labels(labels, among)
    spans: list[tuple[int, int, int]] = []
    found: dict[int, None] = {}
    for i in among:
        pattern = _mention_pattern(labels[i])
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
