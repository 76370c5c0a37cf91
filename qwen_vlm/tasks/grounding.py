"""Detection and pointing parsing: model coordinates → original-image pixels, one image or a group (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import OutputParseError
from ..geometry import box_to_pixels, point_to_pixels
from ..models import FamilySpec
from ..parsing import scan_json
from ..results import Detection, Point
from .coordinates import (
    BOX_KEYS,
    LABEL_KEYS,
    POINT_KEYS,
    cut_off,
    in_frame,
    json_entries,
    label_of,
    numbers_of,
    seen_size,
)

__all__ = ["parse_boxes", "parse_group", "parse_points"]

_GROUNDING_TOKEN = re.compile(r"<\|(object_ref_start|object_ref_end|box_start|box_end)\|>")
_TOKEN_BOX = re.compile(
    r"\s*\(\s*(-?\d{1,12}(?:\.\d+)?)\s*,\s*(-?\d{1,12}(?:\.\d+)?)\s*\)\s*,"
    r"\s*\(\s*(-?\d{1,12}(?:\.\d+)?)\s*,\s*(-?\d{1,12}(?:\.\d+)?)\s*\)\s*"
)


def _token_boxes(text: str) -> tuple[list[tuple[str | None, tuple[float, ...]]], int]:
    """Qwen2-VL boxes: ``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)...``.

    Returns the boxes and how many ``<|box_start|>`` spans were malformed (not exactly two pairs).
    """
    found: list[tuple[str | None, tuple[float, ...]]] = []
    malformed = 0
    label: str | None = None
    ref_start: int | None = None
    box_start: int | None = None
    last = 0

    def close_box(end: int) -> None:
        nonlocal box_start, malformed
        assert box_start is not None
        m = _TOKEN_BOX.fullmatch(text, box_start, end)
        if m is None:
            malformed += 1
        else:
            found.append((label, tuple(float(g) for g in m.groups())))
        box_start = None

    for m in _GROUNDING_TOKEN.finditer(text):
        kind = m.group(1)
        if box_start is not None and kind != "box_end":
            close_box(m.start())  # a box span with no <|box_end|>
        between = text[last : m.start()]
        if kind == "object_ref_start":
            ref_start = m.end()
        elif kind == "object_ref_end":
            if ref_start is not None:
                label = text[ref_start : m.start()].strip() or None
                ref_start = None
        elif kind == "box_start":
            if ref_start is not None:  # <|object_ref_start|> never closed: its text is the label
                label = text[ref_start : m.start()].strip() or None
                ref_start = None
            elif between.strip():
                label = None
            box_start = m.end()
        elif box_start is not None:
            close_box(m.start())
        last = m.end()
    if box_start is not None:
        close_box(len(text))
    return found, malformed


def parse_boxes(
    text: str,
    spec: FamilySpec,
    image_size: tuple[int, int],
    input_size: tuple[int, int] | None = None,
) -> tuple[tuple[Detection, ...], OutputParseError | None, int]:
    """Parse boxes from a model answer and convert them to original-image pixels.

    Args:
        text: The answer (thinking removed).
        spec: The model family (coordinate convention, resize factor).
        image_size: ``(width, height)`` of the original image.
        input_size: ``(width, height)`` the model saw; ``None`` = the family's default smart resize.

    Returns:
        ``(detections, error, dropped)``: ``error`` is ``None`` on success (an empty tuple then means the
        model found nothing: it wrote ``[]``) and the reason when the answer held no usable box;
        ``dropped`` counts objects left out (malformed, degenerate or far outside the frame).
    """
    try:
        input_size = seen_size(spec, image_size, input_size)
    except ValueError as exc:
        return (), OutputParseError(f"cannot tell what size the model saw: {exc}", text), 0
    if "<|box_start|>" in text:
        boxes, dropped = _token_boxes(text)
        detections = []
        for label, raw in boxes:
            box = (raw[0], raw[1], raw[2], raw[3])
            xyxy = box_to_pixels(box, "relative_1000", image_size) if in_frame(raw, spec, None) else None
            if xyxy is None:
                dropped += 1
            else:
                detections.append(Detection(label, xyxy, box))
        if detections:
            return tuple(detections), None, dropped
        return (), OutputParseError("the answer's <|box_start|> tokens hold no valid box", text), dropped
    entries, error, truncated, dropped = json_entries(text, BOX_KEYS)
    if error is not None:
        return (), error, dropped
    found = []
    located, unusable = _located(entries, BOX_KEYS, 4)
    dropped += unusable
    for nums, label, attrs in located:
        box = (nums[0], nums[1], nums[2], nums[3])
        xyxy = box_to_pixels(box, spec.coordinates, image_size, input_size)
        if xyxy is None or not in_frame(nums, spec, input_size):
            dropped += 1
        else:
            found.append(Detection(label, xyxy, box, attrs))
    if not found and truncated:
        return (), cut_off(text), dropped
    if entries and not found:
        return (
            (),
            OutputParseError(f"none of the {len(entries)} objects in the answer has a valid box", text),
            dropped,
        )
    return tuple(found), None, dropped


def parse_points(
    text: str,
    spec: FamilySpec,
    image_size: tuple[int, int],
    input_size: tuple[int, int] | None = None,
) -> tuple[tuple[Point, ...], OutputParseError | None, int]:
    """Parse points (``point_2d``) and convert them to original-image pixels; see :func:`parse_boxes`."""
    try:
        input_size = seen_size(spec, image_size, input_size)
    except ValueError as exc:
        return (), OutputParseError(f"cannot tell what size the model saw: {exc}", text), 0
    entries, error, truncated, dropped = json_entries(text, POINT_KEYS)
    if error is not None:
        return (), error, dropped
    found = []
    located, unusable = _located(entries, POINT_KEYS, 2)
    dropped += unusable
    for nums, label, attrs in located:
        point = (nums[0], nums[1])
        xy = point_to_pixels(point, spec.coordinates, image_size, input_size)
        if xy is None or not in_frame(nums, spec, input_size):
            dropped += 1
        else:
            found.append(Point(label, xy, point, attrs))
    if not found and truncated:
        return (), cut_off(text), dropped
    if entries and not found:
        return (
            (),
            OutputParseError(f"none of the {len(entries)} objects in the answer has a valid point", text),
            dropped,
        )
    return tuple(found), None, dropped


def _located(
    entries: list[Any], keys: tuple[str, ...], count: int
) -> tuple[list[tuple[tuple[float, ...], str | None, dict[str, Any]]], int]:
    """Coordinates, label and other attributes of every entry with ``count`` readable coordinates.

    Returns:
        ``[(coordinates, label, attrs), ...]`` and how many entries had no usable coordinates.
    """
    out = []
    unusable = 0
    for entry in entries:
        if isinstance(entry, Mapping):
            key = next((k for k in keys if k in entry), None)
            if key is None:
                unusable += 1
                continue
            nums = numbers_of(entry[key], count)
            label, label_key = label_of(entry, LABEL_KEYS)
            attrs = {k: v for k, v in entry.items() if k not in (key, label_key) and v is not None}
        else:
            nums, label, attrs = numbers_of(entry, count), None, {}
        if nums is None:
            unusable += 1
        else:
            out.append((nums, label, attrs))
    return out, unusable


def parse_group(
    text: str,
    parser: Any,
    spec: FamilySpec,
    image_sizes: Sequence[tuple[int, int]],
    input_sizes: Sequence[tuple[int, int] | None],
) -> tuple[tuple[Any, ...], OutputParseError | None, int]:
    """Parse boxes or points over a group: each object's ``"image"`` (1 to N) says which image it is on.

    Each image's objects are converted with that image's sizes and tagged with ``image`` (0-based). An
    object without ``"image"`` belongs to the first image; one naming no image of the group is dropped.

    Args:
        text: The answer.
        parser: :func:`parse_boxes` or :func:`parse_points`.
        spec: The model family.
        image_sizes: ``(width, height)`` of each original image.
        input_sizes: Each image's size as the model saw it (``None``: the family's default resize).
    """
    scan = scan_json(text)
    objects = [
        v
        for value in scan.values
        for v in (value if isinstance(value, list) else [value])
        if isinstance(v, dict)
    ]
    if not objects:  # "[]", no JSON, or cut before the first object: the one-image reading tells
        found, error, dropped = parser(text, spec, image_sizes[0], input_sizes[0])
        return tuple(replace(item, image=0) for item in found), error, dropped
    parts: list[list[dict[str, Any]]] = [[] for _ in image_sizes]
    dropped = scan.dropped
    for obj in objects:
        number = _int_like(obj.get("image", 1))
        if number is None or not 1 <= number <= len(image_sizes):
            dropped += 1
            continue
        parts[number - 1].append({k: v for k, v in obj.items() if k != "image"})
    items: list[Any] = []
    first_error: OutputParseError | None = None
    for k, part in enumerate(parts):
        if not part:
            continue
        found, error, lost = parser(json.dumps(part), spec, image_sizes[k], input_sizes[k])
        dropped += lost
        first_error = first_error or error
        items.extend(replace(item, image=k) for item in found)
    if not items:
        error = cut_off(text) if scan.truncated else first_error
        return (), error or OutputParseError("no object in the answer has usable coordinates", text), dropped
    return tuple(items), None, dropped


def _int_like(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 6:
        return int(value.strip())
    return None
