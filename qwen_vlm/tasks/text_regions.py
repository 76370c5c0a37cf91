"""Located text in OCR answers (QwenVL-HTML ``data-bbox`` elements, text-spotting JSON); pages (pure)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from ..geometry import box_to_pixels
from ..models import FamilySpec
from ..results import TextRegion
from .coordinates import BOX_KEYS, TEXT_KEYS, in_frame, json_entries, label_of, numbers_of, seen_size

__all__ = ["parse_text_regions", "split_pages"]


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
            raw = numbers_of(el["box"], 4)
            if raw is None or not in_frame(raw, spec, input_size):
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
    entries, _error, _truncated, _dropped = json_entries(text, BOX_KEYS)
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        box_key = next((k for k in BOX_KEYS if k in entry), None)
        content, text_key = label_of(entry, TEXT_KEYS)
        raw = numbers_of(entry[box_key], 4) if box_key else None
        if raw is None or content is None or not in_frame(raw, spec, input_size):
            continue
        box = (raw[0], raw[1], raw[2], raw[3])
        xyxy = box_to_pixels(box, spec.coordinates, image_size, input_size)
        if xyxy is not None:
            attrs = {k: v for k, v in entry.items() if k not in (box_key, text_key)}
            regions.append(TextRegion(content, xyxy, None, box, attrs))
    return tuple(regions)


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
