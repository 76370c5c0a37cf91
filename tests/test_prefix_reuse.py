"""One image, many tasks: reusing an image's prompt prefix gives exactly the uncached greedy outputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("transformers")

from qwen_vlm import QwenVLM
from qwen_vlm.backends.local.prefix_cache import PrefixCache, PrefixEntry, image_key

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_5", "qwen3_vl_thinking")
A = Image.effect_noise((320, 200), 60).convert("RGB")
B = Image.effect_noise((200, 320), 30).convert("RGB")


def run_tasks(vlm: QwenVLM, image: Image.Image) -> list[str]:
    small: dict[str, Any] = {"max_tokens": 24}
    return [
        vlm.caption(image, **small).text,
        vlm.detect(image, ["cat", "dog"], **small).text,
        vlm.ocr(image, **small).text,
        vlm.classify(image, ["cat", "dog"], **small).text,
    ]


@pytest.mark.parametrize("family", FAMILIES)
def test_reuse_gives_the_uncached_greedy_text(family: str, checkpoints: dict[str, Path]) -> None:
    plain = QwenVLM(str(checkpoints[family]), device="cpu", prefix_cache_mb=0)
    reusing = QwenVLM(str(checkpoints[family]), device="cpu")
    # One image through four tasks, then two images interleaved (A, B, A, B).
    for image in (A, B, A, B):
        assert run_tasks(reusing, image) == run_tasks(plain, image)
    info = reusing.backend.prefix_cache.info()  # type: ignore[attr-defined]
    assert info["misses"] == 2 and info["hits"] == 14 and info["entries"] == 2
    assert plain.backend.prefix_cache.info()["hits"] == 0  # type: ignore[attr-defined]


def test_reuse_with_streaming_and_an_edited_image(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu")
    plain = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", prefix_cache_mb=0)
    first = vlm.caption(A, max_tokens=16).text
    with vlm.stream("caption", A, max_tokens=16) as stream:
        streamed = "".join(e.delta for e in stream if e.kind == "text")
    assert streamed == first == plain.caption(A, max_tokens=16).text
    edited = A.copy()
    edited.putpixel((0, 0), (255, 255, 255))  # one pixel: another key, so no stale prefix
    assert vlm.caption(edited, max_tokens=16).text == plain.caption(edited, max_tokens=16).text
    assert vlm.backend.prefix_cache.info()["entries"] == 2  # type: ignore[attr-defined]


def test_batches_are_not_slowed_by_the_cache(checkpoints: dict[str, Path]) -> None:
    vlm = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu")
    plain = QwenVLM(str(checkpoints["qwen3_vl"]), device="cpu", prefix_cache_mb=0)
    together = [r.text for r in vlm.caption([A, B], max_tokens=12)]
    assert together == [r.text for r in plain.caption([A, B], max_tokens=12)]
    assert vlm.backend.prefix_cache.info()["entries"] == 0  # type: ignore[attr-defined]


def fake_entry(nbytes: int) -> PrefixEntry:
    return PrefixEntry(input_ids=None, image_grid_thw=None, rope_delta=None, cache=None, nbytes=nbytes)


def test_the_cache_is_bounded_in_bytes_and_evicts_the_oldest() -> None:
    cache = PrefixCache(max_bytes=100)
    cache.put("a", fake_entry(40))
    cache.put("b", fake_entry(40))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", fake_entry(40))  # over 100: b, the least recently used, goes
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    cache.put("huge", fake_entry(101))  # larger than the bound alone: not kept, nothing evicted
    assert cache.info() == {"entries": 2, "bytes": 80, "max_bytes": 100, "hits": 3, "misses": 1}
    assert PrefixCache(0).info()["max_bytes"] == 0


def test_image_keys_follow_pixels_size_mode_and_context() -> None:
    red = Image.new("RGB", (4, 4), "red")
    assert image_key(red, "x") == image_key(red.copy(), "x")
    assert image_key(red, "x") != image_key(red, "y")
    assert image_key(red, "x") != image_key(Image.new("RGB", (4, 4), "blue"), "x")
    assert image_key(red, "x") != image_key(red.convert("RGBA"), "x")
    assert image_key(Image.new("RGB", (2, 8), "red"), "x") != image_key(red, "x")  # same bytes count
