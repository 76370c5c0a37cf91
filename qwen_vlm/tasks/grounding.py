"""Detection, pointing and located-text (OCR) parsing: model coordinates → original-image pixels (pure)."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import OutputParseError, TruncatedOutputError
from ..geometry import box_to_pixels, point_to_pixels, smart_resize
from ..models import FamilySpec
from ..parsing import JSONObject, scan_json
from ..results import Detection, Point, TextRegion

__all__ = [
    "COORDINATE_TOLERANCE",
    "default_input_size",
    "parse_boxes",
    "parse_points",
    "parse_text_regions",
    "seen_size",
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
_BIG_INT = int(_MAX_COORDINATE) + 1
_NUMBER_IN_TEXT = re.compile(r"-?\d+(?:\.\d+)?")
_GROUNDING_TOKEN = re.compile(r"<\|(object_ref_start|object_ref_end|box_start|box_end)\|>")
_TOKEN_BOX = re.compile(
    r"\s*\(\s*(-?\d{1,12}(?:\.\d+)?)\s*,\s*(-?\d{1,12}(?:\.\d+)?)\s*\)\s*,"
    r"\s*\(\s*(-?\d{1,12}(?:\.\d+)?)\s*,\s*(-?\d{1,12}(?:\.\d+)?)\s*\)\s*"
)


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


def _number(value: Any) -> float | None:
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
            return _number(float(text))
    return None


def _numbers(value: Any, count: int) -> tuple[float, ...] | None:
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
    nums = [_number(v) for v in flat]
    if any(n is None for n in nums):
        return None
    return tuple(n for n in nums if n is not None)


def _in_frame(nums: tuple[float, ...], spec: FamilySpec, input_size: tuple[int, int] | None) -> bool:
    """Whether coordinates lie within the model's frame, give or take :data:`COORDINATE_TOLERANCE`."""
    if spec.coordinates == "relative_1000" or input_size is None:
        width = height = 1000.0
    else:
        width, height = float(input_size[0]), float(input_size[1])
    tol = COORDINATE_TOLERANCE
    low_x, high_x, low_y, high_y = -tol * width, (1 + tol) * width, -tol * height, (1 + tol) * height
    return all(low_x <= nums[i] <= high_x and low_y <= nums[i + 1] <= high_y for i in range(0, len(nums), 2))


def _label(entry: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, str | None]:
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


def _json_entries(text: str, keys: tuple[str, ...]) -> tuple[list[Any], OutputParseError | None, bool, int]:
    """``(entries, error, truncated, dropped)`` of a JSON answer."""
    scan = scan_json(text)
    if not scan.values:
        if scan.truncated:
            return [], _cut_off(text), True, scan.dropped
        return [], OutputParseError("the answer contains no JSON", text), False, scan.dropped
    entries: list[Any] = []
    shaped = [_collect(v, keys, entries) for v in scan.values]
    if not any(shaped):
        kinds = ", ".join(sorted({type(v).__name__ for v in scan.values}))
        return [], OutputParseError(f"the answer's JSON ({kinds}) holds no list of objects", text), False, 0
    return entries, None, scan.truncated, scan.dropped


def _cut_off(text: str) -> TruncatedOutputError:
    return TruncatedOutputError(
        "the answer was cut off before its first complete object (the token limit, max_tokens, was "
        "probably reached); raise max_tokens",
        text,
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
            xyxy = box_to_pixels(box, "relative_1000", image_size) if _in_frame(raw, spec, None) else None
            if xyxy is None:
                dropped += 1
            else:
                detections.append(Detection(label, xyxy, box))
        if detections:
            return tuple(detections), None, dropped
        return (), OutputParseError("the answer's <|box_start|> tokens hold no valid box", text), dropped
    entries, error, truncated, dropped = _json_entries(text, BOX_KEYS)
    if error is not None:
        return (), error, dropped
    found = []
    located, unusable = _located(entries, BOX_KEYS, 4)
    dropped += unusable
    for nums, label, attrs in located:
        box = (nums[0], nums[1], nums[2], nums[3])
        xyxy = box_to_pixels(box, spec.coordinates, image_size, input_size)
        if xyxy is None or not _in_frame(nums, spec, input_size):
            dropped += 1
        else:
            found.append(Detection(label, xyxy, box, attrs))
    if not found and truncated:
        return (), _cut_off(text), dropped
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
    entries, error, truncated, dropped = _json_entries(text, POINT_KEYS)
    if error is not None:
        return (), error, dropped
    found = []
    located, unusable = _located(entries, POINT_KEYS, 2)
    dropped += unusable
    for nums, label, attrs in located:
        point = (nums[0], nums[1])
        xy = point_to_pixels(point, spec.coordinates, image_size, input_size)
        if xy is None or not _in_frame(nums, spec, input_size):
            dropped += 1
        else:
            found.append(Point(label, xy, point, attrs))
    if not found and truncated:
        return (), _cut_off(text), dropped
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
            nums = _numbers(entry[key], count)
            label, label_key = _label(entry, LABEL_KEYS)
            attrs = {k: v for k, v in entry.items() if k not in (key, label_key) and v is not None}
        else:
            nums, label, attrs = _numbers(entry, count), None, {}
        if nums is None:
            unusable += 1
        else:
            out.append((nums, label, attrs))
    return out, unusable


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)([^<>]*)>")
_ATTR_VALUE = r"""\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"""
_BBOX_ATTR = re.compile(r"(?i)(?<![-\w])data-bbox" + _ATTR_VALUE)
_CLASS_ATTR = re.compile(r"(?i)(?<![-\w])class" + _ATTR_VALUE)


def _attr(attrs: str, pattern: re.Pattern[str]) -> str | None:
    m = pattern.search(attrs)
    if m is None:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3)


_VOID_TAGS = {"img", "br", "hr", "meta", "input", "link", "area", "col", "source", "wbr"}
#: At most this many ``data-bbox`` elements collect text at once (unclosed ones beyond are ended), and
#: at most ``_MAX_OPEN_TAGS`` tags are tracked: both keep reading linear in the answer's length.
_MAX_OPEN_REGIONS = 4
_SELF_ENDING_TAGS = {"p", "li", "td", "th", "tr", "dt", "dd", "option"}
_MAX_OPEN_TAGS = 256


def _html_elements(text: str) -> list[dict[str, Any]]:
    """Elements carrying ``data-bbox`` with the text inside them (QwenVL HTML), in one linear pass."""
    from collections import deque

    elements: list[dict[str, Any]] = []
    stack: deque[tuple[str, int | None]] = deque()
    tag_count: dict[str, int] = {}
    collecting: list[int] = []
    pos = 0

    def drop_bottom() -> None:
        tag, _ = stack.popleft()
        tag_count[tag] -= 1

    for m in _TAG.finditer(text):
        if collecting and m.start() > pos:
            data = text[pos : m.start()]
            for open_region in collecting:
                elements[open_region]["text"].append(data)
        pos = m.end()
        closing, tag, attrs = m.group(1) == "/", m.group(2).lower(), m.group(3)
        # An end tag, or (as in HTML) a <p>, <li>, <td>... that implicitly ends an open one of its kind.
        if closing or (tag in _SELF_ENDING_TAGS and tag_count.get(tag)):
            if not tag_count.get(tag):
                continue  # an end tag with no open element: ignored
            while True:
                open_tag, open_index = stack.pop()
                tag_count[open_tag] -= 1
                if open_index is not None and open_index in collecting:
                    collecting.remove(open_index)
                if open_tag == tag:
                    break
            if closing:
                continue
        index = None
        if "data-bbox" in attrs:
            box = _attr(attrs, _BBOX_ATTR)
            if box is not None:
                element: dict[str, Any] = {"tag": tag, "box": box, "text": []}
                cls = _attr(attrs, _CLASS_ATTR) if "class" in attrs else None
                if cls:
                    element["class"] = html.unescape(cls)
                elements.append(element)
                index = len(elements) - 1
        void = tag in _VOID_TAGS or attrs.rstrip().endswith("/")
        if index is not None and not void:
            collecting.append(index)
            if len(collecting) > _MAX_OPEN_REGIONS:
                collecting.pop(0)
        if not void:
            stack.append((tag, index))
            tag_count[tag] = tag_count.get(tag, 0) + 1
            if len(stack) > _MAX_OPEN_TAGS:
                drop_bottom()
    if collecting and pos < len(text):
        for open_region in collecting:
            elements[open_region]["text"].append(text[pos:])
    return elements


def parse_text_regions(
    text: str,
    spec: FamilySpec,
    image_size: tuple[int, int],
    input_size: tuple[int, int] | None = None,
) -> tuple[TextRegion, ...]:
    """Located text in an OCR answer: QwenVL-HTML ``data-bbox`` elements or text-spotting JSON.

    Plain-text answers give an empty tuple.
    """
    try:
        input_size = seen_size(spec, image_size, input_size)
    except ValueError:
        return ()
    regions: list[TextRegion] = []
    if "data-bbox" in text:
        for el in _html_elements(text):
            raw = _numbers(el["box"], 4)
            if raw is None or not _in_frame(raw, spec, input_size):
                continue
            box = (raw[0], raw[1], raw[2], raw[3])
            xyxy = box_to_pixels(box, spec.coordinates, image_size, input_size)
            if xyxy is None:
                continue
            attrs = {"class": el["class"]} if "class" in el else {}
            body = " ".join(html.unescape("".join(el["text"])).split())
            regions.append(TextRegion(body, xyxy, el["tag"], box, attrs))
        return tuple(regions)
    if not any(f'"{k}"' in text or f"'{k}'" in text for k in BOX_KEYS):
        return ()
    entries, _error, _truncated, _dropped = _json_entries(text, BOX_KEYS)
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        box_key = next((k for k in BOX_KEYS if k in entry), None)
        content, text_key = _label(entry, TEXT_KEYS)
        raw = _numbers(entry[box_key], 4) if box_key else None
        if raw is None or content is None or not _in_frame(raw, spec, input_size):
            continue
        box = (raw[0], raw[1], raw[2], raw[3])
        xyxy = box_to_pixels(box, spec.coordinates, image_size, input_size)
        if xyxy is not None:
            attrs = {k: v for k, v in entry.items() if k not in (box_key, text_key)}
            regions.append(TextRegion(content, xyxy, None, box, attrs))
    return tuple(regions)


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
        error = _cut_off(text) if scan.truncated else first_error
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


_PAGE_HEADER = re.compile(r"(?im)^[ \t#*=]*image[ \t]*(\d{1,3})[ \t]*[:.)\-]?[ \t#*=]*$")


def split_pages(text: str, count: int) -> tuple[str, ...]:
    """The text of each of ``count`` images, from an answer with ``Image N:`` header lines.

    Text before the first header belongs to the first image; a header naming no image of the group is
    kept as text. Without any header the whole answer is the first image's.
    """
    pages = [""] * count
    current, start = 0, 0
    chunks: list[tuple[int, str]] = []
    for match in _PAGE_HEADER.finditer(text):
        number = int(match.group(1))
        if not 1 <= number <= count:
            continue
        chunks.append((current, text[start : match.start()]))
        current, start = number - 1, match.end()
    chunks.append((current, text[start:]))
    for page, chunk in chunks:
        pages[page] = (pages[page] + "\n" + chunk.strip()).strip() if pages[page] else chunk.strip()
    return tuple(pages)
