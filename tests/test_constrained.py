"""Constrained decoding: every structured answer parses, on tiny random-weight checkpoints of each family.

Random weights are the worst case a grammar can meet: left free, the tiny models almost never write
parseable JSON (the benchmark prints those rates); constrained, every answer must parse and validate.
"""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("xgrammar")

from pydantic import BaseModel

from qwen_vlm import ConfigurationError, QwenVLM
from qwen_vlm.constraints import (
    MAX_NUMBER,
    Constraint,
    bounded_schema,
    closing_reserve,
)
from qwen_vlm.tiny import scripted

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FAMILIES = ("qwen2_5_vl", "qwen3_vl", "qwen3_5")
CLASSES = ["cat", "dog", "traffic light"]
N = 50


class Colour(str, Enum):
    red = "red"
    green = "green"


class Address(BaseModel):
    street: str
    number: int


class Label(BaseModel):
    title: str
    price: float
    colour: Colour
    address: Address
    tags: list[str]
    note: str | None = None


def images(count: int) -> list[Image.Image]:
    sizes = [(320, 200), (200, 320), (257, 129), (640, 300), (96, 96)]
    return [
        Image.new("RGB", sizes[k % len(sizes)], ((k * 37) % 256, (k * 91) % 256, (k * 13) % 256))
        for k in range(count)
    ]


@pytest.fixture(scope="module")
def clients(checkpoints: dict[str, Path]) -> dict[str, QwenVLM]:
    return {f: QwenVLM(str(checkpoints[f]), device="cpu", batch_size=10) for f in FAMILIES}


# ----------------------------------------------------------------------------- schemas (pure)
def test_detection_schema_bounds_coordinates_by_family() -> None:
    relative = Constraint("detect", classes=("cat",)).json_schema()
    box = relative["items"]["properties"]["bbox_2d"]["prefixItems"]
    assert [(b["minimum"], b["maximum"]) for b in box] == [(0, 999), (0, 999), (1, 1000), (1, 1000)]
    assert relative["items"]["properties"]["label"] == {"enum": ["cat"]}
    assert relative["maxItems"] == 100
    absolute = Constraint("detect", coordinates="absolute", max_objects=3).json_schema((644, 308))
    box = absolute["items"]["properties"]["bbox_2d"]["prefixItems"]
    assert [b["maximum"] for b in box] == [643, 307, 644, 308] and absolute["maxItems"] == 3
    free = Constraint("point").json_schema()["items"]["properties"]["label"]
    assert free["type"] == "string" and free["maxLength"] == 64


def test_extraction_schema_is_bounded_where_the_user_set_no_bound() -> None:
    schema = Label.model_json_schema()
    schema["properties"]["title"]["maxLength"] = 12  # the user's own bound wins
    bounded = bounded_schema(schema)
    assert "maxLength" not in Label.model_json_schema()["properties"]["title"]  # input untouched
    assert bounded["properties"]["title"]["maxLength"] == 12
    assert bounded["properties"]["price"]["maximum"] == MAX_NUMBER
    assert "maxLength" not in bounded["$defs"]["Address"]["properties"]["street"]  # closed on budget instead
    assert bounded["$defs"]["Address"]["properties"]["number"]["minimum"] == -MAX_NUMBER
    assert bounded["properties"]["tags"]["maxItems"] == 256
    assert "maxLength" not in bounded["$defs"]["Colour"]  # an enum needs no bound
    assert closing_reserve(bounded) > closing_reserve(Constraint("classify", classes=("a",)).json_schema())


# ----------------------------------------------------------------------------- 50 answers per task
def check_boxes(result: Any, image: Image.Image) -> None:
    width, height = image.size
    for det in result.detections:
        x1, y1, x2, y2 = det.xyxy
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, det
        assert det.label in CLASSES
    assert result.dropped == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_fifty_constrained_answers_per_task_all_parse(family: str, clients: dict[str, QwenVLM]) -> None:
    vlm = clients[family]
    batch = images(N)
    budget = {"max_tokens": 80}
    runs = {
        "detect": vlm.detect(batch, CLASSES, **budget),
        "point": vlm.point(batch, CLASSES, **budget),
        "classify": vlm.classify(batch, CLASSES, **budget),
        "classify_multi": vlm.classify_multi(batch, CLASSES, **budget),
        "extract": vlm.extract(batch, Label, max_tokens=160),  # the shortest Label is ~70 tokens here
    }
    for task, results in runs.items():
        assert len(results) == N
        failed = [(k, r.error, r.text[:80]) for k, r in enumerate(results) if not r.ok]
        assert not failed, f"{family} {task}: {failed[:3]}"
    for image, result in zip(batch, runs["detect"], strict=True):
        check_boxes(result, image)
    for image, result in zip(batch, runs["point"], strict=True):
        assert all(0 <= p.xy[0] <= image.width and 0 <= p.xy[1] <= image.height for p in result.points)
        assert all(p.label in CLASSES for p in result.points) and result.dropped == 0
    assert all(r.label in CLASSES for r in runs["classify"])
    assert all(set(r.labels) <= set(CLASSES) for r in runs["classify_multi"])
    assert all(isinstance(r.data, Label) for r in runs["extract"])
    # Random weights run to the budget: those answers were closed early, complete, and say so.
    assert all(r.finish_reason in ("stop", "length") for rs in runs.values() for r in rs)
    assert any(r.truncated for r in runs["extract"])


@pytest.mark.parametrize("family", FAMILIES)
def test_constrained_batch_equals_single_calls(family: str, clients: dict[str, QwenVLM]) -> None:
    vlm = clients[family]
    batch = images(8)
    together = vlm.detect(batch, CLASSES, max_tokens=60)
    alone = [vlm.detect(image, CLASSES, max_tokens=60) for image in batch]
    assert [r.text for r in together] == [r.text for r in alone]
    extracted = vlm.extract(batch, Label, max_tokens=60)
    assert [r.text for r in extracted] == [vlm.extract(i, Label, max_tokens=60).text for i in batch]


def test_boxes_are_never_degenerate_even_when_the_model_wants_them_so(checkpoints: dict[str, Path]) -> None:
    # Qwen3.5's tiny checkpoint, left free under the grammar, writes x2 < x1 (seen before the rule).
    vlm = QwenVLM(str(checkpoints["qwen3_5"]), device="cpu")
    result = vlm.detect(images(1)[0], CLASSES, max_tokens=300, enable_thinking=False)
    assert result.ok and len(result.detections) > 0 and result.dropped == 0
    check_boxes(result, images(1)[0])


def test_free_text_tasks_are_never_constrained(checkpoints: dict[str, Path]) -> None:
    answer = "not JSON at all"
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", generate_kwargs=scripted(answer))
    assert vlm.caption(images(1)[0]).text == answer
    assert vlm.ask(images(1)[0], "what?").text == answer


def test_constrained_off_per_call_and_per_client(checkpoints: dict[str, Path]) -> None:
    answer = '```json\n{"label": "dog"}\n```'  # a fence: only a free answer can hold it
    image = images(1)[0]
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", generate_kwargs=scripted(answer))
    assert vlm.classify(image, CLASSES, constrained=False).text == answer
    assert vlm.classify(image, CLASSES).text != answer  # the grammar refused the fence
    off = QwenVLM(
        str(checkpoints["qwen3_vl"]), device="cpu", generate_kwargs=scripted(answer), constrained=False
    )
    assert off.classify(image, CLASSES).label == "dog"


def test_thinking_runs_free_then_the_answer_is_constrained(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl_thinking"]), device="cpu")
    image = images(1)[0]
    result = vlm.classify(image, CLASSES, max_tokens=200)
    assert result.ok and result.label in CLASSES
    assert result.thinking  # it thought freely first
    assert result.truncated  # ... until the budget forced </think>, leaving room for the answer
    assert result.usage is not None and result.usage.completion_tokens <= 200


def test_an_answer_closed_early_is_complete_and_flagged(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu")
    result = vlm.extract(images(1)[0], Label, max_tokens=120)
    assert result.ok and isinstance(result.data, Label)
    assert result.truncated and result.usage is not None and result.usage.completion_tokens <= 120


def test_max_objects_bounds_a_constrained_detection(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_5"]), device="cpu")
    result = vlm.detect(images(1)[0], CLASSES, max_objects=2, max_tokens=400, enable_thinking=False)
    assert result.ok and len(result.detections) <= 2
    with pytest.raises(Exception, match="max_objects applies to detect and point"):
        vlm.classify(images(1)[0], CLASSES, max_objects=2)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        (
            {"type": "object", "properties": {"n": {"type": "integer", "minimum": 10, "maximum": 1}}},
            "minimum",
        ),
        ({"type": "object", "properties": {"x": {"$ref": "#/$defs/Missing"}}, "required": ["x"]}, "Missing"),
        ({"type": "object", "properties": {"c": {"type": "string", "pattern": "(unclosed"}}}, "parenthesis"),
    ],
)
def test_a_schema_no_grammar_can_follow_is_a_configuration_error(
    schema: dict[str, Any], reason: str, clients: dict[str, QwenVLM]
) -> None:
    vlm = clients["qwen3_vl"]
    for images_in in (images(1)[0], images(3)):  # one image or a batch: the call fails as a whole
        with pytest.raises(ConfigurationError, match=reason) as caught:
            vlm.extract(images_in, schema)
        assert "constrained=False" in str(caught.value)
    assert vlm.extract(images(1)[0], schema, constrained=False, max_tokens=8).text  # free: it runs


def test_added_number_bounds_never_contradict_the_schema() -> None:
    schema = {"type": "object", "properties": {"big": {"type": "number", "minimum": 1e300}}}
    bounded = bounded_schema(schema)["properties"]["big"]
    assert bounded["minimum"] == 1e300 and bounded["maximum"] >= 1e300
    negative = bounded_schema({"type": "integer", "maximum": -(10**20)})
    assert negative["minimum"] <= -(10**20)
