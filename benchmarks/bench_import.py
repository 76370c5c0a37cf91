"""Time `import qwen_vlm` in fresh interpreters (goal: under 150 ms, and under half of `import openai`
timed side by side) and list the heaviest imports.

Run: python benchmarks/bench_import.py [repeats]
"""

from __future__ import annotations

import statistics
import subprocess
import sys


def importtime_us(module: str = "qwen_vlm") -> tuple[int, list[tuple[int, str]]]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True
    )
    rows = []
    total = 0
    for line in out.stderr.splitlines():
        if "|" not in line or "imported package" in line:
            continue
        _, cumulative, name = line.split("|")
        rows.append((int(cumulative), name.rstrip()))
        if name.strip() == module:
            total = int(cumulative)
    return total, sorted(rows, reverse=True)


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    importtime_us()  # warm the file cache
    totals = []
    ratios = []
    rows: list[tuple[int, str]] = []
    for _ in range(repeats):  # interleaved, so a busy machine slows both alike
        total, rows = importtime_us()
        totals.append(total / 1000)
        other, _ = importtime_us("openai")
        if other:
            ratios.append(total / other)
    heavy = [
        name.strip() for _, name in rows if name.strip().split(".")[0] in ("torch", "transformers", "openai")
    ]
    print(
        f"import qwen_vlm: median {statistics.median(totals):.1f} ms, min {min(totals):.1f} ms, "
        f"max {max(totals):.1f} ms over {repeats} fresh interpreters (goal < 150 ms)"
    )
    if ratios:
        print(
            f"import qwen_vlm / import openai, side by side: median {statistics.median(ratios):.2f}x "
            "(goal < 0.5x)"
        )
    print(f"torch/transformers/openai modules imported: {len(heavy)}")
    print("heaviest imports (cumulative ms):")
    for cumulative, name in rows[1:9]:
        print(f"  {cumulative / 1000:7.1f}  {name.strip()}")


if __name__ == "__main__":
    main()
