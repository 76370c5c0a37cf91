"""Time to the first streamed delta vs time to the whole answer (goal: the first delta >= 5x sooner).

1. Local: a 200-token answer from a tiny random-weight Qwen3-VL checkpoint on the CPU (forced text).
2. Remote: a 200-token answer from the loopback server, paced at 10 ms per token (server-sent events).

Run: python benchmarks/bench_stream.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chat_server import Reply, chat_server, chunk

from qwen_vlm import QwenVLM

TOKENS = 200
IMAGE = Image.new("RGB", (320, 240), (30, 90, 160))


def timed(vlm: QwenVLM) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = None
    deltas = 0
    with vlm.stream("caption", IMAGE, max_tokens=TOKENS + 20) as stream:
        for event in stream:
            if event.kind == "text":
                deltas += 1
                if first is None:
                    first = time.perf_counter() - start
    whole = time.perf_counter() - start
    assert first is not None and stream.result.ok
    return first, whole, deltas


def report(name: str, first: float, whole: float, deltas: int) -> None:
    ratio = whole / first
    verdict = "met" if ratio >= 5 else "NOT met"
    print(f"{name}: first delta {first * 1000:7.1f} ms, whole answer {whole * 1000:7.1f} ms "
          f"({deltas} deltas) -> {ratio:5.1f}x sooner (goal >= 5x: {verdict})")  # fmt: skip


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from qwen_vlm.tiny import build_tiny_checkpoint, scripted

    answer = " ".join(f"w{k}" for k in range(52))  # about 200 tokens with this tokenizer
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = build_tiny_checkpoint(Path(folder) / "tiny", "qwen3_vl")
        vlm = QwenVLM(checkpoint, device="cpu", generate_kwargs=scripted(answer))
        tokens = len(vlm.backend.processor.tokenizer(answer)["input_ids"])  # type: ignore[attr-defined]
        timed(vlm)  # warm-up
        report(f"local, {tokens}-token answer", *timed(vlm))

    with chat_server() as server:
        events = [chunk(f"w{k} ") for k in range(TOKENS)] + [chunk(finish_reason="stop")]
        server.script = lambda n, body: Reply(events=events, event_delay=0.01)
        remote = QwenVLM("Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=server.url)
        timed(remote)  # warm-up
        report(f"remote, {TOKENS}-token answer at 10 ms per token", *timed(remote))


if __name__ == "__main__":
    main()
