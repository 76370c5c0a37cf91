"""Detection, pointing and located-text (OCR) parsing: model coordinates → original-image pixels (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

from ..geometry import box_to_pixels, point_to_pixels, smart_resize
from ..models import FamilySpec
from ..parsing import NoJSONError, parse_json
from ..results import Detection, Point, TextRegion

__all__ = ["default_input_size", "parse_boxes", "parse_points", "parse_text_regions", "seen_size"]

BOX_KEYS = ("bbox_2d", "box_2d", "bbox", "box", "bounding_box", "bndbox")
POINT_KEYS = ("point_2d", "point", "points_2d", "coordinate", "coordinates", "xy")
LABEL_KEYS = ("label", "class_name", "class", "category", "name", "object_name", "object", "description")
TEXT_KEYS = ("text_content", "text", "content", "transcription")

_NUM = r"(-?\d+(?:\.\d+)?)"
_BOX_TOKENS = re.compile(
    r"<\|box_start\|>\s*\(\s*"
    + _NUM
    + r"\s*,\s*"
    + _NUM
    + r"\s*\)\s*,\s*\(\s*"
    + _NUM
    + r"\s*,\s*"
    + _NUM
    + r"\s*\)\s*(?:<\|box_end\|>)?"
)
_REF = re.compile(r"<\|object_ref_start\|>(.*?)<\|object_ref_end\|>", re.S)


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
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _numbers(value: Any, count: int) -> tuple[float, ...] | None:
    if isinstance(value, str):
        value = re.findall(r"-?\d+(?:\.\d+)?", value)
    if isinstance(value, Mapping):
        keys = ("x1", "y1", "x2", "y2") if count == 4 else ("x", "y")
        value = [value.get(k) for k in keys]
    if not isinstance(value, (list, tuple)):
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


def _label(entry: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, str | None]:
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip(), key
    return None, None


def _entries(value: Any) -> list[Any] | None:
    """The list of objects in a parsed answer, or None when it has no recognisable shape."""
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        if any(k in value for k in BOX_KEYS + POINT_KEYS):
            return [value]
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        if value and all(isinstance(v, Mapping) for v in value.values()):
            # {"cat": {"bbox_2d": ...}, ...}: the key is the label.
            return [{"label": k, **v} for k, v in value.items()]
    return None


_PAIR = re.compile(
    r"[\"'](?P<key>[A-Za-z_0-9]+)[\"']\s*:\s*(?:[\"'](?P<str>[^\"']*)[\"']|\[(?P<list>[^\[\]]*)\])"
)


def _scan_duplicate_key_pairs(text: str, box_keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Recover ``label``/``box`` pairs from one object with repeated keys (json keeps only the last)."""
    entries: list[dict[str, Any]] = []
    label: str | None = None
    for m in _PAIR.finditer(text):
        key = m.group("key")
        if key in LABEL_KEYS and m.group("str") is not None:
            label = m.group("str")
        elif key in box_keys and m.group("list") is not None:
            entries.append({key: m.group("list"), "label": label})
            label = None
    return entries


def _json_entries(text: str, keys: tuple[str, ...]) -> tuple[list[Any] | None, str | None]:
    try:
        value = parse_json(text)
    except NoJSONError:
        return None, "the answer contains no JSON"
    repeated = sum(len(re.findall(rf"[\"']{re.escape(k)}[\"']\s*:", text)) for k in keys) > 1
    if isinstance(value, Mapping) and any(k in value for k in keys) and repeated:
        return _scan_duplicate_key_pairs(text, keys), None
    entries = _entries(value)
    if entries is None:
        return None, f"the answer's JSON is a {type(value).__name__} with no list of objects"
    return entries, None


def _token_boxes(text: str) -> list[tuple[str | None, tuple[float, float, float, float]]]:
    """Qwen2-VL boxes: ``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)...``."""
    found: list[tuple[str | None, tuple[float, float, float, float]]] = []
    label: str | None = None
    pos = 0
    for m in _BOX_TOKENS.finditer(text):
        between = text[pos : m.start()]
        refs = list(_REF.finditer(between))
        if refs:
            label = refs[-1].group(1).strip() or None
        elif between.strip():
            label = None
        x1, y1, x2, y2 = (float(g) for g in m.groups())
        found.append((label, (x1, y1, x2, y2)))
        pos = m.end()
    return found


def parse_boxes(
    text: str,
    spec: FamilySpec,
    image_size: tuple[int, int],
    input_size: tuple[int, int] | None = None,
) -> tuple[tuple[Detection, ...], str | None]:
    """Parse boxes from a model answer and convert them to original-image pixels.

    Args:
        text: The answer (thinking removed).
        spec: The model family (coordinate convention, resize factor).
        image_size: ``(width, height)`` of the original image.
        input_size: ``(width, height)`` the model saw; ``None`` = the family's default smart resize.

    Returns:
        ``(detections, error)``: ``error`` is ``None`` on success (an empty tuple then means the model
        found nothing) and a reason when the answer held no usable boxes.
    """
    try:
        input_size = seen_size(spec, image_size, input_size)
    except ValueError as exc:
        return (), f"cannot tell what size the model saw: {exc}"
    if "<|box_start|>" in text:
        detections = []
        for label, raw in _token_boxes(text):
            xyxy = box_to_pixels(raw, spec.coordinates, image_size, input_size)
            if xyxy is not None:
                detections.append(Detection(label, xyxy, raw))
        if detections:
            return tuple(detections), None
        return (), "the answer's <|box_start|> tokens hold no valid box"
    entries, error = _json_entries(text, BOX_KEYS)
    if entries is None:
        return (), error
    found = []
    for nums, label, attrs in _located(entries, BOX_KEYS, 4):
        box = (nums[0], nums[1], nums[2], nums[3])
        xyxy = box_to_pixels(box, spec.coordinates, image_size, input_size)
        if xyxy is not None:
            found.append(Detection(label, xyxy, box, attrs))
    if entries and not found:
        return (), f"none of the {len(entries)} objects in the answer has a valid box"
    return tuple(found), None


def parse_points(
    text: str,
    spec: FamilySpec,
    image_size: tuple[int, int],
    input_size: tuple[int, int] | None = None,
) -> tuple[tuple[Point, ...], str | None]:
    """Parse points (``point_2d``) and convert them to original-image pixels; see :func:`parse_boxes`."""
    try:
        input_size = seen_size(spec, image_size, input_size)
    except ValueError as exc:
        return (), f"cannot tell what size the model saw: {exc}"
    entries, error = _json_entries(text, POINT_KEYS)
    if entries is None:
        return (), error
    found = []
    for nums, label, attrs in _located(entries, POINT_KEYS, 2):
        point = (nums[0], nums[1])
        xy = point_to_pixels(point, spec.coordinates, image_size, input_size)
        if xy is not None:
            found.append(Point(label, xy, point, attrs))
    if entries and not found:
        return (), f"none of the {len(entries)} objects in the answer has a valid point"
    return tuple(found), None


def _located(
    entries: list[Any], keys: tuple[str, ...], count: int
) -> list[tuple[tuple[float, ...], str | None, dict[str, Any]]]:
    """``(coordinates, label, other attributes)`` of every entry with ``count`` readable coordinates."""
    out = []
    for entry in entries:
        if isinstance(entry, Mapping):
            key = next((k for k in keys if k in entry), None)
            if key is None:
                continue
            nums = _numbers(entry[key], count)
            label, label_key = _label(entry, LABEL_KEYS)
            attrs = {k: v for k, v in entry.items() if k not in (key, label_key) and v is not None}
        else:
            nums, label, attrs = _numbers(entry, count), None, {}
        if nums is not None:
            out.append((nums, label, attrs))
    return out


class _BBoxHTML(HTMLParser):
    """Collects elements that carry ``data-bbox`` with the text inside them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict[str, Any]] = []
        self._open: list[tuple[str, int | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        index: int | None = None
        box = values.get("data-bbox")
        if box is not None:
            element: dict[str, Any] = {"tag": tag, "box": box, "text": []}
            if values.get("class"):
                element["class"] = values["class"]
            self.elements.append(element)
            index = len(self.elements) - 1
        if tag not in ("img", "br", "hr", "meta", "input", "link"):
            self._open.append((tag, index))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        for _tag, index in self._open:
            if index is not None:
                self.elements[index]["text"].append(data)


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
        parser = _BBoxHTML()
        parser.feed(text)
        for el in parser.elements:
            raw = _numbers(el["box"], 4)
            if raw is None:
                continue
            box = (raw[0], raw[1], raw[2], raw[3])
            xyxy = box_to_pixels(box, spec.coordinates, image_size, input_size)
            if xyxy is None:
                continue
            attrs = {"class": el["class"]} if "class" in el else {}
            body = " ".join("".join(el["text"]).split())
            regions.append(TextRegion(body, xyxy, el["tag"], box, attrs))
        return tuple(regions)
    if not any(f'"{k}"' in text or f"'{k}'" in text for k in BOX_KEYS):
        return ()
    entries, _ = _json_entries(text, BOX_KEYS)
    for entry in entries or []:
        if not isinstance(entry, Mapping):
            continue
        box_key = next((k for k in BOX_KEYS if k in entry), None)
        content, text_key = _label(entry, TEXT_KEYS)
        raw = _numbers(entry[box_key], 4) if box_key else None
        if raw is None or content is None:
            continue
        box = (raw[0], raw[1], raw[2], raw[3])
        xyxy = box_to_pixels(box, spec.coordinates, image_size, input_size)
        if xyxy is not None:
            attrs = {k: v for k, v in entry.items() if k not in (box_key, text_key)}
            regions.append(TextRegion(content, xyxy, None, box, attrs))
    return tuple(regions)
