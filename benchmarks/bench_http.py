"""Remote backend throughput and payload size, against a local chat-completions server.

1. 64 requests with 200 ms server latency at concurrency 16, through QwenVLM (sync) and AsyncQwenVLM:
   wall time against the ideal 64 / 16 x 0.2 s = 0.8 s (goal: <= 1.25x).
2. Bytes sent for a 12-megapixel photo against the naive base64 of the original file.

Run: python benchmarks/bench_http.py
"""

from __future__ import annotations

import asyncio
import base64
import io
import random
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chat_server import Reply, chat_server, completion

from qwen_vlm import AsyncQwenVLM, QwenVLM

N, CONCURRENCY, LATENCY = 64, 16, 0.2


def photo_12mp() -> bytes:
    """A photo-like 4000x3000 JPEG: gradients, shapes and sensor-like noise (about 4-6 MB)."""
    rng = random.Random(1)
    w, h = 4000, 3000
    base = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    draw = ImageDraw.Draw(base)
    for _ in range(300):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.randrange(20, 400)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    base = base.filter(ImageFilter.GaussianBlur(3))
    noise = Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3))
    image = Image.blend(base, noise, 0.12)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def main() -> None:
    image = Image.new("RGB", (640, 480), (30, 60, 90))
    ideal = N / CONCURRENCY * LATENCY
    with chat_server() as server:
        server.script = lambda n, body: Reply(body=completion("ok"), delay=LATENCY)
        vlm = QwenVLM(
            "qwen/qwen3-vl-8b-instruct",
            backend="openrouter",
            base_url=server.url,
            api_key="sk-bench",
            max_concurrent_requests=CONCURRENCY,
        )
        vlm.ask(image, "warm-up")
        start = time.perf_counter()
        results = vlm.ask([image] * N, "q", progress=False)
        sync_wall = time.perf_counter() - start
        assert all(r.ok for r in results)

        async def run_async() -> float:
            avlm = AsyncQwenVLM("qwen/qwen3-vl-8b-instruct", backend="openrouter", base_url=server.url,
                                api_key="sk-bench", max_concurrent_requests=CONCURRENCY)  # fmt: skip
            await avlm.ask(image, "warm-up")
            t0 = time.perf_counter()
            out = await avlm.ask([image] * N, "q", progress=False)
            assert all(r.ok for r in out)
            return time.perf_counter() - t0

        async_wall = asyncio.run(run_async())

        print(
            f"{N} requests, {LATENCY * 1000:.0f} ms latency, concurrency {CONCURRENCY}: ideal {ideal:.3f} s"
        )
        print(f"  QwenVLM (threads):      {sync_wall:.3f} s = {sync_wall / ideal:.2f}x ideal (goal <= 1.25x)")
        print(
            f"  AsyncQwenVLM (asyncio): {async_wall:.3f} s = {async_wall / ideal:.2f}x ideal (goal <= 1.25x)"
        )

        original = photo_12mp()
        naive = len(base64.b64encode(original))
        server.requests.clear()
        server.script = lambda n, body: Reply(body=completion("ok"))
        vlm.caption(original)
        sent = len(server.requests[0]["messages"][0]["content"][0]["image_url"]["url"])
        print("12-megapixel photo (4000x3000 JPEG):")
        print(f"  original file {len(original) / 1e6:.2f} MB, naive base64 data URL {naive / 1e6:.2f} MB")
        print(f"  sent by qwen-vlm {sent / 1e6:.3f} MB ({sent / naive:.1%} of naive; resized to the model's "
              "smart-resize fixed point)")  # fmt: skip


if __name__ == "__main__":
    main()
