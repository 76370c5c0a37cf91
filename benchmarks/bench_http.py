"""Remote backend speed against a local chat-completions server: the SDK vs hand-written openai code.

1. 128 requests, 200 ms server latency, concurrency 16 (ideal: 128 / 16 x 0.2 s = 1.6 s), for 640x480
   and 1280x960 photo-like images, measured side by side in one run:
   - ideal,
   - a hand-written ``AsyncOpenAI`` + semaphore loop (resize to the same size + JPEG + base64 in a worker
     thread, then the request: what careful application code does),
   - ``AsyncQwenVLM``, and ``QwenVLM`` (threads).
   For the async runs, a ticker task measures the longest event-loop stall and the loop thread's CPU
   time. Goals: the SDK within 1.05x of the hand-written loop; its stalls no worse.
2. Bytes sent for a 12-megapixel photo against the naive base64 of the original file.

Run: python benchmarks/bench_http.py   (on a quiet machine: ratios, not absolute times, are the result)
"""

from __future__ import annotations

import asyncio
import base64
import io
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chat_server import Reply, chat_server, completion

from qwen_vlm import AsyncQwenVLM, QwenVLM
from qwen_vlm.geometry import smart_resize

N, CONCURRENCY, LATENCY, DISTINCT = 128, 16, 0.2, 32
MODEL = "qwen/qwen3-vl-8b-instruct"


def photo(w: int, h: int, seed: int) -> Image.Image:
    """A photo-like image: gradient, shapes, blur and sensor-like noise (JPEG-encodes like a photo)."""
    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    draw = ImageDraw.Draw(base)
    for _ in range(40):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(10, w // 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    base = base.filter(ImageFilter.GaussianBlur(2))
    return Image.blend(base, Image.frombytes("RGB", (w, h), rng.randbytes(w * h * 3)), 0.1)


def photo_12mp() -> bytes:
    buffer = io.BytesIO()
    photo(4000, 3000, 1).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def hand_encode(image: Image.Image) -> str:
    """What the SDK sends, done by hand: the family's smart resize, JPEG q90, base64 data URL."""
    size = smart_resize(image.width, image.height, factor=32, min_pixels=65536, max_pixels=1280 * 32 * 32)
    sent = image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    sent.save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


async def measured(run: Callable[[], Awaitable[Any]]) -> tuple[float, float, float]:
    """Wall time, the longest event-loop stall, and the loop thread's CPU time while ``run`` runs."""
    stop = False
    longest = 0.0

    async def ticker() -> None:
        nonlocal longest
        while not stop:
            before = time.perf_counter()
            await asyncio.sleep(0.002)
            longest = max(longest, time.perf_counter() - before - 0.002)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    cpu0, t0 = time.thread_time(), time.perf_counter()
    await run()
    wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    stop = True
    await tick
    return wall, longest, cpu


def bench_size(url: str, w: int, h: int) -> None:
    images = [photo(w, h, seed) for seed in range(DISTINCT)]
    batch = [images[i % DISTINCT] for i in range(N)]
    ideal = N / CONCURRENCY * LATENCY

    async def hand_written() -> tuple[float, float, float]:
        import openai

        client = openai.AsyncOpenAI(base_url=url, api_key="sk-bench", max_retries=0)
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one(image: Image.Image) -> str:
            async with semaphore:
                data_url = await asyncio.to_thread(hand_encode, image)
                response = await client.chat.completions.create(
                    model=MODEL,
                    messages=[
                        {
                            "role": "user",
                            "content": [
                                {"type": "image_url", "image_url": {"url": data_url}},
                                {"type": "text", "text": "q"},
                            ],
                        }
                    ],
                    max_tokens=16,
                )
                return response.choices[0].message.content or ""

        await one(images[0])  # warm-up (connection pool)

        async def run() -> None:
            out = await asyncio.gather(*(one(image) for image in batch))
            assert all(text == "ok" for text in out)

        result = await measured(run)
        await client.close()
        return result

    async def sdk_async() -> tuple[float, float, float]:
        vlm = AsyncQwenVLM(MODEL, backend="openai", base_url=url, api_key="sk-bench",
                           max_concurrent_requests=CONCURRENCY)  # fmt: skip
        await vlm.ask(images[0], "warm-up")

        async def run() -> None:
            out = await vlm.ask(batch, "q", progress=False, max_tokens=16)
            assert all(r.ok for r in out)

        result = await measured(run)
        await vlm.aclose()
        return result

    hand = asyncio.run(hand_written())
    sdk = asyncio.run(sdk_async())
    vlm = QwenVLM(
        MODEL, backend="openai", base_url=url, api_key="sk-bench", max_concurrent_requests=CONCURRENCY
    )
    vlm.ask(images[0], "warm-up")
    t0 = time.perf_counter()
    assert all(r.ok for r in vlm.ask(batch, "q", progress=False, max_tokens=16))
    sync_wall = time.perf_counter() - t0
    vlm.close()

    print(f"{w}x{h}, {N} requests ({DISTINCT} distinct images), {LATENCY * 1000:.0f} ms latency, "
          f"concurrency {CONCURRENCY}: ideal {ideal:.3f} s")  # fmt: skip
    print(f"  {'':28} {'wall':>8} {'x ideal':>8} {'x hand':>7} {'longest stall':>14} {'loop CPU':>9}")
    print(f"  {'hand-written AsyncOpenAI':28} {hand[0]:7.3f}s {hand[0] / ideal:7.2f}x {1:6.2f}x "
          f"{hand[1] * 1000:11.1f} ms {hand[2]:8.3f}s")  # fmt: skip
    print(f"  {'AsyncQwenVLM':28} {sdk[0]:7.3f}s {sdk[0] / ideal:7.2f}x {sdk[0] / hand[0]:6.2f}x "
          f"{sdk[1] * 1000:11.1f} ms {sdk[2]:8.3f}s")  # fmt: skip
    print(
        f"  {'QwenVLM (threads)':28} {sync_wall:7.3f}s {sync_wall / ideal:7.2f}x {sync_wall / hand[0]:6.2f}x"
    )
    print(f"  goal: AsyncQwenVLM <= 1.05x hand-written ({'met' if sdk[0] <= 1.05 * hand[0] else 'NOT met'}); "
          f"stall no worse ({'met' if sdk[1] <= hand[1] * 1.1 + 0.002 else 'NOT met'})")  # fmt: skip


def main() -> None:
    with chat_server() as server:
        server.count_image_tokens = False  # the test server's own decoding would cost CPU here
        server.script = lambda n, body: Reply(body=completion("ok"), delay=LATENCY)
        for w, h in ((640, 480), (1280, 960)):
            bench_size(server.url, w, h)

        original = photo_12mp()
        naive = len(base64.b64encode(original))
        server.requests.clear()
        server.script = lambda n, body: Reply(body=completion("ok"))
        QwenVLM(MODEL, backend="openai", base_url=server.url, api_key="sk-bench").caption(original)
        sent = len(server.requests[0]["messages"][0]["content"][0]["image_url"]["url"])
        print("12-megapixel photo (4000x3000 JPEG):")
        print(f"  original file {len(original) / 1e6:.2f} MB, naive base64 data URL {naive / 1e6:.2f} MB")
        print(f"  sent by qwen-vlm {sent / 1e6:.3f} MB ({sent / naive:.1%} of naive; resized to the model's "
              "smart-resize fixed point)")  # fmt: skip


if __name__ == "__main__":
    main()
