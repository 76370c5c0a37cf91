"""Several images in one question (Images groups): local inputs equal the recipe's, answers map back."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

import pytest
from chat_server import ChatServer, Reply, chat_server, completion
from PIL import Image

from qwen_vlm import ConfigurationError, ImageError, Images, QwenVLM
from qwen_vlm.geometry import smart_resize

os.environ.setdefault("HF_HUB_OFFLINE", "1")
A = Image.new("RGB", (320, 200), (200, 30, 40))
B = Image.new("RGB", (160, 240), (20, 160, 40))
FAMILIES = ("qwen2_5_vl", "qwen3_vl", "qwen3_5")


def test_images_wraps_an_ordered_group() -> None:
    group = Images(A, B)
    assert len(group) == 2 and list(group) == [A, B] and group[1] is B
    assert len(Images([A, B])) == 2
    with pytest.raises(ConfigurationError, match="at least one image"):
        Images()
    with pytest.raises(ConfigurationError, match="groups hold images"):
        Images(A, Images(B))


# ----------------------------------------------------------------------------- local backend
def local(path: Path, **options: Any) -> QwenVLM:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    return QwenVLM(str(path), device="cpu", prefix_cache_mb=0, **options)


@pytest.mark.parametrize("family", FAMILIES)
def test_local_inputs_equal_the_model_card_recipe(
    family: str, checkpoints: dict[str, Path], generate_inputs: Any
) -> None:
    import torch

    vlm = local(checkpoints[family])
    backend: Any = vlm.backend
    seen = generate_inputs(vlm)
    result = vlm.ask(Images(A, B), "Which one is red?", max_tokens=4)
    assert result.ok
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image", "image": A},
                {"type": "image", "image": B},
                {"type": "text", "text": "Which one is red?"},
            ],
        }
    ]
    recipe = backend.processor.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    assert torch.equal(seen["input_ids"], recipe["input_ids"])
    assert torch.equal(seen["pixel_values"], recipe["pixel_values"])
    assert torch.equal(seen["image_grid_thw"], recipe["image_grid_thw"])
    assert seen["image_grid_thw"].shape[0] == 2


@pytest.mark.parametrize("family", FAMILIES)
def test_scripted_boxes_on_image_two_come_back_on_image_two(
    family: str, checkpoints: dict[str, Path]
) -> None:
    from qwen_vlm.tiny import scripted

    if family == "qwen2_5_vl":  # absolute pixels of image 2 as the processor resized it
        width, height = smart_resize(160, 240, factor=28, min_pixels=64 * 64, max_pixels=32 * 32 * 256)
        box = [0, 0, width // 2, height // 2]
    else:  # the 0-1000 grid
        box = [0, 0, 500, 500]
    other = '{"image": 1, "bbox_2d": [0, 0, 1, 1], "label": "cat"}'
    answer = f'[{{"image": 2, "bbox_2d": {box}, "label": "cat"}}, {other}]'
    vlm = local(checkpoints[family], generate_kwargs=scripted(answer))
    result = vlm.detect(Images(A, B), ["cat"], constrained=False)
    assert result.ok and result.image_sizes == ((320, 200), (160, 240))
    on_two = [d for d in result if d.image == 1]
    assert len(on_two) == 1 and on_two[0].xyxy == pytest.approx((0, 0, 80, 120), abs=1.0)
    assert "image" not in on_two[0].attrs
    assert [d.image for d in result].count(0) == 1


def test_constrained_group_detection_names_an_image_of_the_group(checkpoints: dict[str, Path]) -> None:
    vlm = local(checkpoints["qwen3_5"])
    result = vlm.detect(Images(A, B, A), ["cat"], max_tokens=200, enable_thinking=False)
    assert result.ok and result.dropped == 0
    assert all(d.image in (0, 1, 2) for d in result)


def test_ocr_of_a_group_gives_text_per_page(checkpoints: dict[str, Path]) -> None:
    from qwen_vlm.tiny import scripted

    vlm = local(checkpoints["qwen3_vl"], generate_kwargs=scripted("Image 1:\nTOTAL 8.75\nImage 2:\nPAID"))
    result = vlm.ocr(Images(A, B))
    assert result.pages == ("TOTAL 8.75", "PAID")
    single = vlm.ocr(A)
    assert single.pages == ()


def test_a_batch_of_groups_and_an_unreadable_member(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    vlm = local(checkpoints["qwen3_vl"])
    good, bad, plain = vlm.caption([Images(A, B), Images(A, tmp_path / "missing.png"), B], max_tokens=4)
    assert good.ok and plain.ok
    assert not bad.ok and isinstance(bad.exception, ImageError) and bad.exception.index == 1
    assert "image 2 of 2 in the group" in str(bad.exception)
    assert isinstance(good.source, Images)
    with pytest.raises(ImageError, match="image 2 of 2 in the group"):
        vlm.caption(Images(A, tmp_path / "missing.png"))


def test_group_scores_and_reuse_cover_every_image(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu")
    plain = local(checkpoints["qwen3_vl"])
    first = vlm.classify(Images(A, B), ["same", "different"])
    assert first.scores is not None and sum(first.scores.values()) == pytest.approx(1.0)
    assert vlm.caption(Images(A, B), max_tokens=8).text == plain.caption(Images(A, B), max_tokens=8).text
    assert vlm.caption(Images(B, A), max_tokens=8).text == plain.caption(Images(B, A), max_tokens=8).text
    assert vlm.backend.prefix_cache.info()["hits"] >= 1  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- remote backend
def decode(part: dict[str, Any]) -> Image.Image:
    data = part["image_url"]["url"].split(",", 1)[1]
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


@pytest.fixture
def server() -> Any:
    pytest.importorskip("openai")
    with chat_server() as s:
        yield s


def remote(server: ChatServer, **options: Any) -> QwenVLM:
    return QwenVLM(
        "Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=server.url, server="vllm", **options
    )


def test_the_request_carries_the_images_in_order_then_the_text(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(
        body=completion('[{"image": 2, "bbox_2d": [0, 0, 500, 500], "label": "cat"}]')
    )
    result = remote(server).detect(Images(A, B), ["cat"])
    parts = server.requests[0]["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    colours = [decode(p).getpixel((5, 5)) for p in parts[:2]]
    assert colours[0][0] > 150 and colours[1][1] > 120  # red first, then green
    assert "these 2 images" in parts[2]["text"]
    schema = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["items"]["properties"]["image"] == {"type": "integer", "minimum": 1, "maximum": 2}
    (det,) = result
    assert det.image == 1 and det.xyxy == pytest.approx((0, 0, 80, 120))
    # Drawn as a row at one height (A scaled from 200 to 240 px tall), the box on the second picture.
    picture = result.draw()
    assert picture.size == (384 + 8 + 160, 240)
    assert picture.getpixel((392 + 40, 1)) != B.getpixel((40, 1))  # the box's top edge, on image 2
    assert picture.getpixel((40, 1)) == A.getpixel((40, 1))  # nothing drawn on image 1
    assert result._repr_png_() is not None


def test_a_group_over_the_servers_limit_is_refused_before_sending(server: ChatServer) -> None:
    vlm = remote(server, max_images_per_request=2)
    with pytest.raises(ConfigurationError, match="limit-mm-per-prompt"):
        vlm.ask(Images(A, B, A), "same?")
    with pytest.raises(ConfigurationError, match="max_images_per_request=2"):
        vlm.ask([Images(A, B), Images(A, B, A)], "same?")  # a batch is checked whole, up front
    assert server.requests == []
    server.script = lambda n, body: Reply(body=completion("yes"))
    assert vlm.ask(Images(A, B), "same?").text == "yes"
