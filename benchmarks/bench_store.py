"""The result store's costs: writing it during a remote batch, and answering from it.

1. A batch of images against the loopback chat server (each answer delayed as a network call would be),
   with the store written as results finish vs without a store, alternating runs (goal: < 1.05x).
2. The same batch again, answered entirely from the store: time per image vs one network call.

    python benchmarks/bench_store.py [--images N] [--delay SECONDS] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chat_server import Reply, chat_server, completion

from qwen_vlm import QwenVLM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per answer (a network call)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    answer = '[{"bbox_2d": [100, 100, 500, 500], "label": "cat"}]'
    with chat_server() as server, tempfile.TemporaryDirectory() as tmp:
        server.script = lambda n, body: Reply(body=completion(answer), delay=args.delay)

        def client(cache: str | None) -> QwenVLM:
            return QwenVLM(
                "qwen/qwen3-vl-8b-instruct", backend="openai", base_url=server.url, api_key="x",
                server="generic", max_concurrent_requests=8, cache=cache,
            )  # fmt: skip

        with_store, without, hits = [], [], []
        for run in range(args.repeats):
            images = [Image.new("RGB", (640, 480), (run, k % 256, k // 256)) for k in range(args.images)]
            store = str(Path(tmp) / f"run{run}.db")
            for cache in [store, None] if run % 2 == 0 else [None, store]:
                vlm = client(cache)
                start = time.perf_counter()
                results = vlm.detect(images, ["cat"], progress=False)
                elapsed = time.perf_counter() - start
                assert all(r.ok for r in results)
                (with_store if cache else without).append(elapsed)
            sent = len(server.requests)
            start = time.perf_counter()
            again = client(store).detect(images, ["cat"], progress=False)
            hits.append((time.perf_counter() - start) / args.images)
            assert len(server.requests) == sent and again == results
        ratio = statistics.median(a / b for a, b in zip(with_store, without, strict=True))
        delay = args.delay * 1000
        print(f"{args.images} images, answers delayed {delay:.0f} ms, 8 in flight, {args.repeats} runs each")
        print(
            f"1. batch with the store written: {statistics.median(with_store):.3f} s, without: "
            f"{statistics.median(without):.3f} s: {ratio:.3f}x (goal < 1.05x)"
        )
        hit = statistics.median(hits)
        print(
            f"2. answered from the store: {hit * 1000:.2f} ms per image (keying its pixels included) vs "
            f"{args.delay * 1000:.0f} ms per network call: {hit / args.delay:.3f} of a call"
        )


if __name__ == "__main__":
    main()
