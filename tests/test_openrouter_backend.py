"""The remote backend against a real chat-completions server on 127.0.0.1, with injected faults.

Every fault test asserts both the outcome and how many requests reached the server.
"""

from __future__ import annotations

import base64
import io
import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("openai")
pytest.importorskip("tenacity")

from chat_server import ChatServer, Reply, chat_server, completion

from qwen_vlm import (
    AsyncQwenVLM,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ImageResizedError,
    InsufficientCreditsError,
    ModelNotFoundError,
    QwenVLM,
    RateLimitError,
    RequestTimeoutError,
    TokenLimitError,
)
from qwen_vlm.geometry import smart_resize

KEY = "sk-or-v1-SECRET-7f3a9c"
IMG = Image.new("RGB", (640, 480), (40, 90, 200))
FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with chat_server() as s:
        yield s


def client(server: ChatServer, model: str = "qwen/qwen3-vl-8b-instruct", **options: Any) -> QwenVLM:
    merged = {**FAST, **options}
    return QwenVLM(model, backend="openrouter", base_url=server.url, api_key=KEY, **merged)


def decode_image(body: dict[str, Any]) -> Image.Image:
    url = body["messages"][0]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def fail_first(n_failures: int, reply: Reply, then: Reply | None = None) -> Any:
    return lambda n, body: reply if n < n_failures else (then or Reply(body=completion("fine")))


# ----------------------------------------------------------------------------- faults
def test_429_with_retry_after_is_honoured(server: ChatServer) -> None:
    limited = Reply(429, {"error": {"message": "slow down", "code": 429}}, {"Retry-After": "0.3"})
    server.script = fail_first(2, limited)
    start = time.monotonic()
    result = client(server, retry_max_delay=5).ask(IMG, "q")
    elapsed = time.monotonic() - start
    assert result.ok and result.text == "fine"
    assert len(server.requests) == 3
    assert elapsed >= 0.6  # two waits of Retry-After = 0.3 s, not the 0.01 s backoff


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_are_retried(status: int, server: ChatServer) -> None:
    server.script = fail_first(2, Reply(status, {"error": {"message": "upstream"}}))
    result = client(server).ask(IMG, "q")
    assert result.ok and len(server.requests) == 3


def test_persistent_5xx_gives_up_after_max_retries(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(502, {"error": {"message": "provider returned error"}})
    result = client(server, max_retries=2).ask(IMG, "q")
    assert not result.ok and result.error is not None
    assert "ServerError" in result.error and "provider returned error" in result.error
    assert len(server.requests) == 3


def test_slow_response_past_the_timeout(server: ChatServer) -> None:
    server.script = fail_first(1, Reply(body=completion("late"), delay=1.5))
    result = client(server, timeout=0.4).ask(IMG, "q")
    assert result.ok and result.text == "fine"
    assert len(server.requests) == 2
    server.requests.clear()
    server.script = lambda n, body: Reply(body=completion("late"), delay=1.5)
    with pytest.raises(RequestTimeoutError, match="timeout"):
        client(server, timeout=0.4, max_retries=1).ask(IMG, "q", strict=True)
    assert len(server.requests) == 2


def test_error_inside_a_200_body_is_retried(server: ChatServer) -> None:
    error_body = {"error": {"code": 502, "message": "provider down"}, "choices": []}
    server.script = fail_first(1, Reply(200, error_body))
    assert client(server).ask(IMG, "q").text == "fine"
    assert len(server.requests) == 2


def test_non_transient_error_inside_a_200_body_is_not_retried(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(200, {"error": {"code": 400, "message": "bad image"}})
    result = client(server).ask(IMG, "q")
    assert result.error is not None and "BadRequestError" in result.error and "bad image" in result.error
    assert len(server.requests) == 1


def test_empty_choices(server: ChatServer) -> None:
    empty = {**completion("x"), "choices": []}
    server.script = fail_first(1, Reply(200, empty))
    assert client(server).ask(IMG, "q").ok
    assert len(server.requests) == 2
    server.requests.clear()
    server.script = lambda n, body: Reply(200, empty)
    result = client(server, max_retries=1).ask(IMG, "q")
    assert result.error is not None and "no choices" in result.error
    assert len(server.requests) == 2


def test_content_null_with_finish_length_says_the_budget_ran_out(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(
        body=completion(None, finish_reason="length", reasoning="I am thinking very hard")
    )
    result = client(server, "qwen/qwen3.6-27b").ask(IMG, "q", max_tokens=50)
    assert result.error is not None
    assert "TokenLimitError" in result.error and "raise max_tokens" in result.error
    assert "enable_thinking=False" in result.error
    assert result.thinking == "I am thinking very hard"
    assert len(server.requests) == 1  # not retried: the same request would fail the same way
    with pytest.raises(TokenLimitError):
        client(server, "qwen/qwen3.6-27b").ask(IMG, "q", strict=True)


def test_malformed_json_body_is_retried(server: ChatServer) -> None:
    server.script = fail_first(2, Reply(200, '{"id": "x", "choices": [{"mess'))
    assert client(server).ask(IMG, "q").text == "fine"
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (402, InsufficientCreditsError),
        (404, ModelNotFoundError),
    ],
)
def test_whole_call_errors_raise_without_retry(
    status: int, error: type[Exception], server: ChatServer
) -> None:
    server.script = lambda n, body: Reply(status, {"error": {"message": f"nope {status}", "code": status}})
    with pytest.raises(error, match=f"nope {status}"):
        client(server, max_concurrent_requests=1).caption([IMG, IMG, IMG])
    assert len(server.requests) == 1  # raised at once, nothing retried, the batch stopped


def test_400_is_per_image_and_not_retried(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(400, {"error": {"message": "invalid image"}})
    results = client(server, max_concurrent_requests=1).caption([IMG, IMG])
    assert all(r.error is not None and "BadRequestError" in r.error for r in results)
    assert len(server.requests) == 2
    with pytest.raises(BadRequestError):
        client(server).caption(IMG, strict=True)


def test_403_moderation_is_per_image(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(403, {"error": {"message": "Input was flagged by moderation"}})
    result = client(server).caption(IMG)
    assert result.error is not None and "moderation" in result.error


def test_rate_limit_exhausted_reports_retry_after(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(429, {"error": {"message": "busy"}}, {"Retry-After": "0.01"})
    with pytest.raises(RateLimitError) as info:
        client(server, max_retries=1).ask(IMG, "q", strict=True)
    assert info.value.retry_after == pytest.approx(0.01)
    assert len(server.requests) == 2


# ----------------------------------------------------------------------------- batches
def nearest_index(color: tuple[int, ...], palette: list[tuple[int, int, int]]) -> int:
    return min(
        range(len(palette)), key=lambda i: sum((a - b) ** 2 for a, b in zip(color, palette[i], strict=True))
    )


def colored_batch(n: int) -> tuple[list[Image.Image], list[tuple[int, int, int]]]:
    palette = [((i % 10) * 25, ((i // 10) % 10) * 25, (i // 100) * 120) for i in range(n)]
    return [Image.new("RGB", (96, 64), c) for c in palette], palette


def color_echo(faults: dict[str, int], rate: float, seed: int = 7) -> Any:
    rng = random.Random(seed)
    lock = threading.Lock()

    def script(n: int, body: dict[str, Any]) -> Reply:
        with lock:
            fault = rng.random() < rate
            kind = rng.choice([429, 500, 502, 503, 200])
        if fault:
            faults["count"] = faults.get("count", 0) + 1
            if kind == 200:
                return Reply(200, {"error": {"code": 503, "message": "no provider"}})
            return Reply(
                kind, {"error": {"message": "transient"}}, {"Retry-After": "0"} if kind == 429 else {}
            )
        color = decode_image(body).getpixel((10, 10))
        return Reply(body=completion(",".join(str(c) for c in color)))

    return script


def test_batch_of_200_with_20_percent_faults(server: ChatServer) -> None:
    images, palette = colored_batch(200)
    faults: dict[str, int] = {}
    server.script = color_echo(faults, 0.2)
    results = client(server, max_concurrent_requests=16, max_retries=10).ask(images, "colour?")
    assert len(results) == 200
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    decoded = [nearest_index(tuple(int(v) for v in r.text.split(",")), palette) for r in results]
    assert decoded == list(range(200))  # in order, none duplicated or lost
    print(f"\n200 images, {faults['count']} injected faults, {len(server.requests)} requests sent")
    assert len(server.requests) == 200 + faults["count"]
    assert 20 <= faults["count"] <= 90


async def test_async_batch_with_faults(server: ChatServer) -> None:
    images, palette = colored_batch(60)
    faults: dict[str, int] = {}
    server.script = color_echo(faults, 0.2, seed=3)
    vlm = AsyncQwenVLM(
        "qwen/qwen3-vl-8b-instruct", backend="openrouter", base_url=server.url, api_key=KEY,
        max_concurrent_requests=8, max_retries=10, **FAST,
    )  # fmt: skip
    results = await vlm.ask(images, "colour?")
    decoded = [nearest_index(tuple(int(v) for v in r.text.split(",")), palette) for r in results]
    assert decoded == list(range(60))
    assert len(server.requests) == 60 + faults["count"]
    # The images go out as 320x224 (the minimum pixels): the test server counts 20 + 12x8 prompt tokens.
    assert all(
        r.usage is not None and (r.usage.prompt_tokens, r.usage.total_tokens) == (116, 121) for r in results
    )
    await vlm.aclose()


async def test_async_whole_call_error(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(401, {"error": {"message": "bad key"}})
    vlm = AsyncQwenVLM("qwen/qwen3-vl-8b-instruct", backend="openrouter", base_url=server.url, api_key=KEY)
    with pytest.raises(AuthenticationError):
        await vlm.caption([IMG, IMG])


def test_concurrency_is_bounded(server: ChatServer) -> None:
    active = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def script(n: int, body: dict[str, Any]) -> Reply:
        with lock:
            active["now"] += 1
            active["peak"] = max(active["peak"], active["now"])
        time.sleep(0.05)
        with lock:
            active["now"] -= 1
        return Reply(body=completion("x"))

    server.script = script
    client(server, max_concurrent_requests=4).caption([IMG] * 16)
    assert active["peak"] == 4


# ----------------------------------------------------------------------------- request bodies
def test_request_body_shape(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(body=completion("ok", cost=0.00042))
    result = client(server, app_name="my-app", app_url="https://example.com").ask(
        IMG, "What is it?", temperature=0.2
    )
    body = server.requests[0]
    assert body["model"] == "qwen/qwen3-vl-8b-instruct"
    assert body["max_tokens"] == 1024 and body["temperature"] == 0.2
    (message,) = body["messages"]
    assert message["role"] == "user"
    assert [part["type"] for part in message["content"]] == ["image_url", "text"]  # image first
    assert message["content"][1]["text"] == "What is it?"
    sent = decode_image(body)
    assert sent.size == smart_resize(640, 480, factor=32, min_pixels=65536, max_pixels=1280 * 32 * 32)
    assert body["provider"] == {"data_collection": "deny"}
    assert "reasoning" not in body  # an instruct model has no reasoning to switch
    assert "response_format" not in body
    assert (
        server.headers[0]["x-title"] == "my-app"
        and server.headers[0]["http-referer"] == "https://example.com"
    )
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"
    assert result.usage is not None and result.usage.cost == pytest.approx(0.00042)


@pytest.mark.parametrize(
    ("privacy", "provider"),
    [
        ("allow", {"data_collection": "allow"}),
        ("deny", {"data_collection": "deny"}),
        ("zdr", {"data_collection": "deny", "zdr": True}),
    ],
)
def test_privacy_levels(privacy: str, provider: dict[str, Any], server: ChatServer) -> None:
    client(server, privacy=privacy).caption(IMG)
    assert server.requests[0]["provider"] == provider


def test_reasoning_off_by_default_on_with_enable_thinking(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(body=completion("answer", reasoning="because"))
    vlm = client(server, "qwen/qwen3.6-27b")
    off = vlm.caption(IMG)
    assert server.requests[0]["reasoning"] == {"enabled": False}
    assert off.ok and off.text == "answer"
    on = vlm.caption(IMG, enable_thinking=True)
    assert server.requests[1]["reasoning"] == {"enabled": True}
    assert on.thinking == "because" and on.text == "answer"
    assert server.requests[1]["max_tokens"] == 4096  # thinking raises the default budget
    assert server.requests[0]["max_tokens"] == 256


def test_thinking_only_models_never_get_reasoning_off(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(body=completion("a cat", reasoning="hmm"))
    result = client(server, "qwen/qwen3-vl-8b-thinking").caption(IMG)
    assert "reasoning" not in server.requests[0]
    assert result.thinking == "hmm" and result.text == "a cat"
    client(server, "qwen/qwen3.8-max").caption(IMG, enable_thinking=False)
    assert "reasoning" not in server.requests[1]


def test_think_tags_in_content_are_split(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(body=completion("<think>inner</think>outer"))
    result = client(server, "qwen/qwen3.6-27b").caption(IMG)
    assert (result.thinking, result.text) == ("inner", "outer")


@pytest.mark.parametrize(
    ("server_name", "off_fields", "reasoning_field"),
    [
        ("vllm", {"chat_template_kwargs": {"enable_thinking": False}}, "reasoning"),
        ("sglang", {"chat_template_kwargs": {"enable_thinking": False}}, "reasoning_content"),
        ("ollama", {"reasoning_effort": "none"}, "reasoning"),
        ("dashscope", {"enable_thinking": False}, "reasoning_content"),
    ],
)
def test_server_table(
    server_name: str, off_fields: dict[str, Any], reasoning_field: str, server: ChatServer
) -> None:
    server.script = lambda n, body: Reply(
        body=completion("ok", reasoning="r", reasoning_field=reasoning_field)
    )
    vlm = QwenVLM("Qwen/Qwen3.5-9B", backend="openai", base_url=server.url, server=server_name, **FAST)
    result = vlm.caption(IMG)
    body = server.requests[0]
    for key, value in off_fields.items():
        assert body[key] == value
    assert "provider" not in body and "reasoning" not in body
    assert result.thinking == "r"
    assert server.headers[0]["authorization"] == "Bearer EMPTY"


def test_server_guessed_from_url() -> None:
    from qwen_vlm.backends.openai_compatible.servers import guess_server

    assert guess_server("https://openrouter.ai/api/v1") == "openrouter"
    assert guess_server("https://dashscope-intl.aliyuncs.com/compatible-mode/v1") == "dashscope"
    assert guess_server("http://localhost:11434/v1") == "ollama"
    assert guess_server("http://gpu-box:8000/v1") == "vllm"


def test_structured_output_sends_schema_and_falls_back(server: ChatServer) -> None:
    def script(n: int, body: dict[str, Any]) -> Reply:
        if "response_format" in body:
            return Reply(400, {"error": {"message": "response_format is not supported"}})
        return Reply(body=completion('{"total": "8.75"}'))

    server.script = script
    vlm = client(server)
    result = vlm.extract(IMG, {"total": "the amount paid"})
    assert result.data == {"total": "8.75"}
    first, second = server.requests
    assert first["response_format"]["type"] == "json_schema"
    assert first["response_format"]["json_schema"]["schema"]["required"] == ["total"]
    assert first["provider"]["require_parameters"] is True
    assert "response_format" not in second and "require_parameters" not in second["provider"]
    vlm.extract(IMG, {"total": "the amount paid"})
    assert len(server.requests) == 3 and "response_format" not in server.requests[2]  # remembered


def test_structured_output_validates_what_comes_back(server: ChatServer) -> None:
    from pydantic import BaseModel

    class Receipt(BaseModel):
        total: float

    server.script = lambda n, body: Reply(body=completion('{"total": "lots"}'))
    result = client(server).extract(IMG, Receipt)
    assert result.data is None and result.error is not None and "Receipt" in result.error
    assert server.requests[0]["response_format"]["json_schema"]["schema"]["title"] == "Receipt"


@pytest.mark.parametrize("server_name", ["vllm", "sglang", "openrouter", "generic"])
def test_grammars_for_detection_and_classification_go_where_the_server_takes_them(
    server_name: str, server: ChatServer
) -> None:
    answers = {
        "detect": '[{"bbox_2d": [100, 100, 500, 500], "label": "cat"}]',
        "classify": '{"label": "cat"}',
    }
    server.script = lambda n, body: Reply(body=completion(answers["detect" if n == 0 else "classify"]))
    vlm = QwenVLM(
        "Qwen/Qwen3-VL-8B-Instruct", backend="openai", base_url=server.url, server=server_name, **FAST
    )
    assert vlm.detect(IMG, ["cat", "dog"]).ok and vlm.classify(IMG, ["cat", "dog"]).label == "cat"
    detect_body, classify_body = server.requests
    if server_name in ("vllm", "sglang"):
        schema = detect_body["response_format"]["json_schema"]["schema"]
        assert schema["items"]["properties"]["label"] == {"enum": ["cat", "dog"]}
        assert schema["items"]["properties"]["bbox_2d"]["prefixItems"][2]["maximum"] == 1000
        assert classify_body["response_format"]["json_schema"]["name"] == "classify"
    else:  # elsewhere only extract sends a schema
        assert "response_format" not in detect_body and "response_format" not in classify_body


def test_constrained_false_sends_no_schema(server: ChatServer) -> None:
    server.script = lambda n, body: Reply(body=completion('{"total": "8.75"}'))
    vlm = client(server)
    assert vlm.extract(IMG, {"total": "the amount"}, constrained=False).data == {"total": "8.75"}
    assert "response_format" not in server.requests[0]
    off = client(server, constrained=False)
    assert off.extract(IMG, {"total": "the amount"}).ok and "response_format" not in server.requests[1]


# ----------------------------------------------------------------------------- coordinates over HTTP
def box_on_sent_image(fraction: float, absolute: bool) -> Any:
    def script(n: int, body: dict[str, Any]) -> Reply:
        w, h = decode_image(body).size
        if absolute:
            box = [0, 0, round(w * fraction), round(h * fraction)]
        else:
            box = [0, 0, round(1000 * fraction), round(1000 * fraction)]
        return Reply(body=completion(f'```json\n[{{"bbox_2d": {box}, "label": "thing"}}]\n```'))

    return script


@pytest.mark.parametrize(
    ("model", "absolute"), [("qwen/qwen2.5-vl-72b-instruct", True), ("qwen/qwen3-vl-8b-instruct", False)]
)
def test_boxes_land_in_original_pixels(model: str, absolute: bool, server: ChatServer) -> None:
    image = Image.new("RGB", (1000, 300), (0, 0, 0))  # the resize changes the aspect
    server.script = box_on_sent_image(0.5, absolute)
    detections = client(server, model).detect(image, ["thing"])
    sent = decode_image(server.requests[0]).size
    factor = 28 if absolute else 32
    assert sent[0] % factor == 0 and sent[1] % factor == 0
    assert detections.error is None
    assert detections[0].xyxy == pytest.approx((0, 0, 500, 150), abs=1.5)


def test_points_over_http(server: ChatServer) -> None:
    def script(n: int, body: dict[str, Any]) -> Reply:
        w, h = decode_image(body).size
        return Reply(body=completion(f'[{{"point_2d": [{w // 4}, {h // 2}], "label": "p"}}]'))

    server.script = script
    points = client(server, "qwen/qwen2.5-vl-32b-instruct").point(Image.new("RGB", (1200, 500)), ["p"])
    assert points[0].xy == pytest.approx((300, 250), abs=3)


def test_large_photo_is_downscaled_and_under_the_payload_cap(server: ChatServer) -> None:
    rng = random.Random(0)
    noisy = Image.frombytes("RGB", (4000, 3000), rng.randbytes(4000 * 3000 * 3))
    client(server, max_pixels=16_000_000).caption(noisy)
    url = server.requests[0]["messages"][0]["content"][0]["image_url"]["url"]
    assert len(url) < 9.5 * 1024 * 1024
    sent = decode_image(server.requests[0]).size
    assert sent[0] % 32 == 0 and sent[1] % 32 == 0 and sent[0] * sent[1] <= 16_000_000
    server.requests.clear()
    client(server).caption(noisy)
    assert decode_image(server.requests[0]).size == smart_resize(
        4000, 3000, factor=32, min_pixels=65536, max_pixels=1280 * 32 * 32
    )


def test_http_urls_pass_through_unless_pixels_are_needed(server: ChatServer) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 400)).save(buffer, format="PNG")
    server.files["/photo.png"] = buffer.getvalue()
    url = f"{server.root}/photo.png"
    client(server).caption(url)
    assert server.requests[0]["messages"][0]["content"][0]["image_url"]["url"] == url
    server.script = lambda n, body: Reply(body=completion('[{"bbox_2d": [0, 0, 1000, 1000], "label": "x"}]'))
    detections = client(server).detect(url)
    assert server.requests[1]["messages"][0]["content"][0]["image_url"]["url"].startswith("data:image/jpeg")
    assert detections[0].xyxy == (0.0, 0.0, 800.0, 400.0)


# ----------------------------------------------------------------------------- configuration and secrets
def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENROUTER_API_KEY"):
        QwenVLM("qwen/qwen3.6-27b", backend="openrouter")


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch, server: ChatServer) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    QwenVLM("qwen/qwen3.6-27b", backend="openrouter", base_url=server.url).caption(IMG)
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"


def test_key_never_appears_in_repr_errors_or_logs(
    server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script = fail_first(
        1, Reply(500, {"error": {"message": f"upstream rejected key {KEY}"}}),
        Reply(401, {"error": {"message": f"invalid key {KEY}"}}),
    )  # fmt: skip
    vlm = client(server)
    with pytest.raises(AuthenticationError) as info:
        vlm.caption(IMG)
    texts = [repr(vlm), str(vlm), repr(vlm.backend), str(info.value), repr(info.value), caplog.text]
    assert len(server.requests) == 2
    assert "invalid key ***" in str(info.value)
    for text in texts:
        assert KEY not in text
    assert "retrying" in caplog.text  # the log line exists, scrubbed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "qwen/qwen3.6-max-preview", "backend": "openrouter"}, "text-only"),
        ({"model": "Qwen/Qwen3-VL-8B-Instruct", "backend": "openrouter"}, "Did you mean"),
        ({"model": "Qwen/Qwen3-VL-8B-Instruct", "backend": "openai"}, "base_url"),
        ({"model": "qwen/qwen3.6-27b", "backend": "openrouter", "privacy": "public"}, "privacy must be"),
        (
            {
                "model": "m",
                "backend": "openai",
                "base_url": "http://x:8000/v1",
                "family": "qwen3_vl",
                "privacy": "zdr",
            },
            "OpenRouter only",
        ),
        ({"model": "qwen/qwen3.6-27b", "backend": "openrouter", "device": "cuda"}, "do not apply"),
        ({"model": "qwen/qwen3.6-27b", "backend": "openrouter", "max_concurrent_requests": 0}, "positive"),
        ({"model": "qwen/qwen3.6-27b", "backend": "openrouter", "timeout": -1}, "timeout"),
    ],
)
def test_configuration_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        QwenVLM(api_key=KEY, **kwargs)


def test_async_client_survives_several_event_loops(server: ChatServer) -> None:
    import asyncio

    vlm = AsyncQwenVLM("qwen/qwen3-vl-8b-instruct", backend="openrouter", base_url=server.url, api_key=KEY)
    first = asyncio.run(vlm.ask(IMG, "q"))
    second = asyncio.run(vlm.ask(IMG, "q"))  # a new loop: the old connections are unusable
    assert first.ok and second.ok, second.error
    assert len(server.requests) == 2


# ----------------------------------------------------------------------------- faithful errors
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"detail": "Unexpected fields in the request: {'bogus'}"}, "Unexpected fields in the request"),
        (
            422,
            {
                "detail": [
                    {"loc": ["body", "messages", 0, "content"], "msg": "field required", "type": "missing"}
                ]
            },
            "messages.0.content: field required",
        ),
        (400, {"error": {"message": "image too small"}}, "image too small"),
        (400, {"message": "top-level message"}, "top-level message"),
        (400, "plain text reason from a proxy", "plain text reason from a proxy"),
        (400, "<html>" + "x" * 5000 + "</html>", "<html>xxx"),
    ],
)
def test_the_servers_reason_reaches_the_error(
    status: int, body: Any, expected: str, server: ChatServer
) -> None:
    server.script = lambda n, b: Reply(status, body)
    result = client(server).caption(IMG)
    assert isinstance(result.exception, BadRequestError) and expected in (result.error or "")
    assert f"({status})" in (result.error or "") and len(result.error or "") < 700  # trimmed


def test_the_key_is_scrubbed_from_the_servers_message(server: ChatServer) -> None:
    server.script = lambda n, b: Reply(400, {"detail": f"bad key {KEY} for this model"})
    result = client(server).caption(IMG)
    assert KEY not in (result.error or "") and "***" in (result.error or "")


@pytest.mark.parametrize(
    "reason", ["model 'qwen/nope' does not exist", "Unexpected fields in the request: {'bogus'}"]
)
def test_an_unrelated_rejection_never_drops_the_schema(reason: str, server: ChatServer) -> None:
    server.script = lambda n, b: Reply(400, {"detail": reason})
    vlm = client(server)
    result = vlm.extract(IMG, {"total": "the amount"})
    assert isinstance(result.exception, BadRequestError) and reason in (result.error or "")
    assert len(server.requests) == 1  # not resent without the schema
    server.script = lambda n, b: Reply(body=completion('{"total": "1"}'))
    vlm.extract(IMG, {"total": "the amount"})
    assert "response_format" in server.requests[1]  # still sent: constrained decoding is not lost


@pytest.mark.parametrize(
    "reason",
    [
        "response_format json_schema is not supported",
        "guided decoding backend not available",
        "Structured output is disabled on this deployment",
    ],
)
def test_a_structured_output_rejection_falls_back_to_prompt_only(reason: str, server: ChatServer) -> None:
    server.script = lambda n, b: (
        Reply(422, {"detail": reason}) if "response_format" in b else Reply(body=completion('{"total": "1"}'))
    )
    assert client(server).extract(IMG, {"total": "the amount"}).data == {"total": "1"}
    assert "response_format" in server.requests[0] and "response_format" not in server.requests[1]


def test_409_is_retried(server: ChatServer) -> None:
    server.script = fail_first(2, Reply(409, {"error": {"message": "conflict"}}))
    result = client(server).caption(IMG)
    assert result.ok and result.text == "fine" and len(server.requests) == 3


def test_truncated_answers_are_flagged(server: ChatServer) -> None:
    server.script = lambda n, b: Reply(body=completion("A red", finish_reason="length"))
    caption = client(server).caption(IMG, max_tokens=2)
    assert caption.ok and caption.truncated and caption.finish_reason == "length"
    server.script = lambda n, b: Reply(body=completion('[{"bbox_2d": [1, 2,', finish_reason="length"))
    boxes = client(server).detect(IMG, ["cat"], max_tokens=9)
    assert boxes.truncated and "cut off at max_tokens=9" in (boxes.error or "")
    assert "contains no JSON" not in (boxes.error or "")


def test_a_shrunk_image_makes_qwen25_boxes_an_error(server: ChatServer) -> None:
    server.count_image_tokens = False  # the server reports 10 prompt tokens: it must have shrunk the image
    server.script = lambda n, b: Reply(body=completion('[{"bbox_2d": [10, 10, 100, 100], "label": "x"}]'))
    result = client(server, "qwen/qwen2.5-vl-72b-instruct").detect(IMG, ["x"])
    assert isinstance(result.exception, ImageResizedError) and "max_pixels=" in (result.error or "")
    off = client(server, "qwen/qwen2.5-vl-72b-instruct", verify_image_size=False).detect(IMG, ["x"])
    assert off.ok and len(off) == 1
    relative = client(server, "qwen/qwen3-vl-8b-instruct").detect(IMG, ["x"])
    assert relative.ok  # 0-1000 coordinates do not depend on the size the model saw


def test_the_same_image_is_encoded_once_per_call(server: ChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from qwen_vlm.backends.openai_compatible.request import RequestBuilder

    calls = {"n": 0}
    original = RequestBuilder.encode

    def counting(self: Any, image: Any) -> Any:
        calls["n"] += 1
        return original(self, image)

    monkeypatch.setattr(RequestBuilder, "encode", counting)
    photo = Image.new("RGB", (1280, 960), (5, 6, 7))
    results = client(server, max_concurrent_requests=1).caption([photo] * 6)
    assert len(results) == 6 and calls["n"] == 1 and len(server.requests) == 6


def test_an_unclosed_async_client_is_quiet_at_exit(server: ChatServer) -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import asyncio, gc
from PIL import Image
from qwen_vlm import AsyncQwenVLM
vlm = AsyncQwenVLM("qwen/qwen3-vl-8b-instruct", backend="openrouter", base_url={server.url!r}, api_key="k")
async def main():
    await vlm.caption([Image.new("RGB", (64, 64))] * 4)
asyncio.run(main())
asyncio.run(main())   # a second loop: the first loop's client is replaced
gc.collect()
print("done")
"""
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).parent,
    )  # fmt: skip
    assert run.returncode == 0 and "done" in run.stdout, run.stderr
    assert "Task exception was never retrieved" not in run.stderr and "Event loop is closed" not in run.stderr


def test_content_as_a_list_of_parts_is_read_as_text(server: ChatServer) -> None:
    body = completion(None)
    body["choices"][0]["message"]["content"] = [
        {"type": "text", "text": "A red "},
        {"type": "text", "text": "house."},
    ]
    server.script = lambda n, b: Reply(body=body)
    assert client(server).caption(IMG).text == "A red house."
