"""Local backend: overhead, batching, constrained decoding and prefix reuse.

1. Per-call time of QwenVLM.ask against the bare model-card recipe (apply_chat_template → generate →
   batch_decode) on the same checkpoint, image and prompt, greedy, same number of new tokens, prefix
   reuse off (goal: ratio <= 1.05).
2. Throughput of one batch of 8 images against 8 single calls (goal: the batch is faster).
3. Constrained against free decoding: time per generated token of the same calls (goal <= 1.15x).
4. Parse rates of 50 structured answers per task, constrained and free.
5. caption + detect + ocr on one image with prefix reuse against three plain calls (goal >= 1.5x).

Run on tiny random-weight checkpoints built offline (CPU):
    python benchmarks/bench_local.py [family]          # qwen3_vl by default; qwen2_5_vl, qwen3_5
Run sections 3-5 on a real checkpoint (e.g. on a GPU):
    python benchmarks/bench_local.py --model Qwen/Qwen3-VL-2B-Instruct --device cuda
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from PIL import Image
from pydantic import BaseModel
from transformers import AutoModelForImageTextToText, AutoProcessor

from qwen_vlm import QwenVLM
from qwen_vlm.tiny import build_tiny_checkpoint

NEW_TOKENS = 48
REPEATS = 15


class Receipt(BaseModel):
    shop: str
    total: float
    items: list[str]


def timed(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def noise(size: tuple[int, int], seed: int) -> Image.Image:
    return Image.effect_noise(size, 30 + seed % 50).convert("RGB")


def overhead_and_batching(path: Path, family: str) -> None:
    image = Image.new("RGB", (800, 600), (120, 40, 200))
    prompt = "Describe this image."
    gen = {"min_new_tokens": NEW_TOKENS}
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(path)

    def recipe() -> str:
        messages = [
            {"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}]}
        ]
        inputs = processor.apply_chat_template(
            messages, tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False, **gen)
        new = out[:, inputs["input_ids"].shape[1] :]
        return str(processor.batch_decode(new, skip_special_tokens=True)[0])

    # Reuse off: the recipe re-reads the image every call, so the SDK must too for a fair comparison.
    vlm = QwenVLM(str(path), device="cpu", generate_kwargs=gen, batch_size=8, prefix_cache_mb=0)

    def sdk() -> str:
        return vlm.ask(image, prompt, max_tokens=NEW_TOKENS).text

    result, raw = vlm.ask(image, prompt, max_tokens=NEW_TOKENS), recipe().strip()
    assert raw == result.text or raw == f"{result.thinking}</think>{result.text}", (raw, result)
    for _ in range(3):
        recipe()
        sdk()
    recipe_times, sdk_times = [], []
    for _ in range(REPEATS):  # interleaved, so drifts in machine load hit both equally
        recipe_times.append(timed(recipe, 1))
        sdk_times.append(timed(sdk, 1))
    t_recipe, t_sdk = statistics.median(recipe_times), statistics.median(sdk_times)
    print(f"1. tiny {family}, 800x600 image, {NEW_TOKENS} new tokens, greedy, CPU x{torch.get_num_threads()}")
    print(f"   model card recipe: {t_recipe * 1000:7.1f} ms per call (median of {REPEATS})")
    print(f"   QwenVLM.ask:       {t_sdk * 1000:7.1f} ms per call")
    print(f"   ratio SDK / recipe: {t_sdk / t_recipe:.3f} (goal <= 1.05)")
    images = [Image.new("RGB", (800, 600), (i * 30, 40, 200)) for i in range(8)]
    singles = timed(lambda: [vlm.ask(im, prompt, max_tokens=NEW_TOKENS) for im in images], 3)
    batch = timed(lambda: vlm.ask(images, prompt, max_tokens=NEW_TOKENS, progress=False), 3)
    print(f"2. 8 single calls: {singles:.3f} s ({8 / singles:.1f} images/s)")
    print(f"   one batch of 8: {batch:.3f} s ({8 / batch:.1f} images/s) -> {singles / batch:.2f}x faster")


def constrained_cost(vlm: QwenVLM, tokens: int) -> None:
    """Per call: the same calls free and constrained, interleaved; and the grammar's own time per token."""
    from qwen_vlm.backends import grammar

    spent = {"seconds": 0.0, "steps": 0}
    original = grammar.GrammarProcessor.__call__

    def timed(self: Any, input_ids: Any, scores: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, input_ids, scores)
        finally:
            spent["seconds"] += time.perf_counter() - start
            spent["steps"] += 1

    images = [noise((640, 480), k) for k in range(10)]
    calls: dict[str, Callable[..., Any]] = {
        "extract": lambda im, **o: vlm.extract(im, Receipt, max_tokens=tokens, **o),
        "detect": lambda im, **o: vlm.detect(im, ["cat", "dog"], max_tokens=tokens, **o),
    }
    print(f"3. constrained vs free decoding, {tokens} max tokens, median of {3 * len(images)} calls each")
    grammar.GrammarProcessor.__call__ = timed  # type: ignore[method-assign]
    try:
        for name, call in calls.items():
            call(images[0], constrained=True)  # compile the grammar, warm up
            times: dict[bool, list[float]] = {False: [], True: []}
            made: dict[bool, list[int]] = {False: [], True: []}
            spent.update(seconds=0.0, steps=0)
            for _ in range(3):
                for image in images:
                    for constrained in (False, True):  # interleaved
                        start = time.perf_counter()
                        result = call(image, constrained=constrained)
                        times[constrained].append(time.perf_counter() - start)
                        made[constrained].append(result.usage.completion_tokens if result.usage else 0)
            free, bound = statistics.median(times[False]), statistics.median(times[True])
            per_free_token = free / max(1.0, statistics.mean(made[False]))
            grammar_us = spent["seconds"] / max(1, spent["steps"]) * 1e6
            print(
                f"   {name:8s} free {free * 1000:6.1f} ms ({statistics.mean(made[False]):.0f} tokens)  "
                f"constrained {bound * 1000:6.1f} ms ({statistics.mean(made[True]):.0f} tokens)  "
                f"ratio {bound / free:.3f} (goal <= 1.15); grammar work {grammar_us:.0f} us per token "
                f"= {grammar_us / 1e6 / per_free_token:.1%} of a free call's time per token"
            )
    finally:
        grammar.GrammarProcessor.__call__ = original  # type: ignore[method-assign]


def parse_rates(vlm: QwenVLM, count: int) -> None:
    images = [noise(((k % 5 + 2) * 64, (k % 3 + 2) * 64), k) for k in range(count)]
    tasks: dict[str, Callable[..., list[Any]]] = {
        "detect": lambda **o: vlm.detect(images, ["cat", "dog"], max_tokens=80, progress=False, **o),
        "point": lambda **o: vlm.point(images, ["cat", "dog"], max_tokens=80, progress=False, **o),
        "classify": lambda **o: vlm.classify(images, ["cat", "dog"], max_tokens=80, progress=False, **o),
        "classify_multi": lambda **o: vlm.classify_multi(
            images, ["cat", "dog"], max_tokens=80, progress=False, **o
        ),
        "extract": lambda **o: vlm.extract(images, Receipt, max_tokens=160, progress=False, **o),
    }
    print(f"4. answers that parse, of {count} per task (free -> constrained)")
    for name, run in tasks.items():
        free = sum(r.ok for r in run(constrained=False))
        bound = sum(r.ok for r in run(constrained=True))
        print(f"   {name:15s} {free:3d}/{count} -> {bound:3d}/{count}")


def reuse(path: str, device: str, size: tuple[int, int], tokens: int) -> None:
    plain = QwenVLM(path, device=device, prefix_cache_mb=0)
    reusing = QwenVLM(path, device=device)

    def three(vlm: QwenVLM, image: Image.Image) -> None:
        vlm.caption(image, max_tokens=tokens)
        vlm.detect(image, ["cat"], max_tokens=tokens)
        vlm.ocr(image, max_tokens=tokens)

    images = [noise(size, k) for k in range(10)]
    three(plain, images[0])
    three(reusing, images[0])
    t_plain, t_reuse = [], []
    for image in images[1:]:  # a new image each time: reuse pays its first call in full
        start = time.perf_counter()
        three(plain, image)
        t_plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        three(reusing, image)
        t_reuse.append(time.perf_counter() - start)
    p, r = statistics.median(t_plain), statistics.median(t_reuse)
    info = reusing.backend.prefix_cache.info()  # type: ignore[attr-defined]
    seen = plain.detect(images[1], ["cat"], max_tokens=1).usage
    print(
        f"   {size[0]}x{size[1]} image ({seen.prompt_tokens if seen else '?'} prompt tokens), {tokens} new "
        f"tokens per task: plain {p * 1000:.0f} ms, reuse {r * 1000:.0f} ms -> {p / r:.2f}x (goal >= 1.5); "
        f"cache {info['entries']} images, {info['bytes'] / 1e6:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", nargs="?", default="qwen3_vl")
    parser.add_argument("--model", help="a real checkpoint (repo id or folder): sections 3-5 only")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model is None:
            small = build_tiny_checkpoint(
                Path(tmp) / "small", args.family, min_pixels=256 * 256, max_pixels=512 * 512
            )
            large = build_tiny_checkpoint(
                Path(tmp) / "large", args.family, min_pixels=256 * 256, max_pixels=1024 * 1024
            )
            overhead_and_batching(small, args.family)
            model, reuse_models = str(small), [str(small), str(large)]
        else:
            model, reuse_models = args.model, [args.model]
        vlm = QwenVLM(model, device=args.device, prefix_cache_mb=0, batch_size=10)
        constrained_cost(vlm, 96)
        parse_rates(vlm, 50)
        print("5. caption + detect + ocr on one image: three plain calls vs prefix reuse")
        for path in reuse_models:
            reuse(path, args.device, (1280, 960), 16)


if __name__ == "__main__":
    main()
