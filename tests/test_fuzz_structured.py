"""Structured near-miss answers, generated: valid-looking JSON that is wrong in the ways models are wrong.

For every task and family: nothing escapes but documented results and errors; no box or point lies
outside the image; a truncated answer never yields an empty success; ``to_dict()`` is always valid JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_vlm import (
    Classification,
    Detections,
    Extraction,
    MultiLabelClassification,
    Points,
    QwenVLMError,
    TextResult,
    parse,
)

MODELS = [
    "Qwen/Qwen2.5-VL-7B-Instruct",
    "Qwen/Qwen3-VL-8B-Instruct",
    "Qwen/Qwen3.5-2B",
    "Qwen/Qwen2-VL-7B-Instruct",
]
SIZE = (640, 480)
CLASSES = ["cat", "dog", "tv stand"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Numbers as a model might write them: fine, negative, huge, non-finite, strings, booleans, nested.
NUMBER = st.one_of(
    st.integers(-50, 1200).map(str),
    st.floats(-10, 1100, allow_nan=False).map(lambda v: f"{v:.2f}"),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "9" * 400, "-" + "9" * 30, "true", "null"]),
    st.integers(0, 1000).map(lambda v: f'"{v}"'),
    st.integers(0, 1000).map(lambda v: f"[{v}]"),
)
KEY = st.sampled_from(
    ["bbox_2d", "box_2d", "bbox", "point_2d", "label", "class_name", "bbx", "x", "text_content"]
)


@st.composite
def box_value(draw: st.DrawFn) -> str:
    count = draw(st.sampled_from([2, 4, 4, 4, 5, 3]))
    return "[" + ", ".join(draw(NUMBER) for _ in range(count)) + "]"


@st.composite
def entry(draw: st.DrawFn) -> str:
    pairs = []
    for _ in range(draw(st.integers(1, 5))):
        key = draw(KEY)
        value = (
            draw(box_value())
            if key in ("bbox_2d", "box_2d", "bbox", "point_2d", "bbx")
            else json.dumps(draw(st.sampled_from([*CLASSES, "", "x" * 3])))
        )
        pairs.append(f'"{key}": {value}')  # repeated keys happen naturally
    return "{" + ", ".join(pairs) + "}"


@st.composite
def answer(draw: st.DrawFn) -> str:
    items = draw(st.lists(entry(), min_size=0, max_size=5))
    seps = [draw(st.sampled_from([", ", ",\n", " ", "}, ", ", {", ",, "])) for _ in items]
    body = "".join(item + sep for item, sep in zip(items, seps, strict=True))[: -2 or None]
    text = "[" + body + "]"
    wrap = draw(
        st.sampled_from(["{}", "```json\n{}\n```", "Here:\n{}\nDone.", '{{"objects": {}}}', "{}\n{}"])
    )
    return wrap.replace("{}", text, 1).replace("{}", text)


@st.composite
def valid_answer(draw: st.DrawFn) -> str:
    n = draw(st.integers(1, 4))
    objs = []
    for _ in range(n):
        # Inside every family's frame (Qwen2.5-VL sees 644x476 for a 640x480 image; others 0-1000).
        x1, y1 = draw(st.integers(0, 300)), draw(st.integers(0, 300))
        x2, y2 = x1 + draw(st.integers(5, 150)), y1 + draw(st.integers(5, 150))
        objs.append(
            {"bbox_2d": [x1, y1, x2, y2], "point_2d": [x1, y1], "label": draw(st.sampled_from(CLASSES))}
        )
    return json.dumps(objs, indent=draw(st.sampled_from([None, 2])))


def _check_common(result: Any) -> None:
    assert isinstance(
        result, (TextResult, Classification, MultiLabelClassification, Detections, Points, Extraction)
    )
    assert (result.error is None) == (result.exception is None)
    assert result.exception is None or isinstance(result.exception, QwenVLMError)
    json.dumps(result.to_dict(), allow_nan=False)


def _check_inside(result: Any) -> None:
    w, h = SIZE
    if isinstance(result, Detections):
        for d in result:
            x1, y1, x2, y2 = d.xyxy
            assert all(math.isfinite(v) for v in d.xyxy)
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    if isinstance(result, Points):
        for p in result:
            assert 0 <= p.xy[0] <= w and 0 <= p.xy[1] <= h


TASKS: list[tuple[str, dict[str, Any]]] = [
    ("detect", {}),
    ("point", {}),
    ("ocr", {}),
    ("classify", {"classes": CLASSES}),
    ("classify_multi", {"classes": CLASSES}),
    ("extract", {"schema": {"label": "what"}}),
    ("extract", {}),
]


@SETTINGS
@given(text=answer(), model=st.sampled_from(MODELS))
def test_near_miss_answers_give_only_documented_results(text: str, model: str) -> None:
    for task, kwargs in TASKS:
        result = parse(task, text, model, SIZE, **kwargs)
        _check_common(result)
        _check_inside(result)


@SETTINGS
@given(text=valid_answer(), model=st.sampled_from(MODELS[:3]), data=st.data())
def test_truncation_at_any_position_never_yields_an_empty_success(
    text: str, model: str, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(text) - 1))
    prefix = text[:cut]
    for task in ("detect", "point"):
        result = parse(task, prefix, model, SIZE)
        _check_common(result)
        _check_inside(result)
        assert not (result.ok and len(result) == 0), f"{task} on {prefix!r} looks like 'nothing found'"
    extraction = parse("extract", prefix, model, schema={"label": "what"})
    _check_common(extraction)
    assert extraction.data is None and extraction.error


@SETTINGS
@given(text=valid_answer(), model=st.sampled_from(MODELS[:3]))
def test_a_complete_answer_keeps_every_object(text: str, model: str) -> None:
    result = parse("detect", text, model, SIZE)
    assert result.ok and len(result) == len(json.loads(text))


@SETTINGS
@given(text=valid_answer(), data=st.data())
def test_stray_braces_between_objects_lose_at_most_the_broken_object(text: str, data: st.DataObject) -> None:
    objs = json.loads(text)
    stray = data.draw(st.sampled_from(["}", "{", "", "]["]))
    where = data.draw(st.integers(0, len(objs) - 1))
    parts = [json.dumps(o) for o in objs]
    parts[where] = parts[where] + stray
    result = parse("detect", "[" + ", ".join(parts) + "]", "Qwen/Qwen3-VL-8B-Instruct", SIZE)
    assert result.ok and len(result) >= len(objs) - 1
