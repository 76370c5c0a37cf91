"""Temporal grounding answers → events with start and end in seconds of the original video (pure).

Reads the JSON the prompt asks for (``[{"event": ..., "start": s, "end": e}]``) and the shapes Qwen
writes when it ignores the format: ``"timestamp": [s, e]``, ``"start_time"``/``"end_time"``, times as
``"12.5"``, ``"12.5s"``, ``"00:12.5"`` or ``"1:02:03"``, or prose such as ``from 12.5 to 20 seconds``.

``offset`` shifts the model's times onto the video's timeline: Qwen2-VL and Qwen2.5-VL count time from
the first frame they were shown (their rotary time positions start at zero), Qwen3-VL and Qwen3.5 read
the frames' absolute times from the prompt, so their offset is zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from ..errors import OutputParseError, TruncatedOutputError
from ..parsing import normalize_label, scan_json
from ..results import Event

__all__ = ["parse_events", "parse_time"]

_LABEL_KEYS = ("event", "label", "query", "name", "description")
_START_KEYS = ("start", "start_time", "begin", "from", "start_seconds")
_END_KEYS = ("end", "end_time", "finish", "to", "end_seconds")
_SPAN_KEYS = ("timestamp", "timestamps", "time", "span", "segment", "interval")
_CLOCK = re.compile(r"^\s*(?:(\d{1,3}):)?(\d{1,3}):(\d{1,2}(?:\.\d+)?)\s*$")
_SECONDS = re.compile(r"^\s*(\d{1,6}(?:\.\d{1,6})?)\s*(?:s|sec|secs|seconds?)?\s*$", re.IGNORECASE)
_PROSE = re.compile(
    r"(\d{1,6}(?:\.\d{1,6})?)\s*(?:s|sec|secs|seconds?)?\s*(?:-|–|—|to|and|until)\s*"
    r"(\d{1,6}(?:\.\d{1,6})?)\s*(?:s\b|sec\b|secs\b|seconds?\b)",
    re.IGNORECASE,
)


def parse_time(value: Any) -> float | None:
    """Seconds from a number or a string (``12.5``, ``"12.5s"``, ``"00:12.5"``, ``"1:02:03"``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, str) or len(value) > 40:
        return None
    clock = _CLOCK.match(value)
    if clock:
        hours, minutes, seconds = clock.group(1), clock.group(2), clock.group(3)
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    plain = _SECONDS.match(value)
    return float(plain.group(1)) if plain else None


def _pick(obj: dict[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in obj:
            return obj[key]
    lowered = {str(k).lower(): v for k, v in obj.items()}
    return next((lowered[k] for k in keys if k in lowered), None)


def _match_query(label: Any, queries: Sequence[str]) -> str | None:
    if not isinstance(label, str):
        return queries[0] if len(queries) == 1 else None
    wanted = normalize_label(label)
    for query in queries:
        if normalize_label(query) == wanted:
            return query
    return label.strip() or None


def parse_events(
    text: str,
    queries: Sequence[str],
    *,
    offset: float = 0.0,
    duration: float | None = None,
) -> tuple[tuple[Event, ...], OutputParseError | None, int]:
    """Parse a temporal grounding answer.

    Args:
        text: The answer (thinking removed).
        queries: The events asked about (labels are matched to them ignoring case and punctuation).
        offset: Seconds added to every time the model wrote (see the module docs).
        duration: The video's length: events starting after it are dropped, ends are clamped to it.

    Returns:
        ``(events, error, dropped)``; an explicit ``[]`` is an empty success.
    """
    scan = scan_json(text)
    entries = [v for value in scan.values for v in (value if isinstance(value, list) else [value])]
    spans: list[tuple[Any, float | None, float | None]] = []
    dropped = scan.dropped
    for entry in entries:
        if not isinstance(entry, dict):
            dropped += 1
            continue
        start, end = parse_time(_pick(entry, _START_KEYS)), parse_time(_pick(entry, _END_KEYS))
        span = _pick(entry, _SPAN_KEYS)
        if (start is None or end is None) and isinstance(span, (list, tuple)) and len(span) == 2:
            start, end = parse_time(span[0]), parse_time(span[1])
        spans.append((_pick(entry, _LABEL_KEYS), start, end))
    if not scan.values:
        for match in _PROSE.finditer(text):  # prose: "from 12.5 to 20.0 seconds"
            spans.append((None, float(match.group(1)), float(match.group(2))))
    events = []
    for label, start, end in spans:
        if start is None or end is None:
            dropped += 1
            continue
        if end < start:
            start, end = end, start
        shifted = (start + offset, end + offset)
        if duration is not None and shifted[0] > duration * 1.25 + 1:
            dropped += 1
            continue
        stop = min(shifted[1], duration) if duration is not None else shifted[1]
        events.append(Event(_match_query(label, queries), shifted[0], max(shifted[0], stop), (start, end)))
    if events or (scan.values and not scan.truncated and not spans):
        return tuple(events), None, dropped
    if scan.truncated:
        return (
            (),
            TruncatedOutputError("the answer was cut off before it held a complete event", text),
            dropped,
        )
    if spans:
        return (), OutputParseError("no event in the answer has a usable start and end", text), dropped
    return (), OutputParseError("the answer names no time span", text), dropped


def merge_events(windows: Sequence[Sequence[Event]], tolerance: float) -> tuple[Event, ...]:
    """Events found in overlapping windows of one video, as one list in time order.

    Two events with the same label from *different* windows that overlap, or are at most ``tolerance``
    seconds apart (about a frame's spacing), are one event seen from both sides of a border: they become
    one spanning both. Events of one window are kept as that window gave them.
    """
    tagged = sorted(
        ((event, k) for k, found in enumerate(windows) for event in found), key=lambda pair: pair[0].start
    )
    merged: list[tuple[Event, set[int]]] = []
    for event, window in tagged:
        target = next(
            (
                i
                for i in range(len(merged) - 1, -1, -1)
                if merged[i][0].label == event.label
                and window not in merged[i][1]
                and event.start <= merged[i][0].end + tolerance
            ),
            None,
        )
        if target is None:
            merged.append((event, {window}))
            continue
        kept, seen = merged[target]
        joined = Event(kept.label, kept.start, max(kept.end, event.end), kept.raw)
        merged[target] = (joined, seen | {window})
    return tuple(event for event, _ in merged)


def closest_event(coarse: Event, found: Sequence[Event]) -> Event | None:
    """Of ``found``, the event with ``coarse``'s label that overlaps it most (or lies nearest to it)."""
    same = [event for event in found if event.label == coarse.label]
    if not same:
        return None

    def fit(event: Event) -> tuple[float, float]:
        overlap = min(event.end, coarse.end) - max(event.start, coarse.start)
        distance = abs((event.start + event.end) - (coarse.start + coarse.end)) / 2
        return (overlap, -distance)

    return max(same, key=fit)
