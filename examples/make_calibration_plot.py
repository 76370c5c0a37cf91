"""The confidence docs' calibration plot, made honestly on a tiny random-weight checkpoint.

Forty synthetic (noise) images; the (random) model is made to answer two boxes per image, and for each
image one of the two, drawn at random, is declared the true one. Each box's confidence is what the model's
own token probabilities give it; it is correct when its IoU with the image's true box is at least 0.5.
Random weights know nothing and the truth is drawn independently of the answer, so the plot shows no
relation between confidence and correctness — it shows the pipeline works, not what a trained model's
confidences are worth. (Declaring always the same box true would seem to separate them: its digits
simply get other probabilities than the other box's, whatever the image.)

    python examples/make_calibration_plot.py      # writes docs/images/calibration-tiny.png
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from matplotlib.figure import Figure
from PIL import Image

from qwen_vlm import QwenVLM
from qwen_vlm.tiny import build_tiny_checkpoint, scripted

ROOT = Path(__file__).resolve().parent.parent
FIRST = (200, 200, 500, 600)  # on the 0-1000 grid
OTHERS = [(600, 100, 900, 400), (650, 550, 950, 900), (50, 700, 300, 950), (700, 50, 950, 300)]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


def main() -> None:
    rng = random.Random(0)
    points: list[tuple[float, bool]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_checkpoint(Path(tmp) / "tiny", "qwen3_vl")
        for k, other in enumerate(OTHERS):
            boxes = [FIRST, other] if k % 2 == 0 else [other, FIRST]
            answer = json.dumps([{"bbox_2d": list(b), "label": "cat"} for b in boxes])  # as the grammar writes
            vlm = QwenVLM(str(path), device="cpu", generate_kwargs=scripted(answer))
            images = [Image.effect_noise((320, 240), 20 + rng.randrange(80)).convert("RGB") for _ in range(10)]
            for result in vlm.detect(images, ["cat"], max_tokens=120, progress=False):
                truth = rng.choice(boxes)  # drawn independently of the answer
                for det in result:
                    grid = tuple(v / s * 1000 for v, s in zip(det.xyxy, (320, 240, 320, 240), strict=True))
                    points.append((det.confidence or 0.0, iou(grid, truth) >= 0.5))
    figure = Figure(figsize=(5.5, 3.2), dpi=100)
    axes = figure.add_subplot()
    for correct, colour in ((True, "tab:green"), (False, "tab:red")):
        xs = [c for c, ok in points if ok == correct]
        ys = [(1.0 if correct else 0.0) + rng.uniform(-0.08, 0.08) for _ in xs]
        axes.scatter(xs, ys, s=12, color=colour, label="correct box" if correct else "wrong box")
    axes.set_xscale("log")
    axes.set_yticks([0, 1], ["wrong", "correct"])
    axes.set_xlabel("confidence (log scale)")
    axes.set_title("tiny RANDOM-weight checkpoint: confidence says nothing here", fontsize=9)
    axes.legend(fontsize=7, loc="center right")
    figure.tight_layout()
    target = ROOT / "docs" / "images" / "calibration-tiny.png"
    figure.savefig(target)
    print(f"{len(points)} boxes; written {target}")


if __name__ == "__main__":
    main()
