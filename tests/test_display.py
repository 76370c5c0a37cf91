"""Results that draw themselves, keep only references to their inputs, and convert to other libraries."""

from __future__ import annotations

import io
import json
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydantic import BaseModel

from qwen_vlm import (
    Classification,
    ConfigurationError,
    Detections,
    Extraction,
    GenerationResponse,
    Points,
    QwenVLM,
    TextResult,
    parse,
    to_dataframe,
)
from qwen_vlm.draw import color_for
from qwen_vlm.testing import FakeBackend

Q3 = "Qwen/Qwen3-VL-8B-Instruct"


def png_pixels(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def near(a: tuple[int, ...], b: tuple[int, ...], tol: int = 8) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_detections_render_their_boxes_where_the_coordinates_say() -> None:
    image = Image.new("RGB", (400, 250), (255, 255, 255))  # non-square
    answer = '[{"bbox_2d": [250, 200, 750, 800], "label": "cat"}]'  # (100, 50, 300, 200) in pixels
    dets = QwenVLM(backend=FakeBackend(answer)).detect(image, ["cat"])
    assert dets.xyxy == [(100.0, 50.0, 300.0, 200.0)]
    picture = png_pixels(dets._repr_png_() or b"")
    assert picture.size == (400, 250)
    cat = color_for("cat")
    # Edges: right edge at x=300 and bottom edge at y=200 (midpoints, away from the label).
    assert near(picture.getpixel((299, 125)), cat)
    assert near(picture.getpixel((200, 199)), cat)
    assert near(picture.getpixel((101, 190)), cat)  # left edge near the bottom
    # Inside the box (away from the label) and outside it: untouched.
    assert near(picture.getpixel((200, 150)), (255, 255, 255))
    assert near(picture.getpixel((350, 230)), (255, 255, 255))
    assert near(picture.getpixel((50, 125)), (255, 255, 255))
    assert image.getpixel((299, 125)) == (255, 255, 255)  # the caller's image is not drawn on


def test_points_render_where_the_coordinates_say() -> None:
    image = Image.new("RGB", (500, 200), (255, 255, 255))
    points = QwenVLM(backend=FakeBackend('[{"point_2d": [600, 250], "label": "dot"}]')).point(image, ["dot"])
    assert points.xy == [(300.0, 50.0)] and points.labels == ["dot"]
    picture = png_pixels(points._repr_png_() or b"")
    assert near(picture.getpixel((300, 50)), color_for("dot"))
    assert near(picture.getpixel((300, 150)), (255, 255, 255))


def test_draw_needs_no_argument_and_scales_labels() -> None:
    big = Image.new("RGB", (1600, 900), (255, 255, 255))
    dets = QwenVLM(backend=FakeBackend('[{"bbox_2d": [100, 100, 500, 500], "label": "car"}]')).detect(big)
    drawn = dets.draw()
    assert drawn.size == big.size and drawn is not big
    # The box is (160, 90, 800, 450); its label sits inside the top-left corner, below the 5 px outline.
    # On a 1600 px image the label is at least ~25 px tall (it was ~8 px before).
    rows = [
        y
        for y in range(96, 200)
        if any(near(drawn.getpixel((x, y)), color_for("car")) for x in range(170, 230))
    ]
    assert len(rows) >= 25 and max(rows) < 160


def test_colours_are_stable_per_class_and_many_classes_get_a_legend() -> None:
    assert color_for("cat") == color_for("cat") == color_for("Cat")
    labels = [f"class{k}" for k in range(9)]
    answer = json.dumps(
        [{"bbox_2d": [500 + k * 40, 500, 520 + k * 40, 540], "label": lab} for k, lab in enumerate(labels)]
    )
    dets = QwenVLM(backend=FakeBackend(answer)).detect(Image.new("RGB", (800, 600), (255, 255, 255)))
    picture = dets.draw()
    # The legend's first swatch sits in the top-left corner in the first class's colour.
    assert any(
        near(picture.getpixel((x, y)), color_for("class0")) for x in range(4, 20) for y in range(4, 20)
    )


def test_a_parsed_result_without_its_image_says_how_to_draw() -> None:
    dets = parse("detect", '[{"bbox_2d": [1, 2, 3, 4], "label": "a"}]', Q3, (100, 100))
    assert dets._repr_png_() is None
    with pytest.raises(ConfigurationError, match=r"result.draw\(image\)"):
        dets.draw()
    assert dets.draw(Image.new("RGB", (100, 100))).size == (100, 100)


def _reachable_payloads(root: Any) -> list[Any]:
    """Every image, array or bytes object reachable through a result's data."""
    found: list[Any] = []
    stack = [root]
    seen: set[int] = set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (Image.Image, np.ndarray, bytes, bytearray, memoryview)):
            found.append(obj)
        elif is_dataclass(obj) and not isinstance(obj, type):
            stack.extend(getattr(obj, f.name) for f in fields(obj))
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set)):
            stack.extend(obj)
    return found


def test_1000_results_hold_references_to_the_callers_images_never_copies() -> None:
    rgba = Image.new("RGBA", (16, 12), (1, 2, 3, 255))  # converted for the model, but kept as given
    images: list[Any] = []
    for k in range(1000):
        kind = k % 4
        if kind == 0:
            images.append(Image.new("RGB", (16, 12), (k % 256, 0, 0)))
        elif kind == 1:
            images.append(np.full((12, 16, 3), k % 256, dtype=np.uint8))
        elif kind == 2:
            buffer = io.BytesIO()
            Image.new("RGB", (16, 12)).save(buffer, format="PNG")
            images.append(buffer.getvalue())
        else:
            images.append(rgba)
    results = QwenVLM(backend=FakeBackend("[]")).detect(images, progress=False)
    assert len(results) == 1000 and all(r.ok for r in results)
    own = {id(image) for image in images}
    payloads = [p for r in results for p in _reachable_payloads(r)]
    assert len(payloads) == 1000  # exactly one per result: its source
    assert all(id(p) in own for p in payloads)
    assert all(r.source is image for r, image in zip(results, images, strict=True))


def test_paths_and_urls_are_kept_as_strings(tmp_path: Any) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (20, 10)).save(path)
    result = QwenVLM(backend=FakeBackend("ok")).caption(str(path))
    assert result.source == str(path) and result.to_dict()["source"] == str(path)


def test_text_classification_and_extraction_show_themselves() -> None:
    fake = FakeBackend([
        GenerationResponse(text="A <b>cat</b>.", thinking="hmm, fur", finish_reason="stop"),
        "cat",
        '{"total": "5"}',
    ])  # fmt: skip
    vlm = QwenVLM(backend=fake)
    text = vlm.caption(Image.new("RGB", (8, 8)))
    html = text._repr_html_()
    assert "A &lt;b&gt;cat&lt;/b&gt;." in html and "<details><summary>thinking" in html and "hmm, fur" in html
    assert repr(text) == "TextResult('A <b>cat</b>.')"  # plain repr stays short
    label = vlm.classify(Image.new("RGB", (8, 8)), ["cat", "dog"])
    assert "<b>cat</b>" in label._repr_html_() and "dog" in label._repr_html_()
    data = vlm.extract(Image.new("RGB", (8, 8)), {"total": "amount"})
    assert '"total": "5"' in data._repr_html_()


def test_interop_supervision_numpy_json_and_dataframes() -> None:
    answer = (
        '[{"bbox_2d": [0, 0, 500, 500], "label": "cat"}, {"bbox_2d": [500, 500, 1000, 1000], "label": "dog"}]'
    )
    dets = QwenVLM(backend=FakeBackend(answer)).detect(Image.new("RGB", (640, 480)), ["dog", "cat"])
    array = dets.xyxy_array()
    assert array.shape == (2, 4) and array.dtype == np.float32 and array[1].tolist() == [320, 240, 640, 480]
    sv = dets.to_supervision()
    assert sv.xyxy.shape == (2, 4) and sv.class_id.tolist() == [1, 0]  # indices into classes=["dog", "cat"]
    assert list(sv.data["class_name"]) == ["cat", "dog"]
    assert json.loads(dets.to_json())["detections"][0]["label"] == "cat"
    frame = to_dataframe([dets, dets], per="object")
    assert list(frame["label"]) == ["cat", "dog", "cat", "dog"] and list(frame["image"]) == [0, 0, 1, 1]
    per_image = to_dataframe([dets])
    assert per_image.loc[0, "objects"] == 2 and bool(per_image.loc[0, "ok"])
    with pytest.raises(ConfigurationError, match="per must be"):
        to_dataframe([dets], per="box")  # type: ignore[arg-type]


class Receipt(BaseModel):
    total: float


def test_extract_takes_output_structure_and_json_schemas() -> None:
    fake = FakeBackend('{"total": 5, "company": "ACME"}')
    vlm = QwenVLM(backend=fake)
    by_block_name = vlm.extract(Image.new("RGB", (8, 8)), output_structure={"total": "amount"})
    assert by_block_name.data == {"total": 5, "company": "ACME"}
    schema = Receipt.model_json_schema()  # a JSON schema dict, not a field list
    result = vlm.extract(Image.new("RGB", (8, 8)), schema)
    assert isinstance(result, Extraction) and result.data == {"total": 5, "company": "ACME"}
    assert "follows this JSON schema" in fake.requests[-1].prompt and "$defs" not in (result.data or {})
    assert fake.requests[-1].json_schema == schema
    with pytest.raises(ConfigurationError, match="not both"):
        vlm.extract(Image.new("RGB", (8, 8)), {"a": "b"}, output_structure={"a": "b"})
    missing = QwenVLM(backend=FakeBackend('{"company": "ACME"}')).extract(Image.new("RGB", (8, 8)), schema)
    assert missing.data is None and "required field" in (missing.error or "")
    assert isinstance(missing, Extraction) and not isinstance(
        missing, (TextResult, Classification, Points, Detections)
    )
