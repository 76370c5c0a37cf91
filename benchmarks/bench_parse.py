"""Parse time per task on adversarial answers of 1 KB, 10 KB, 100 KB and 1 MB.

Every parser must be linear (or n log n) in the answer's length. For each task this prints the slowest
shape's time (best of 3 runs) at each size and the growth exponent between 10 KB and 1 MB (1.0 = linear, 2.0 =
quadratic). Goal: every task under 0.5 s at 1 MB.

    python benchmarks/bench_parse.py            # all sizes
    python benchmarks/bench_parse.py --quick    # up to 100 KB (CI smoke run)
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any

from qwen_vlm import parse

BOX = '{"bbox_2d": [10, 20, 300, 400], "label": "cat"}'


def fill(unit: str, size: int, head: str = "", tail: str = "") -> str:
    return head + unit * max(1, (size - len(head) - len(tail)) // len(unit)) + tail


# Shapes that broke (or could break) a parser: many mentions, many lines, unclosed tags, deep or broken
# nesting, unterminated quotes, many tokens without their closing partner.
SHAPES: dict[str, Callable[[int], str]] = {
    "mentions": lambda n: fill("cat dog ", n, "x "),
    "newlines": lambda n: fill("\n", n, "x", "x"),
    "answer-lines": lambda n: fill("answer\n", n),
    "valid-boxes": lambda n: fill(BOX + ", ", n, "[", BOX + "]"),
    "stray-braces": lambda n: fill(BOX + "}, ", n, "[", "]"),
    "stray-openers": lambda n: fill(BOX + ", {, ", n, "[", "]"),
    "missing-commas": lambda n: fill(BOX + " ", n, "[", "]"),
    "single-quotes": lambda n: fill("{'bbox_2d': [1, 2, 3, 4], 'label': 'a'}, ", n, "[", "]"),
    "deep-open": lambda n: fill("[", n),
    "deep-closed": lambda n: "[" * (n // 2) + "]" * (n // 2),
    "open-objects": lambda n: fill('{"a": ', n),
    "open-lists-in-list": lambda n: fill("[1, ", n, "["),
    "quotes": lambda n: fill('"', n),
    "comma-quotes": lambda n: fill(",'", n, "["),
    "unclosed-bbox-tags": lambda n: fill('<p data-bbox="1 2 3 4">x ', n),
    "open-angle-tags": lambda n: fill("<a ", n),
    "unmatched-end-tags": lambda n: fill("</x>", n, "<p data-bbox='1 2 3 4'>"),
    "box-tokens": lambda n: fill("<|box_start|>(1,2),(30,40)<|box_end|>", n),
    "ref-tokens": lambda n: fill("<|object_ref_start|>", n, "", "<|box_start|>(1,2),(3,4)<|box_end|>"),
    "fences": lambda n: fill("```json\n[", n),
    "think-tags": lambda n: fill("<think>", n),
    "huge-numbers": lambda n: fill('{"bbox_2d": [' + "9" * 300 + ", 1, 2, 3]}, ", n, "[", "]"),
}

TASKS: list[tuple[str, dict[str, Any]]] = [
    ("detect", {}),
    ("point", {}),
    ("ocr", {}),
    ("classify", {"classes": ["cat", "dog", "tv stand"]}),
    ("classify_multi", {"classes": ["cat", "dog", "tv stand"]}),
    ("extract", {"schema": {"label": "what"}}),
    ("caption", {}),
]


REPEATS = 3


def timed(task: str, text: str, kwargs: dict[str, Any]) -> float:
    """Best of :data:`REPEATS` runs (as timeit does): the parser's cost, not the machine's noise."""
    best = math.inf
    for _ in range(REPEATS):
        start = time.perf_counter()
        parse(task, text, "Qwen/Qwen2.5-VL-7B-Instruct", (1280, 960), **kwargs)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = [1_000, 10_000, 100_000] if quick else [1_000, 10_000, 100_000, 1_000_000]
    print(f"{'task':16} " + " ".join(f"{s // 1000:>7} KB" for s in sizes) + "  exponent  slowest shape")
    worst_overall = 0.0
    for task, kwargs in TASKS:
        per_size = []
        slowest = ""
        for size in sizes:
            worst, worst_shape = 0.0, ""
            for name, make in SHAPES.items():
                t = timed(task, make(size), kwargs)
                if t > worst:
                    worst, worst_shape = t, name
            per_size.append(worst)
            slowest = worst_shape
        low, high = per_size[1], per_size[-1]
        exponent = math.log(max(high, 1e-6) / max(low, 1e-6)) / math.log(sizes[-1] / sizes[1])
        worst_overall = max(worst_overall, per_size[-1])
        cells = " ".join(f"{t:>8.3f}s" for t in per_size)
        print(f"{task:16} {cells}  {exponent:8.2f}  {slowest}")
    goal = "under 0.5 s at 1 MB" if not quick else "(quick run: up to 100 KB)"
    print(f"slowest task at the largest size: {worst_overall:.3f} s — goal: every task {goal}")


if __name__ == "__main__":
    main()
