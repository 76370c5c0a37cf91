"""What a confidence per box costs a local detection call (goal: under 5 %).

Times the same scripted detection answer (10 boxes, ~230 tokens) with confidences on and off, calls
alternating so both see the same machine state; reports medians and their ratio, free and under the
grammar. "Off" skips the log-probability recorder and the per-object scoring (the SDK's behaviour
before confidences existed).

    python benchmarks/bench_confidence.py [family] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from PIL import Image

from qwen_vlm import QwenVLM
from qwen_vlm.backends.local import generation
from qwen_vlm.tiny import build_tiny_checkpoint, scripted


def answer(count: int) -> str:
    boxes = [
        {"bbox_2d": [10 + 70 * k, 20 + 50 * k, 60 + 70 * k, 90 + 50 * k], "label": ("cat", "dog")[k % 2]}
        for k in range(count)
    ]
    return json.dumps(boxes)  # as the grammar writes JSON


def run(path: Path, constrained: bool, repeats: int) -> tuple[float, float, float, int]:
    text = answer(10)
    vlm = QwenVLM(str(path), device="cpu", generate_kwargs=scripted(text), constrained=constrained)
    image = Image.effect_noise((640, 480), 40).convert("RGB")
    tokens = len(vlm.backend.processor.tokenizer.encode(text))  # type: ignore[attr-defined]
    on: list[float] = []
    off: list[float] = []
    recorder = generation.LogprobRecorder
    for k in range(2 * repeats + 2):
        scored = k % 2 == 0
        generation.LogprobRecorder = recorder if scored else (lambda torch: None)  # type: ignore[assignment]
        start = time.perf_counter()
        result = vlm.detect(image, ["cat", "dog"], max_tokens=400)
        elapsed = time.perf_counter() - start
        assert len(result) == 10 and (None not in result.confidences) == scored
        if k >= 2:  # the first pair warms up
            (on if scored else off).append(elapsed)
    generation.LogprobRecorder = recorder  # type: ignore[misc]
    # Calls alternate on/off: the ratio of each adjacent pair cancels the machine's slow drifts.
    paired = statistics.median(a / b for a, b in zip(on, off, strict=True))
    return statistics.median(on), statistics.median(off), paired, tokens


def recorder_cost(steps: int = 400, vocab: int = 151_936) -> float:
    """Microseconds per generated token the log-probability recorder adds, at a real Qwen vocabulary."""
    recorder = generation.LogprobRecorder(torch)
    scores = torch.randn(1, vocab)
    ids = torch.zeros(1, 10, dtype=torch.long)
    start = time.perf_counter()
    for _ in range(steps):
        recorder(ids, scores)
    recorder.finish(torch.zeros(1, steps, dtype=torch.long))
    return (time.perf_counter() - start) / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", nargs="?", default="qwen3_vl")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_checkpoint(Path(tmp) / args.family, args.family)
        print(
            f"tiny {args.family}, CPU, 2 threads, detection of 10 boxes, median of {args.repeats} calls each"
        )
        for constrained in (False, True):
            on, off, paired, tokens = run(path, constrained, args.repeats)
            mode = "grammar" if constrained else "free   "
            print(
                f"{mode}: with confidence {on * 1000:7.1f} ms, without {off * 1000:7.1f} ms "
                f"({tokens} answer tokens): median of paired ratios {paired:.3f}x (goal < 1.05x)"
            )
        cost = recorder_cost()
        print(f"recorder alone at a 151,936-token vocabulary (CPU): {cost:.0f} us per generated token")


if __name__ == "__main__":
    main()
