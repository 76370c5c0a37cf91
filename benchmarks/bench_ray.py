"""Images per second on a local Ray instance vs the plain client, on the same machine, in one run.

1. Remote backend: 256 images against the loopback chat-completions server with 100 ms latency —
   ``QwenVLM`` (16 requests in flight) vs Ray Data with 2 actors x 8 requests in flight.
2. Local backend: 128 images through a tiny random-weight Qwen3-VL checkpoint on the CPU (forced answers)
   — ``QwenVLM`` (batches of 8) vs Ray Data with 2 actors (batches of 8).

Ray figures include starting the actors (loading the model in each), not starting Ray itself (printed
separately). On a 2-core machine Ray cannot beat one process on CPU-bound work; it is measured to show
its overhead honestly. Run: python benchmarks/bench_ray.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chat_server import Reply, chat_server, completion

from qwen_vlm import QwenVLM
from qwen_vlm.integrations.ray import run

REMOTE_N, LOCAL_N, LATENCY = 256, 128, 0.1


def remote(url: str) -> tuple[float, float]:
    images = [np.full((64, 64, 3), k % 256, dtype=np.uint8) for k in range(REMOTE_N)]
    model = "Qwen/Qwen3-VL-8B-Instruct"
    vlm = QwenVLM(model, backend="openai", base_url=url, max_concurrent_requests=16)
    t0 = time.perf_counter()
    assert all(r.ok for r in vlm.ask(images, "q", progress=False))
    plain = time.perf_counter() - t0
    dataset = ray.data.from_items([{"id": k, "image": image} for k, image in enumerate(images)])
    t0 = time.perf_counter()
    remote_options = {"backend": "openai", "base_url": url, "max_concurrent_requests": 8}
    out = run(
        dataset, "ask", model, question="q", batch_size=32, concurrency=2, client_options=remote_options
    )
    rows = out.take_all()
    on_ray = time.perf_counter() - t0
    assert len(rows) == REMOTE_N and all(r["error"] is None for r in rows)
    return REMOTE_N / plain, REMOTE_N / on_ray


def local(folder: Path) -> tuple[float, float]:
    from qwen_vlm.tiny import build_tiny_checkpoint, scripted

    checkpoint = build_tiny_checkpoint(folder / "tiny", "qwen3_vl")
    answer = '[{"bbox_2d": [250, 250, 750, 750], "label": "cat"}]'
    options = {"device": "cpu", "generate_kwargs": scripted(answer), "batch_size": 8}
    images = [np.full((96, 128, 3), k % 256, dtype=np.uint8) for k in range(LOCAL_N)]
    t0 = time.perf_counter()
    vlm = QwenVLM(str(checkpoint), **options)
    assert all(r.ok for r in vlm.detect(images, ["cat"], progress=False, max_tokens=40))
    plain = time.perf_counter() - t0
    dataset = ray.data.from_items([{"id": k, "image": image} for k, image in enumerate(images)])
    t0 = time.perf_counter()
    out = run(dataset, "detect", str(checkpoint), classes=["cat"], batch_size=8, concurrency=2, max_tokens=40,
              client_options=options)  # fmt: skip
    rows = out.take_all()
    on_ray = time.perf_counter() - t0
    assert len(rows) == LOCAL_N and all(r["error"] is None for r in rows)
    return LOCAL_N / plain, LOCAL_N / on_ray


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    print(f"ray.init (2 CPUs): {time.perf_counter() - t0:.1f} s (not counted below)")
    with chat_server() as server:
        server.count_image_tokens = False
        server.script = lambda n, body: Reply(body=completion("ok"), delay=LATENCY)
        plain, on_ray = remote(server.url)
    print(f"remote, {REMOTE_N} images, {LATENCY * 1000:.0f} ms latency:")
    print(f"  QwenVLM, 16 in flight:           {plain:7.1f} images/s")
    print(f"  Ray Data, 2 actors x 8 in flight: {on_ray:7.1f} images/s ({on_ray / plain:.2f}x)")
    with tempfile.TemporaryDirectory() as folder:
        plain, on_ray = local(Path(folder))
    print(f"local tiny checkpoint on CPU, {LOCAL_N} images (model load included):")
    print(f"  QwenVLM, batches of 8:           {plain:7.1f} images/s")
    print(f"  Ray Data, 2 actors:              {on_ray:7.1f} images/s ({on_ray / plain:.2f}x)")
    ray.shutdown()


if __name__ == "__main__":
    main()
