"""Every real captured Qwen output in tests/data/qwen_outputs.jsonl parses to its expected result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qwen_vlm import Classification, Detections, Extraction, TextResult, parse
from qwen_vlm.geometry import smart_resize
from qwen_vlm.models import FAMILIES
from qwen_vlm.parsing import find_fences
from qwen_vlm.thinking import strip_special_tokens

VECTORS = [json.loads(line) for line in (Path(__file__).parent / "data" / "qwen_outputs.jsonl").open()]
MODEL = {
    "qwen2-vl": "Qwen/Qwen2-VL-7B-Instruct",
    "qwen2.5-vl": "Qwen/Qwen2.5-VL-7B-Instruct",
    "qwen3-vl": "Qwen/Qwen3-VL-8B-Instruct",
    "qwen3.5": "Qwen/Qwen3.5-9B",
}
FAMILY = {"qwen2-vl": "qwen2_vl", "qwen2.5-vl": "qwen2_5_vl", "qwen3-vl": "qwen3_vl", "qwen3.5": "qwen3_5"}
# Where a source gives no image size, use one whose default Qwen2.5-VL resize is the identity.
DEFAULT_SIZE = (2016, 2016)
# Literal "nothing found" answers: an empty success. Everything else that yields nothing is an error.
EMPTY_SUCCESS = {"sv-test-qwen25-fenced-empty-list", "inf-test-qwen-unexpected-object-shape"}


def by_task(task: str) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in VECTORS if v["task"] == task]


def test_all_vectors_are_covered() -> None:
    tasks = {v["task"] for v in VECTORS}
    known = {"detection", "pointing", "ocr", "classification", "structured json", "caption", "thinking"}
    assert tasks <= known, "a new task kind in the vectors needs a test"
    assert len(VECTORS) == 45


def expected_pixels(vec: dict[str, Any], box: list[float]) -> tuple[float, ...] | None:
    w, h = vec["image_wh"] or DEFAULT_SIZE
    spec = FAMILIES[FAMILY[vec["family"]]]  # type: ignore[index]
    if spec.coordinates == "absolute":
        if vec["resized_wh"]:
            iw, ih = vec["resized_wh"]
        else:
            iw, ih = smart_resize(
                w, h, factor=spec.factor, min_pixels=spec.min_pixels, max_pixels=spec.max_pixels
            )
        sx, sy = w / iw, h / ih
    else:
        sx, sy = w / 1000, h / 1000
    x1, y1, x2, y2 = box
    out = (
        min(max(x1 * sx, 0), w),
        min(max(y1 * sy, 0), h),
        min(max(x2 * sx, 0), w),
        min(max(y2 * sy, 0), h),
    )
    return out if out[2] > out[0] and out[3] > out[1] else None


@pytest.mark.parametrize("vec", by_task("detection"))
def test_detection_vectors(vec: dict[str, Any]) -> None:
    size = tuple(vec["image_wh"] or DEFAULT_SIZE)
    input_size = tuple(vec["resized_wh"]) if vec["resized_wh"] else None
    result = parse("object-detection", vec["raw"], MODEL[vec["family"]], size, input_size)
    assert isinstance(result, Detections)
    assert result.text == strip_special_tokens(vec["raw"]).strip()
    expected = [e for e in vec["expected"] if expected_pixels(vec, e["box"]) is not None]
    assert [d.label for d in result] == [e["label"] for e in expected]
    assert [list(d.raw_box or ()) for d in result] == [e["box"] for e in expected]
    for det, exp in zip(result, expected, strict=True):
        assert det.xyxy == pytest.approx(expected_pixels(vec, exp["box"]))
        assert dict(det.attrs) == exp.get("attrs", {})
    if not expected:
        if vec["id"] in EMPTY_SUCCESS:
            assert result.error is None
        else:
            assert result.error, "garbage must not look like an empty success"
    else:
        assert result.error is None


@pytest.mark.parametrize("vec", by_task("thinking"))
def test_thinking_vectors(vec: dict[str, Any]) -> None:
    # Qwen3.5 with thinking on: the template pre-filled "<think>".
    result = parse("prompt", vec["raw"], MODEL[vec["family"]], thinking_started=True)
    assert result.thinking == vec["expected"]["thinking"]
    assert result.text == vec["expected"]["answer"]


def test_thinking_truncated_without_thinking_is_the_answer() -> None:
    result = parse("prompt", "thinking forever and ever", "Qwen/Qwen3.5-2B", thinking_started=False)
    assert result.thinking is None
    assert result.text == "thinking forever and ever"


@pytest.mark.parametrize("vec", by_task("structured json"))
def test_structured_vectors(vec: dict[str, Any]) -> None:
    result = parse("structured-answering", vec["raw"], MODEL[vec["family"]])
    assert isinstance(result, Extraction)
    assert result.error is None
    assert result.data == vec["expected"]


@pytest.mark.parametrize("vec", by_task("caption"))
def test_caption_vectors(vec: dict[str, Any]) -> None:
    result = parse("caption", vec["raw"], MODEL[vec["family"]])
    assert isinstance(result, TextResult)
    assert result.text == vec["expected"]["text"].strip()
    assert result.error is None
    # A negative case for structured output: prose holds no JSON, which is an error, not empty data.
    structured = parse("structured-answering", vec["raw"], MODEL[vec["family"]])
    assert structured.data is None and structured.error


@pytest.mark.parametrize("vec", by_task("ocr"))
def test_ocr_vectors(vec: dict[str, Any]) -> None:
    size = tuple(vec["image_wh"]) if vec["image_wh"] else None
    input_size = tuple(vec["resized_wh"]) if vec["resized_wh"] else None
    result = parse("ocr", vec["raw"], MODEL[vec["family"]], size, input_size)
    assert isinstance(result, TextResult)
    assert result.error is None
    assert result.text == vec["raw"].strip()
    expected = vec["expected"]
    if isinstance(expected, list):  # QwenVL HTML: every element with data-bbox, in document order
        assert [r.tag for r in result.regions] == [e["tag"] for e in expected]
        assert [list(r.raw_box or ()) for r in result.regions] == [e["box"] for e in expected]
        assert [r.text for r in result.regions] == [e["text"] for e in expected]
        assert [r.attrs.get("class") for r in result.regions] == [e.get("class") for e in expected]
        for region, exp in zip(result.regions, expected, strict=True):
            assert region.xyxy == pytest.approx(expected_pixels(vec, exp["box"]))
    elif "truncated" in expected:  # truncated HTML: the fence is reported open, the text kept whole
        fences = find_fences(vec["raw"])
        assert fences[0].lang == expected["fence"]
        assert fences[0].closed is expected["fence_closed"]
        assert vec["raw"][: fences[0].start].strip() == expected["lead_in"]
        assert result.regions == ()
    else:
        assert result.text == expected["text"].strip()
        assert result.regions == ()


CLASSES = {
    "q3-cookbook-spatial-mcq-window": ["chair", "plant", "window", "tv stand"],
    "q3-cookbook-spatial-mcq-prose-coffee-pod": ["A", "B", "C", "D"],
    "q25-cookbook-bird-recognition": ["Blue Jay", "Red-winged Blackbird", "American Crow", "Cardinal"],
}


@pytest.mark.parametrize("vec", by_task("classification"))
def test_classification_vectors(vec: dict[str, Any]) -> None:
    classes = CLASSES[vec["id"]]
    result = parse("classification", vec["raw"], MODEL[vec["family"]], classes=classes)
    assert isinstance(result, Classification)
    expected = vec["expected"]
    want = expected.get("text") or expected.get("choice") if "choice" in expected else expected["label"]
    if vec["id"] == "q3-cookbook-spatial-mcq-window":
        want = expected["text"]
    assert result.label == want
    assert result.error is None
