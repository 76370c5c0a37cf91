"""The remote backend against a real inference server: `transformers serve`, serving tiny checkpoints.

The server is the transformers CLI's OpenAI-compatible FastAPI server, started on 127.0.0.1 by the
fixture below and stopped when the tests end. It loads the tiny random-weight checkpoints built at test
time (the request's model name is the checkpoint directory). Random weights answer garbage, so these
tests check what a real server decides: that every request is accepted (no BackendError), results are
typed, truncation, reasoning and the server's own error messages come through, and that a server which
shrinks images makes Qwen2.5-VL boxes an error instead of silently wrong.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import BaseModel

if os.environ.get("CI"):  # CI installs the dev extra: there the real server always runs, never skips
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
pytest.importorskip("fastapi", reason="transformers serve needs fastapi (installed by the dev extra)")
pytest.importorskip("uvicorn", reason="transformers serve needs uvicorn (installed by the dev extra)")
pytest.importorskip("torch")
pytest.importorskip("openai")

from qwen_vlm import (
    AsyncQwenVLM,
    BackendError,
    BadRequestError,
    Classification,
    Detections,
    Extraction,
    ImageResizedError,
    MultiLabelClassification,
    Points,
    QwenVLM,
    ServerError,
    TextResult,
)
from qwen_vlm.tiny import build_tiny_checkpoint

FAMILIES = ("qwen2_5_vl", "qwen3_vl", "qwen3_5")
KEY = "sk-test-SECRET-4c1d9e"
# 812x532 is 432k pixels: the tiny checkpoints' processors cap images at 262,144 (812x532 -> 616x392).
BIG = Image.new("RGB", (812, 532), (200, 40, 30))
SMALL = Image.new("RGB", (320, 240), (20, 140, 60))
SERVER_CAP = 262_144


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Path]]]:
    root = tmp_path_factory.mktemp("served")
    checkpoints = {family: build_tiny_checkpoint(root / family, family) for family in FAMILIES}
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    log = (root / "serve.log").open("w")
    command = [
        sys.executable,
        "-c",
        "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; main()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"transformers serve did not start:\n{(root / 'serve.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield f"{base}/v1", checkpoints
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def client(served: tuple[str, dict[str, Path]], family: str, **options: Any) -> QwenVLM:
    url, checkpoints = served
    return QwenVLM(
        str(checkpoints[family]), backend="openai", base_url=url, api_key=KEY, family=family,
        server="transformers", retry_base_delay=0.01, retry_max_delay=0.05, **options,
    )  # fmt: skip


def accepted(result: Any) -> bool:
    """The server answered with HTTP 200 (a parse error of a random-weight answer is fine)."""
    return not isinstance(result.exception, BackendError)


TASKS: list[tuple[str, tuple[Any, ...], type]] = [
    ("prompt", ("Say hi.",), TextResult),
    ("ocr", (), TextResult),
    ("ask", ("What colour is it?",), TextResult),
    ("caption", (), TextResult),
    ("classify", (["cat", "dog"],), Classification),
    ("classify_multi", (["cat", "dog"],), MultiLabelClassification),
    ("detect", (["cat"],), Detections),
    ("point", (["cat"],), Points),
    ("extract", ({"total": "the amount"},), Extraction),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_task_is_accepted_and_typed(served: tuple[str, dict[str, Path]], family: str) -> None:
    vlm = client(served, family, max_pixels=SERVER_CAP)
    for method, args, kind in TASKS:
        result = getattr(vlm, method)(SMALL, *args, max_tokens=6)
        assert isinstance(result, kind), method
        assert accepted(result), f"{method}: {result.error}"
        assert result.finish_reason in ("stop", "length") and result.usage is not None
        assert result.usage.prompt_tokens > 0


def test_a_batch_of_8_mixed_sizes_and_modes(served: tuple[str, dict[str, Path]]) -> None:
    images = [
        Image.new("RGB", (320, 240)),
        Image.new("RGBA", (100, 300), (1, 2, 3, 100)),
        Image.new("L", (640, 64)),
        Image.new("P", (50, 50)),
        Image.new("RGB", (1280, 960)),
        Image.new("CMYK", (200, 200)),
        Image.new("I;16", (128, 96)),
        Image.new("RGB", (33, 900)),
    ]
    results = client(served, "qwen3_vl", max_concurrent_requests=4).caption(images, max_tokens=4)
    assert len(results) == 8 and all(isinstance(r, TextResult) and accepted(r) for r in results)


async def test_the_async_client(served: tuple[str, dict[str, Path]]) -> None:
    url, checkpoints = served
    vlm = AsyncQwenVLM(
        str(checkpoints["qwen3_5"]), backend="openai", base_url=url, api_key=KEY, family="qwen3_5",
        server="transformers",
    )  # fmt: skip
    results = await vlm.classify([SMALL, BIG, SMALL], ["cat", "dog"], max_tokens=4)
    assert [type(r) for r in results] == [Classification] * 3 and all(accepted(r) for r in results)
    await vlm.aclose()


def test_thinking_on_and_off(served: tuple[str, dict[str, Path]]) -> None:
    vlm = client(served, "qwen3_5")
    on = vlm.ask(SMALL, "Why?", enable_thinking=True, max_tokens=8)
    off = vlm.ask(SMALL, "Why?", enable_thinking=False, max_tokens=8)
    assert accepted(on) and accepted(off)
    assert on.thinking  # the server returned reasoning_content
    assert off.thinking is None


class Receipt(BaseModel):
    total: float


def test_extract_with_a_pydantic_model(served: tuple[str, dict[str, Path]]) -> None:
    result = client(served, "qwen3_vl").extract(SMALL, Receipt, max_tokens=8)
    assert isinstance(result, Extraction) and accepted(result)
    assert result.data is None or isinstance(result.data, Receipt)


def test_max_tokens_3_is_flagged_truncated(served: tuple[str, dict[str, Path]]) -> None:
    caption = client(served, "qwen2_5_vl").caption(SMALL, max_tokens=3)
    assert caption.finish_reason == "length" and caption.truncated
    assert caption.usage is not None and caption.usage.completion_tokens == 3
    boxes = client(served, "qwen3_vl").detect(SMALL, ["cat"], max_tokens=3)
    assert boxes.truncated and not boxes.ok


def test_a_wrong_model_name_carries_the_servers_message(served: tuple[str, dict[str, Path]]) -> None:
    url, _ = served
    vlm = QwenVLM(
        "/nonexistent/model", backend="openai", base_url=url, api_key=KEY, family="qwen3_vl",
        max_retries=0,
    )  # fmt: skip
    result = vlm.caption(SMALL, max_tokens=3)
    assert isinstance(result.exception, ServerError) and result.exception.status_code == 500
    assert "Internal Server Error" in (result.error or "")  # the server's own words, not just a code
    assert KEY not in (result.error or "")


def test_an_unknown_field_is_rejected_with_the_servers_reason_and_no_schema_fallback(
    served: tuple[str, dict[str, Path]],
) -> None:
    vlm = client(served, "qwen3_vl", extra_body={"bogus_field": 1})
    result = vlm.extract(SMALL, {"total": "the amount"}, max_tokens=3)
    assert isinstance(result.exception, BadRequestError) and result.exception.status_code == 422
    assert "Unexpected fields in the request" in (result.error or "") and "bogus_field" in (
        result.error or ""
    )
    # Not a structured-output rejection: the schema is still sent on the next call.
    assert vlm.backend._requests.schema_supported  # type: ignore[attr-defined]


def test_qwen25_boxes_behind_a_shrinking_server_are_an_error_not_wrong(
    served: tuple[str, dict[str, Path]],
) -> None:
    # Sent at 812x532 (the SDK's default budget): the server's processor shrinks it to 616x392.
    shrunk = client(served, "qwen2_5_vl").detect(BIG, ["cat"], max_tokens=4)
    assert isinstance(shrunk.exception, ImageResizedError)
    assert "max_pixels=" in (shrunk.error or "") and shrunk.text  # the answer is kept
    assert len(shrunk) == 0
    # With max_pixels at the server's cap, the image goes out already small enough: no resize, no error.
    fitted = client(served, "qwen2_5_vl", max_pixels=SERVER_CAP).detect(BIG, ["cat"], max_tokens=4)
    assert not isinstance(fitted.exception, ImageResizedError) and accepted(fitted)
    # The 0-1000 grid of Qwen3-VL does not depend on the size the model saw: no error needed there.
    grid = client(served, "qwen3_vl").detect(BIG, ["cat"], max_tokens=4)
    assert accepted(grid)


def test_a_group_and_a_video_reach_the_server_as_several_images(served: tuple[str, dict[str, Path]]) -> None:
    from qwen_vlm import Events, Images, Video

    vlm = client(served, "qwen3_vl", max_pixels=SERVER_CAP)
    one = vlm.ask(SMALL, "Same?", max_tokens=4)
    two = vlm.ask(Images(SMALL, SMALL), "Same?", max_tokens=4)
    assert accepted(one) and accepted(two) and one.usage is not None and two.usage is not None
    image_tokens = two.usage.prompt_tokens - one.usage.prompt_tokens
    assert image_tokens > 0  # the server counted the second image
    events = vlm.locate_events(
        Video([SMALL] * 4, timestamps=[0.0, 0.5, 1.0, 1.5]), ["a change"], max_tokens=8
    )
    assert isinstance(events, Events) and accepted(events) and events.usage is not None
    assert events.usage.prompt_tokens > one.usage.prompt_tokens + 2 * image_tokens  # four timed frames
