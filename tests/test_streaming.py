"""Streaming answers, sync and async: local tiny checkpoint, loopback SSE server, and the fake backend."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qwen_vlm import AsyncQwenVLM, ConfigurationError, QwenVLM, ServerError, TextResult
from qwen_vlm.streaming import StreamEvent
from qwen_vlm.testing import FakeBackend

IMG = Image.new("RGB", (320, 240), (200, 40, 40))


def joined(events: list[StreamEvent], kind: str = "text") -> str:
    return "".join(e.delta for e in events if e.kind == kind)


def comparable(result: Any) -> dict[str, Any]:
    out = result.to_dict()
    out.pop("usage", None)
    return out


# ----------------------------------------------------------------------------- fake backend
def test_fake_backend_streams_and_ends_with_the_same_result() -> None:
    answer = "<think>the roof is red</think>\n\nA small red house under a sun."
    vlm = QwenVLM(backend=FakeBackend(answer))
    with vlm.stream("caption", IMG) as stream:
        events = list(stream)
    assert joined(events) == "A small red house under a sun." == stream.result.text
    assert joined(events, "thinking") == "the roof is red" and "red" not in joined(events)[:5]
    assert comparable(stream.result) == comparable(QwenVLM(backend=FakeBackend(answer)).caption(IMG))


def test_stream_refuses_lists_and_backends_that_cannot_stream() -> None:
    with pytest.raises(ConfigurationError, match="stream takes one image"):
        QwenVLM(backend=FakeBackend("x")).stream("caption", [IMG, IMG])

    class NoStream(FakeBackend):
        stream = None  # type: ignore[assignment]

    with pytest.raises(ConfigurationError, match="cannot stream"):
        QwenVLM(backend=NoStream("x")).stream("caption", IMG)
    with pytest.raises(ConfigurationError, match="has not ended"):
        _ = QwenVLM(backend=FakeBackend("x y")).stream("caption", IMG).result


def test_async_stream_checks_its_parameters_at_the_call() -> None:
    vlm = AsyncQwenVLM(backend=FakeBackend("x"))
    with pytest.raises(ConfigurationError, match="classify needs classes"):
        vlm.stream("classify", IMG)
    with pytest.raises(ConfigurationError, match="stream takes one image"):
        vlm.stream("caption", [IMG])
    with pytest.raises(ConfigurationError, match="temperature"):
        vlm.stream("caption", IMG, temperature=5)


async def test_fake_backend_async_stream() -> None:
    vlm = AsyncQwenVLM(backend=FakeBackend('[{"bbox_2d": [0, 0, 500, 500], "label": "cat"}]'))
    stream = vlm.stream("detect", IMG, classes=["cat"])
    events = [event async for event in stream]
    assert joined(events) == stream.result.text and stream.result.xyxy == [(0.0, 0.0, 160.0, 120.0)]


# ----------------------------------------------------------------------------- local tiny checkpoint
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import os

    from qwen_vlm.tiny import build_tiny_checkpoint

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    root = tmp_path_factory.mktemp("stream")
    return {
        "plain": build_tiny_checkpoint(root / "plain", "qwen3_vl"),
        "thinking": build_tiny_checkpoint(root / "thinking", "qwen3_vl", thinking=True),
    }


def local(path: Path, answer: str) -> QwenVLM:
    from qwen_vlm.tiny import scripted

    return QwenVLM(path, device="cpu", generate_kwargs=scripted(answer))


def test_local_stream_equals_the_plain_call(tiny: dict[str, Path]) -> None:
    answer = "A red square on a plain background, drawn with care."
    vlm = local(tiny["plain"], answer)
    stream = vlm.stream("caption", IMG, max_tokens=60)
    events = list(stream)
    plain = vlm.caption(IMG, max_tokens=60)
    assert len([e for e in events if e.kind == "text"]) > 3  # it really arrives in pieces
    assert joined(events) == plain.text == answer
    assert comparable(stream.result) == comparable(plain) and stream.result.usage == plain.usage


def test_local_stream_separates_thinking(tiny: dict[str, Path]) -> None:
    vlm = local(tiny["thinking"], "The square is red.</think>\n\nRed.")
    stream = vlm.stream("ask", IMG, question="What colour?", max_tokens=40)
    events = list(stream)
    assert joined(events, "thinking").strip() == "The square is red."
    assert joined(events) == "Red." == stream.result.text and stream.result.thinking == "The square is red."


def test_breaking_out_stops_local_generation_at_once(tiny: dict[str, Path]) -> None:
    long_answer = " ".join(f"word{k}" for k in range(150))
    vlm = local(tiny["plain"], long_answer)
    backend: Any = vlm.backend
    with vlm.stream("caption", IMG, max_tokens=400) as stream:
        first = next(iter(stream))
        assert first.kind == "text"
    start = time.monotonic()
    assert backend._lock.acquire(timeout=0.1), "the backend must be free within 100 ms"
    backend._lock.release()
    assert time.monotonic() - start < 0.1
    assert len(stream.text) < len(long_answer) / 2  # it did not run to the end
    again = vlm.caption(IMG, max_tokens=8)  # the next call works
    assert isinstance(again, TextResult)


def test_breaking_out_of_a_bare_for_loop_stops_too(tiny: dict[str, Path]) -> None:
    vlm = local(tiny["plain"], " ".join(f"word{k}" for k in range(150)))
    backend: Any = vlm.backend
    for event in vlm.stream("caption", IMG, max_tokens=400):
        assert event.kind == "text"
        break  # no `with`: the dropped stream stops the generation
    assert backend._lock.acquire(timeout=0.1)
    backend._lock.release()


async def test_local_async_stream(tiny: dict[str, Path]) -> None:
    from qwen_vlm.tiny import scripted

    answer = "A red square."
    vlm = AsyncQwenVLM(tiny["plain"], device="cpu", generate_kwargs=scripted(answer))
    stream = vlm.stream("caption", IMG, max_tokens=30)
    events = [event async for event in stream]
    assert joined(events) == answer == stream.result.text
    long_vlm = AsyncQwenVLM(tiny["plain"], device="cpu", generate_kwargs=scripted("x " * 200))
    stream = long_vlm.stream("caption", IMG, max_tokens=400)
    async for _event in stream:
        break
    await stream.aclose()
    backend: Any = long_vlm.backend
    assert backend._lock.acquire(timeout=0.1)
    backend._lock.release()


# ----------------------------------------------------------------------------- loopback SSE server
pytest.importorskip("openai")
from chat_server import Reply, chat_server, chunk, completion  # noqa: E402

USAGE = {"prompt_tokens": 300, "completion_tokens": 9, "total_tokens": 309}
EVENTS = [
    chunk(reasoning="Looking at "),
    chunk(reasoning="the colours."),
    chunk("A red"),
    chunk(" square"),
    chunk(" on white."),
    chunk(finish_reason="stop"),
    chunk(usage=USAGE),
]


def remote(url: str, **options: Any) -> QwenVLM:
    return QwenVLM("Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=url,
                   retry_base_delay=0.01, retry_max_delay=0.02, **options)  # fmt: skip


def test_sse_stream_with_reasoning_equals_the_plain_call() -> None:
    with chat_server() as server:
        server.script = lambda n, body: (
            Reply(events=EVENTS) if body.get("stream") else
            Reply(body=completion("A red square on white.", reasoning="Looking at the colours."))
        )  # fmt: skip
        vlm = remote(server.url)
        stream = vlm.stream("caption", IMG)
        events = list(stream)
        plain = vlm.caption(IMG)
        assert server.requests[0]["stream_options"] == {"include_usage": True}
    assert joined(events) == "A red square on white." == plain.text
    assert joined(events, "thinking") == "Looking at the colours." == stream.result.thinking
    assert stream.result.usage is not None and stream.result.usage.completion_tokens == 9
    assert stream.result.finish_reason == "stop"
    assert comparable(stream.result) == comparable(plain)


def test_an_error_chunk_and_a_dropped_connection_raise_typed_errors() -> None:
    with chat_server() as server:
        server.script = lambda n, body: Reply(
            events=[
                chunk("A red"),
                chunk(error={"code": 502, "message": "provider died"}, finish_reason="error"),
            ]
        )
        stream = remote(server.url).stream("caption", IMG)
        with pytest.raises(ServerError, match="provider died"):
            list(stream)
        assert stream.text == "A red"
        server.script = lambda n, body: Reply(events=EVENTS, drop_after=3)
        with pytest.raises(ServerError, match="broke off"):
            list(remote(server.url).stream("caption", IMG))
        assert len(server.requests) == 2  # never retried after the first delta


def test_retries_happen_before_the_first_delta() -> None:
    with chat_server() as server:
        server.script = lambda n, body: (
            Reply(503, {"error": {"message": "busy"}}) if n == 0 else Reply(events=EVENTS)
        )
        stream = remote(server.url).stream("caption", IMG)
        assert stream.get_result().text == "A red square on white."
        assert len(server.requests) == 2


def test_breaking_out_closes_the_connection() -> None:
    with chat_server() as server:
        many = [chunk(f"word{k} ") for k in range(200)]
        server.script = lambda n, body: Reply(events=many, event_delay=0.01)
        with remote(server.url).stream("caption", IMG) as stream:
            for _event in stream:
                break
        deadline = time.monotonic() + 3
        while server.streams_closed_early == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.streams_closed_early == 1 and server.streams_completed == 0


async def test_async_sse_stream_and_early_close() -> None:
    with chat_server() as server:
        server.script = lambda n, body: Reply(events=EVENTS)
        vlm = AsyncQwenVLM("Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=server.url)
        stream = vlm.stream("caption", IMG)
        events = [event async for event in stream]
        assert (
            joined(events) == "A red square on white."
            and joined(events, "thinking") == "Looking at the colours."
        )
        many = [chunk(f"w{k} ") for k in range(200)]
        server.script = lambda n, body: Reply(events=many, event_delay=0.01)
        stream = vlm.stream("caption", IMG)
        async for _event in stream:
            break
        await stream.aclose()
        import asyncio

        for _ in range(150):
            if server.streams_closed_early:
                break
            await asyncio.sleep(0.02)
        assert server.streams_closed_early == 1
        server.script = lambda n, body: Reply(events=[chunk("x"), chunk(error={"message": "boom"})])
        with pytest.raises(ServerError, match="boom"):
            async for _event in vlm.stream("caption", IMG):
                pass
