"""Readers that take classes, timed against the number of classes (goal: near-linear).

Each figure is the *first* parse in a fresh interpreter (no cache can hide the cost), for a label set of
1,000 to 20,000 classes, for ``classify`` and ``classify_multi``, with an answer that names one class and
one that names none (the reader then searches the prose for every class); also ``detect`` with classes,
and local class scores' answer texts. The goal: 20,000 classes cost under 40x what 1,000 cost (20x is
linear).

Run: python benchmarks/bench_classes.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SIZES = (1000, 5000, 10000, 20000)

CHILD = textwrap.dedent(
    """
    import json, random, sys, time
    from qwen_vlm import parse
    task, count, answer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(0)
    words = ["red", "small", "wooden", "steel", "round", "old", "striped", "tall", "glass", "dark"]
    nouns = ["chair", "table", "lamp", "dog", "cat", "car", "truck", "boat", "cup", "tree", "house", "bird"]
    classes = []
    seen = set()
    while len(classes) < count:  # many classes inside others: "chair", "red chair", "small red chair"
        name = " ".join(rng.sample(words, rng.randint(0, 2)) + [rng.choice(nouns)]) + f" {len(classes)}"
        if rng.random() < 0.3:
            name = rng.choice(nouns) + (f" {len(classes)}" if rng.random() < 0.5 else "")
        if name not in seen:
            seen.add(name)
            classes.append(name)
    target = classes[len(classes) // 2]
    text = {
        "one": json.dumps({"label": target}) if task != "classify_multi" else json.dumps([target]),
        "prose-one": f"I think the picture shows a {target}, clearly.",
        "none": "The picture shows a landscape with mountains and a river under a cloudy sky at dusk.",
    }[answer]
    size = (640, 480) if task == "detect" else None
    if task == "detect":
        text = json.dumps([{"bbox_2d": [10, 10, 200, 200], "label": target}])
    start = time.perf_counter()
    result = parse(task, text, image_size=size, classes=classes)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "ok": result.ok}))
    """
)


def first_parse(task: str, count: int, answer: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, task, str(count), answer], capture_output=True, text=True, check=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = (1000, 20000) if quick else SIZES
    cases = [
        ("classify", "one"),
        ("classify", "prose-one"),
        ("classify", "none"),
        ("classify_multi", "one"),
        ("classify_multi", "prose-one"),
        ("classify_multi", "none"),
        ("detect", "one"),
    ]
    print(
        f"first parse in a fresh process, milliseconds, by number of classes ({', '.join(map(str, sizes))})"
    )
    worst = 0.0
    for task, answer in cases:
        times = [first_parse(task, n, answer) for n in sizes]
        ratio = times[-1] / times[0]
        worst = max(worst, ratio)
        cells = "  ".join(f"{t * 1000:9.1f}" for t in times)
        print(f"{task:15s} {answer:10s} {cells}   {sizes[-1]}/{sizes[0]} classes: {ratio:5.1f}x")
    print(f"worst ratio {worst:.1f}x (goal: under 40x; linear would be {sizes[-1] / sizes[0]:.0f}x)")


if __name__ == "__main__":
    main()
