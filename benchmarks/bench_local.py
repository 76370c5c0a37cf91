"""Local backend overhead and batching, on a tiny random-weight checkpoint built offline.

1. Per-call time of QwenVLM.ask against the bare model-card recipe (apply_chat_template → generate →
   batch_decode) on the same checkpoint, image and prompt, greedy, same number of new tokens
   (goal: ratio <= 1.05).
2. Throughput of one batch of 8 images against 8 single calls (goal: the batch is faster).

Run: python benchmarks/bench_local.py [family]   (qwen3_vl by default; qwen2_5_vl, qwen3_5)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from qwen_vlm import QwenVLM
from qwen_vlm.tiny import build_tiny_checkpoint

NEW_TOKENS = 48
REPEATS = 15


def timed(fn: object, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    family = sys.argv[1] if len(sys.argv) > 1 else "qwen3_vl"
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_checkpoint(
            Path(tmp) / family,
            family,
            min_pixels=256 * 256,
            max_pixels=512 * 512,  # type: ignore[arg-type]
        )
        image = Image.new("RGB", (800, 600), (120, 40, 200))
        prompt = "Describe this image."
        gen = {"min_new_tokens": NEW_TOKENS}

        model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
        processor = AutoProcessor.from_pretrained(path)

        def recipe() -> str:
            messages = [
                {
                    "role": "user",
                    "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}],
                }
            ]
            inputs = processor.apply_chat_template(
                messages, tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt"
            )
            with torch.inference_mode():
                out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False, **gen)
            return str(
                processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0]
            )

        vlm = QwenVLM(str(path), device="cpu", generate_kwargs=gen, batch_size=8)

        def sdk() -> str:
            return vlm.ask(image, prompt, max_tokens=NEW_TOKENS).text

        # Same tokens: the recipe's text is the SDK's answer, with any (random) "…</think>" part split off.
        result, raw = vlm.ask(image, prompt, max_tokens=NEW_TOKENS), recipe().strip()
        assert raw == result.text or raw == f"{result.thinking}</think>{result.text}", (raw, result)
        for _ in range(3):  # warm up both
            recipe()
            sdk()
        # Interleave the measurements so drifts in machine load hit both equally.
        recipe_times, sdk_times = [], []
        for _ in range(REPEATS):
            recipe_times.append(timed(recipe, 1))
            sdk_times.append(timed(sdk, 1))
        t_recipe, t_sdk = statistics.median(recipe_times), statistics.median(sdk_times)
        print(
            f"tiny {family} checkpoint, 800x600 image, {NEW_TOKENS} new tokens, greedy, "
            f"CPU x{torch.get_num_threads()}"
        )
        print(f"  model card recipe: {t_recipe * 1000:7.1f} ms per call (median of {REPEATS})")
        print(f"  QwenVLM.ask:       {t_sdk * 1000:7.1f} ms per call")
        print(f"  ratio SDK / recipe: {t_sdk / t_recipe:.3f} (goal <= 1.05)")

        images = [Image.new("RGB", (800, 600), (i * 30, 40, 200)) for i in range(8)]
        singles = timed(lambda: [vlm.ask(im, prompt, max_tokens=NEW_TOKENS) for im in images], 3)
        batch = timed(lambda: vlm.ask(images, prompt, max_tokens=NEW_TOKENS, progress=False), 3)
        print(f"  8 single calls: {singles:.3f} s ({8 / singles:.1f} images/s)")
        print(f"  one batch of 8: {batch:.3f} s ({8 / batch:.1f} images/s) -> {singles / batch:.2f}x faster")


if __name__ == "__main__":
    main()
