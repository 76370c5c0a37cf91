"""Coordinates in answers: reading numbers, the model's frame, and the objects of a JSON answer (pure)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..errors import OutputParseError, TruncatedOutputError
from ..geometry import box_to_pixels, point_to_pixels, smart_resize
from ..models import FamilySpec
from ..parsing import JSONObject, scan_json

__all__ = [
    "BOX_KEYS",
    "COORDINATE_TOLERANCE",
    "LABEL_KEYS",
    "POINT_KEYS",
    "TEXT_KEYS",
    "coordinate_of",
    "cut_off",
    "default_input_size",
    "in_frame",
    "json_entries",
    "label_of",
    "numbers_of",
    "seen_size",
    "to_pixels",
]

BOX_KEYS = ("bbox_2d", "box_2d", "bbox", "box", "bounding_box", "bndbox")
POINT_KEYS = ("point_2d", "point", "points_2d", "coordinate", "coordinates", "xy")
LABEL_KEYS = ("label", "class_name", "class", "category", "name", "object_name", "object", "description")
TEXT_KEYS = ("text_content", "text", "content", "transcription")

#: Coordinates may stray this far (a fraction of the frame: 0-1000, or the size the model saw) outside
#: the model's coordinate frame and still be clamped to the image; further out, the object is dropped.
COORDINATE_TOLERANCE = 0.25
#: Largest magnitude accepted for any coordinate before the frame check (guards float overflow).
_MAX_COORDINATE = 1e7
_NUMBER_TEXT = re.compile(r"-?\d{1,12}(?:\.\d{1,12})?")
_NUMBER_IN_TEXT = re.compile(r"-?\d+(?:\.\d+)?")


def default_input_size(spec: FamilySpec, image_size: tuple[int, int]) -> tuple[int, int]:
    """The size the family's processor resizes ``image_size`` to with its default pixel bounds."""
    return smart_resize(
        image_size[0],
        image_size[1],
        factor=spec.factor,
        min_pixels=spec.min_pixels,
        max_pixels=spec.max_pixels,
    )


def seen_size(
    spec: FamilySpec, image_size: tuple[int, int], input_size: tuple[int, int] | None
) -> tuple[int, int] | None:
    """The size the model saw, where its coordinates need it.

    That is ``input_size`` when given, or for absolute-pixel families the default smart resize of
    ``image_size``.

    Raises:
        ValueError: If the default resize is impossible (extreme aspect ratio).
    """
    if spec.coordinates == "absolute" and input_size is None:
        return default_input_size(spec, image_size)
    return input_size


def to_pixels(
    values: Any, spec: FamilySpec, image_size: tuple[int, int], input_size: tuple[int, int] | None
) -> tuple[float, ...] | None:
    """A box (4 numbers) or a point (2) as the family writes them, in pixels of the original image.

    The rules of ``detect`` and ``point``: the family's convention, the default smart resize when the
    size the model saw is unknown, objects far outside the frame or degenerate boxes are ``None``.

    Raises:
        ValueError: Not 2 or 4 numbers, or the size the model saw cannot be told.
    """
    count = len(values) if isinstance(values, (list, tuple)) else 0
    nums = numbers_of(values, count) if count in (2, 4) else None
    if nums is None:
        raise ValueError(f"coordinates must be 4 numbers (a box) or 2 (a point), got {values!r}")
    seen = seen_size(spec, image_size, input_size)
    if not in_frame(nums, spec, seen):
        return None
    if count == 4:
        return box_to_pixels((nums[0], nums[1], nums[2], nums[3]), spec.coordinates, image_size, seen)
    return point_to_pixels((nums[0], nums[1]), spec.coordinates, image_size, seen)


def coordinate_of(value: Any) -> float | None:
    """A finite coordinate of sane magnitude, from a number or numeric string; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if abs(value) <= _MAX_COORDINATE else None
    if isinstance(value, float):
        return value if math.isfinite(value) and abs(value) <= _MAX_COORDINATE else None
    if isinstance(value, str):
        text = value.strip()
        if _NUMBER_TEXT.fullmatch(text):
            return coordinate_of(float(text))
    return None


def numbers_of(value: Any, count: int) -> tuple[float, ...] | None:
    """Exactly ``count`` numbers from a list, nested lists or an ``x1``... mapping (``None`` otherwise)."""
    if type(value) is list and len(value) == count:
        try:  # the common case, fast: plain numbers of sane magnitude
            floats = tuple(float(v) for v in value if type(v) is int or type(v) is float)
        except OverflowError:
            return None
        if len(floats) == count:
            for v in floats:
                if not -_MAX_COORDINATE <= v <= _MAX_COORDINATE:  # false for NaN too
                    return None
            return floats
    if isinstance(value, str):
        if len(value) > 200:
            return None
        found = [float(v) for v in _NUMBER_IN_TEXT.findall(value)]
        if len(found) != count or not all(abs(v) <= _MAX_COORDINATE for v in found):
            return None
        return tuple(found)
    if isinstance(value, Mapping):
        keys = ("x1", "y1", "x2", "y2") if count == 4 else ("x", "y")
        value = [value.get(k) for k in keys]
    if not isinstance(value, (list, tuple)) or len(value) > count:
        return None
    flat: list[Any] = []
    for v in value:
        flat.extend(v if isinstance(v, (list, tuple)) else [v])
    if len(flat) != count:
        return None
    nums = [coordinate_of(v) for v in flat]
    if any(n is None for n in nums):
        return None
    return tuple(n for n in nums if n is not None)


def in_frame(nums: tuple[float, ...], spec: FamilySpec, input_size: tuple[int, int] | None) -> bool:
    """Whether coordinates lie within the model's frame, give or take :data:`COORDINATE_TOLERANCE`."""
    if spec.coordinates == "relative_1000" or input_size is None:
        width = height = 1000.0
    else:
        width, height = float(input_size[0]), float(input_size[1])
    tol = COORDINATE_TOLERANCE
    low_x, high_x, low_y, high_y = -tol * width, (1 + tol) * width, -tol * height, (1 + tol) * height
    return all(low_x <= nums[i] <= high_x and low_y <= nums[i + 1] <= high_y for i in range(0, len(nums), 2))


def label_of(entry: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, str | None]:
    """The first non-empty string under one of ``keys``, and that key (``(None, None)`` when none)."""
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip(), key
    return None, None


def _split_repeated(entry: Any) -> list[Any]:
    """One object with repeated keys (several boxes in one object) → one entry per repetition.

    Keys are paired in the order the model wrote them, whichever comes first: a new entry starts when
    a key already seen in the current one comes again.
    """
    if not (isinstance(entry, JSONObject) and entry.has_repeated_keys):
        return [entry]
    groups: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for key, value in entry.pairs:
        if key in current:
            groups.append(current)
            current = {}
        current[key] = value
    groups.append(current)
    return groups


def _collect(value: Any, keys: tuple[str, ...], out: list[Any], depth: int = 0) -> bool:
    """Append the objects of a parsed value to ``out``; False when it has no recognisable shape."""
    if isinstance(value, list):
        for item in value:
            if (
                isinstance(item, Mapping)
                and depth < 2
                and not any(k in item for k in keys)
                and not any(k in item for k in LABEL_KEYS + TEXT_KEYS)
                and _collect(item, keys, out, depth + 1)
            ):
                continue  # a wrapper object inside the list ({"objects": [...]})
            out.extend(_split_repeated(item))
        return True
    if isinstance(value, Mapping):
        if any(k in value for k in keys):
            out.extend(_split_repeated(value))
            return True
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1 and depth < 2:
            return _collect(lists[0], keys, out, depth + 1)
        if value and all(isinstance(v, Mapping) for v in value.values()):
            # {"cat": {"bbox_2d": ...}, ...}: the key is the label.
            out.extend({"label": k, **v} for k, v in value.items())
            return True
    return False


def json_entries(text: str, keys: tuple[str, ...]) -> tuple[list[Any], OutputParseError | None, bool, int]:
    """``(entries, error, truncated, dropped)`` of a JSON answer."""
    scan = scan_json(text)
    if not scan.values:
        if scan.truncated:
            return [], cut_off(text), True, scan.dropped
        return [], OutputParseError("the answer contains no JSON", text), False, scan.dropped
    entries: list[Any] = []
    shaped = [_collect(v, keys, entries) for v in scan.values]
    if not any(shaped):
        kinds = ", ".join(sorted({type(v).__name__ for v in scan.values}))
        return [], OutputParseError(f"the answer's JSON ({kinds}) holds no list of objects", text), False, 0
    return entries, None, scan.truncated, scan.dropped


def cut_off(text: str) -> TruncatedOutputError:
    """The error of an answer cut off at the token limit before any complete object."""
    return TruncatedOutputError(
        "the answer was cut off before its first complete object (the token limit, max_tokens, was "
        "probably reached); raise max_tokens",
        text,
    )
