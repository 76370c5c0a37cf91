"""Property tests: arbitrary text never makes a parser escape its documented results and errors."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_vlm import (
    Classification,
    Detections,
    Extraction,
    MultiLabelClassification,
    Points,
    TextResult,
    parse,
)
from qwen_vlm.parsing import NoJSONError, parse_json

MODELS = [
    "Qwen/Qwen2-VL-7B-Instruct",
    "Qwen/Qwen2.5-VL-7B-Instruct",
    "Qwen/Qwen3-VL-8B-Instruct",
    "Qwen/Qwen3.5-2B",
]
CLASSES = ["cat", "dog", "tv stand", "A"]

# Text biased towards the shapes models produce: JSON fragments, fences, special tokens, numbers.
FRAGMENTS = st.sampled_from(
    [
        "```json\n",
        "```",
        "[",
        "]",
        "{",
        "}",
        '"bbox_2d": ',
        '"box_2d": ',
        '"point_2d": ',
        '"label": ',
        '"cat"',
        "'dog'",
        "[1, 2, 3, 4]",
        "[-5, 1e9, 0, 0]",
        ", ",
        ":",
        "<think>",
        "</think>",
        "<|box_start|>",
        "<|box_end|>",
        "(10,20),(30,40)",
        "<|object_ref_start|>x<|object_ref_end|>",
        "<tool_call>",
        "</tool_call>",
        "NaN",
        "Infinity",
        "null",
        "true",
        "\n",
        "Answer: ",
        "C. ",
        '<p data-bbox="1 2 3 4">t</p>',
        "\\",
        '"',
        "'",
    ]
)
MESSY = st.one_of(st.text(max_size=300), st.lists(FRAGMENTS | st.text(max_size=5), max_size=40).map("".join))
SIZES = st.tuples(st.integers(1, 5000), st.integers(1, 5000))


def check_common(result: Any, expected_type: type) -> None:
    assert isinstance(result, expected_type)
    assert result.error is None or isinstance(result.error, str)
    assert isinstance(result.text, str)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=MESSY)
def test_parse_json_only_raises_no_json(text: str) -> None:
    with contextlib.suppress(NoJSONError):
        parse_json(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=MESSY, model=st.sampled_from(MODELS), size=SIZES)
def test_detection_never_escapes(text: str, model: str, size: tuple[int, int]) -> None:
    result = parse("object-detection", text, model, size, classes=CLASSES)
    check_common(result, Detections)
    w, h = size
    for det in result:
        x1, y1, x2, y2 = det.xyxy
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert det.label is None or isinstance(det.label, str)
    if result.error:
        assert len(result) == 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=MESSY, model=st.sampled_from(MODELS), size=SIZES)
def test_points_never_escape(text: str, model: str, size: tuple[int, int]) -> None:
    result = parse("point", text, model, size, classes=CLASSES)
    check_common(result, Points)
    for p in result:
        assert 0 <= p.xy[0] <= size[0] and 0 <= p.xy[1] <= size[1]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=MESSY)
def test_classification_never_escapes(text: str) -> None:
    single = parse("classification", text, classes=CLASSES)
    check_common(single, Classification)
    assert (single.label in CLASSES) != (single.error is not None)
    multi = parse("multi-label-classification", text, classes=CLASSES)
    check_common(multi, MultiLabelClassification)
    assert set(multi.labels) <= set(CLASSES)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=MESSY, size=SIZES)
def test_text_tasks_never_escape(text: str, size: tuple[int, int]) -> None:
    for task in ("unconstrained", "ocr", "visual-question-answering", "caption", "detailed-caption"):
        result = parse(task, text, "Qwen/Qwen2.5-VL-7B-Instruct", image_size=size, thinking_started=True)
        check_common(result, TextResult)
        for region in result.regions:
            assert 0 <= region.xyxy[0] < region.xyxy[2] <= size[0]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=MESSY)
def test_extraction_never_escapes(text: str) -> None:
    for schema in (None, {"total": "the total"}):
        result = parse("structured-answering", text, schema=schema)
        check_common(result, Extraction)
        if result.error:
            assert result.data is None
        if schema is not None and result.error is None:
            assert isinstance(result.data, dict) and "total" in result.data
