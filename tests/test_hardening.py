"""Nothing a user passes or a model says can crash a call, hang it, or lose a batch's work.

Table-driven, one table per class of defect: bad inputs and options (each must raise the exact typed
error, naming the input, before anything is sent), parser defects (truncation, resynchronisation, several
values, repeated keys, malformed box tokens, absurd numbers, deep nesting) and batch contracts.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import qwen_vlm.images as images_module
from qwen_vlm import (
    BatchError,
    ConfigurationError,
    Detections,
    Extraction,
    GenerationResponse,
    ImageError,
    ModelNotFoundError,
    OutputParseError,
    QwenVLM,
    QwenVLMError,
    RateLimitError,
    TruncatedOutputError,
    parse,
)
from qwen_vlm.testing import FakeBackend

IMG = Image.new("RGB", (640, 480), (10, 120, 30))
Q3 = "Qwen/Qwen3-VL-8B-Instruct"
Q25 = "Qwen/Qwen2.5-VL-7B-Instruct"
Q2 = "Qwen/Qwen2-VL-7B-Instruct"


def png(tmp: Path, name: str = "ok.png") -> Path:
    path = tmp / name
    Image.new("RGB", (32, 24), (1, 2, 3)).save(path)
    return path


# ============================================================================ bad inputs and options
# Each case: (id, a function of tmp_path that makes the call, the exact error type, a regex the message
# must match — it names the input or option).
Case = tuple[str, Callable[[Path], Any], type[BaseException], str]


def _image_call(image: Any) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        fake = FakeBackend("ok")
        try:
            return QwenVLM(backend=fake).caption(image(tmp) if callable(image) else image)
        finally:
            assert fake.requests == [], "a bad input must fail before anything is sent"

    return call


def _bytes_file(data: bytes, name: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return make


def _truncated_png(tmp: Path) -> Path:
    raw = (tmp / "full.png").as_posix()
    Image.new("RGB", (200, 200), (9, 9, 9)).save(raw)
    data = Path(raw).read_bytes()
    return _bytes_file(data[: len(data) // 2], "cut.png")(tmp)


IMAGE_CASES: list[Case] = [
    (
        "path-too-long",
        _image_call("a" * 300 + ".jpg"),
        ImageError,
        r"cannot read file 'aaaa.*File name too long",
    ),
    ("path-nul-byte", _image_call("a\x00b.jpg"), ImageError, r"'a\\x00b\.jpg'"),
    ("path-empty", _image_call(""), ImageError, r"the path is empty"),
    ("path-spaces", _image_call("   "), ImageError, r"the path is empty \(or only spaces\)"),
    ("url-ftp", _image_call("ftp://example.com/a.png"), ImageError, r"unsupported URL scheme 'ftp'"),
    ("url-file", _image_call("file:///etc/passwd"), ImageError, r"unsupported URL scheme 'file'"),
    (
        "path-missing",
        _image_call(lambda t: str(t / "nope.jpg")),
        ImageError,
        r"file not found: '.*nope\.jpg'",
    ),
    ("pathlike-missing", _image_call(lambda t: t / "gone.png"), ImageError, r"file not found: '.*gone\.png'"),
    ("path-directory", _image_call(lambda t: str(t)), ImageError, r"is not a file"),
    ("path-home-unknown-user", _image_call("~no_such_user_qv/a.jpg"), ImageError, r"~no_such_user_qv/a\.jpg"),
    ("file-not-an-image", _image_call(_bytes_file(b"hello", "t.jpg")), ImageError, r"t\.jpg.*not an image"),
    ("file-truncated", _image_call(_truncated_png), ImageError, r"cut\.png.*truncated or corrupt"),
    ("file-empty", _image_call(_bytes_file(b"", "e.png")), ImageError, r"e\.png.* is empty"),
    ("bytes-empty", _image_call(b""), ImageError, r"bytes is empty"),
    ("bytes-garbage", _image_call(b"\x00\x01garbage"), ImageError, r"bytes is not an image"),
    ("url-bad-ipv6", _image_call("https://[::1"), ImageError, r"malformed URL 'https://\[::1'"),
    (
        "url-space",
        _image_call("http://exa mple.com/a.jpg"),
        ImageError,
        r"malformed URL 'http://exa mple.*spaces",
    ),
    ("url-no-host", _image_call("http://"), ImageError, r"malformed URL 'http://'.*no host"),
    ("url-bad-port", _image_call("https://example.com:99999/a.jpg"), ImageError, r"malformed URL.*99999"),
    ("url-control-char", _image_call("http://a\tb.com/x.jpg"), ImageError, r"malformed URL.*control"),
    ("data-url-no-comma", _image_call("data:image/png;base64"), ImageError, r"malformed data: URL"),
    (
        "data-url-not-image",
        _image_call("data:image/png;base64,aGVsbG8="),
        ImageError,
        r"data: URL is not an image",
    ),
    ("pil-zero-size", _image_call(Image.new("RGB", (0, 0))), ImageError, r"zero size \(0x0\)"),
    ("pil-aspect", _image_call(Image.new("RGB", (1, 300))), ImageError, r"1x300, an aspect ratio"),
    (
        "unsupported-int",
        _image_call(42),
        ConfigurationError,
        r"expected an image or a list of images, got int",
    ),
    ("unsupported-dict", _image_call({"a": 1}), ConfigurationError, r"got dict"),
]

try:
    import numpy as np

    IMAGE_CASES += [
        ("numpy-float", _image_call(np.zeros((4, 4, 3), dtype=np.float32)), ImageError, r"dtype float32"),
        (
            "numpy-4d",
            _image_call(np.zeros((1, 4, 4, 3), dtype=np.uint8)),
            ImageError,
            r"shape \(1, 4, 4, 3\)",
        ),
        ("numpy-empty", _image_call(np.zeros((0, 4, 3), dtype=np.uint8)), ImageError, r"zero size"),
    ]
except ImportError:  # pragma: no cover - numpy is a dev dependency
    pass


def _remote(**options: Any) -> Callable[[Path], Any]:
    def call(_tmp: Path) -> Any:
        merged = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", **options}
        return QwenVLM("Qwen/Qwen3-VL-8B-Instruct", **merged)

    return call


OPTION_CASES: list[Case] = [
    (
        "base_url-int",
        _remote(base_url=123),
        ConfigurationError,
        r"base_url must be an http\(s\) URL string, got int",
    ),
    (
        "base_url-not-url",
        _remote(base_url="not a url"),
        ConfigurationError,
        r"base_url is not a valid URL.*http",
    ),
    ("base_url-ftp", _remote(base_url="ftp://x.org/v1"), ConfigurationError, r"base_url is not a valid URL"),
    ("base_url-no-host", _remote(base_url="http:///v1"), ConfigurationError, r"base_url .*no host"),
    (
        "api_key-int",
        _remote(api_key=123),
        ConfigurationError,
        r"api_key must be a non-empty string, got a int",
    ),
    (
        "timeout-nan",
        _remote(timeout=float("nan")),
        ConfigurationError,
        r"timeout must be a finite number > 0, got nan",
    ),
    (
        "timeout-negative",
        _remote(timeout=-1),
        ConfigurationError,
        r"timeout must be a finite number > 0, got -1",
    ),
    ("timeout-str", _remote(timeout="10"), ConfigurationError, r"timeout must be a finite number"),
    ("timeout-inf", _remote(timeout=float("inf")), ConfigurationError, r"timeout must be a finite number"),
    (
        "max_tokens-bool",
        _remote(max_tokens=True),
        ConfigurationError,
        r"max_tokens must be a positive integer, got True",
    ),
    (
        "max_tokens-zero",
        _remote(max_tokens=0),
        ConfigurationError,
        r"max_tokens must be a positive integer, got 0",
    ),
    (
        "max_retries-bool",
        _remote(max_retries=True),
        ConfigurationError,
        r"max_retries must be an integer >= 0, got True",
    ),
    (
        "max_retries-negative",
        _remote(max_retries=-1),
        ConfigurationError,
        r"max_retries must be an integer >= 0",
    ),
    (
        "retry_base_delay-str",
        _remote(retry_base_delay="0.1"),
        ConfigurationError,
        r"retry_base_delay must be a finite",
    ),
    (
        "retry_base_delay-neg",
        _remote(retry_base_delay=-0.1),
        ConfigurationError,
        r"retry_base_delay .* got -0\.1",
    ),
    (
        "retry_max_delay-inf",
        _remote(retry_max_delay=float("inf")),
        ConfigurationError,
        r"retry_max_delay must be",
    ),
    (
        "retry-delays-order",
        _remote(retry_base_delay=5, retry_max_delay=1),
        ConfigurationError,
        r"retry_max_delay \(1\)",
    ),
    (
        "concurrency-zero",
        _remote(max_concurrent_requests=0),
        ConfigurationError,
        r"max_concurrent_requests must be",
    ),
    (
        "concurrency-float",
        _remote(max_concurrent_requests=2.5),
        ConfigurationError,
        r"max_concurrent_requests .*2\.5",
    ),
    (
        "privacy-unknown",
        _remote(privacy="public"),
        ConfigurationError,
        r"privacy must be one of allow, deny, zdr",
    ),
    ("server-unknown", _remote(server="tgi"), ConfigurationError, r"server must be one of .*got 'tgi'"),
    ("family-unknown", _remote(family="qwen9"), ConfigurationError, r"family must be one of .*got 'qwen9'"),
    ("family-unhashable", _remote(family=["qwen3_vl"]), ConfigurationError, r"family must be one of"),
    ("extra_body-list", _remote(extra_body=[1]), ConfigurationError, r"extra_body must be a dict"),
    (
        "provider_options-str",
        _remote(provider_options="x"),
        ConfigurationError,
        r"provider_options must be a dict",
    ),
    (
        "min_pixels-bool",
        _remote(min_pixels=True),
        ConfigurationError,
        r"min_pixels must be a positive integer",
    ),
    (
        "max_pixels-negative",
        _remote(max_pixels=-5),
        ConfigurationError,
        r"max_pixels must be a positive integer",
    ),
    (  # every image upscaled to 10 GP (40 GB) would take the machine down
        "min_pixels-absurd",
        _remote(min_pixels=10**10),
        ConfigurationError,
        r"min_pixels must be at most 268,435,456, got 10,000,000,000",
    ),
    ("app_name-int", _remote(app_name=5), ConfigurationError, r"app_name must be a non-empty string"),
    ("backend-unknown", lambda t: QwenVLM("x", backend="gpu"), ConfigurationError, r"unknown backend 'gpu'"),
    (
        "model-int",
        lambda t: QwenVLM(123, backend="openai"),
        ConfigurationError,
        r"model must be a non-empty string",
    ),
    ("backend-object-bad", lambda t: QwenVLM(backend=object()), ConfigurationError, r"backend must be"),
]


def _per_call(method: str, *args: Any, **options: Any) -> Callable[[Path], Any]:
    def call(_tmp: Path) -> Any:
        fake = FakeBackend("ok")
        try:
            return getattr(QwenVLM(backend=fake), method)(IMG, *args, **options)
        finally:
            assert fake.requests == []

    return call


CALL_CASES: list[Case] = [
    (
        "temperature-high",
        _per_call("caption", temperature=3),
        ConfigurationError,
        r"temperature .*<= 2, got 3",
    ),
    (
        "temperature-bool",
        _per_call("caption", temperature=True),
        ConfigurationError,
        r"temperature .*got True",
    ),
    (
        "temperature-nan",
        _per_call("caption", temperature=math.nan),
        ConfigurationError,
        r"temperature .*got nan",
    ),
    ("max_tokens-negative", _per_call("caption", max_tokens=-5), ConfigurationError, r"max_tokens .*got -5"),
    ("max_tokens-float", _per_call("caption", max_tokens=2.5), ConfigurationError, r"max_tokens .*got 2\.5"),
    (
        "enable_thinking-str",
        _per_call("caption", enable_thinking="yes"),
        ConfigurationError,
        r"enable_thinking must",
    ),
    ("strict-str", _per_call("caption", strict="no"), ConfigurationError, r"strict must be True or False"),
    ("progress-int", _per_call("caption", progress=1), ConfigurationError, r"progress must be True or False"),
    ("unknown-option", _per_call("caption", foo=1), ConfigurationError, r"unknown option\(s\) \['foo'\]"),
    (
        "classes-empty",
        _per_call("classify", []),
        ConfigurationError,
        r"classify: classes must be a non-empty list",
    ),
    (
        "classes-int-item",
        _per_call("classify", [1]),
        ConfigurationError,
        r"every class must be a non-empty string",
    ),
    (
        "classes-blank",
        _per_call("detect", [" "]),
        ConfigurationError,
        r"every class must be a non-empty string",
    ),
    ("question-none", _per_call("ask", None), ConfigurationError, r"ask needs question="),
    ("prompt-empty", _per_call("prompt", ""), ConfigurationError, r"prompt needs text="),
    ("schema-int", _per_call("extract", 42), ConfigurationError, r"extract needs schema="),
]

PARSE_CASES: list[Case] = [
    (
        "input_size-zero",
        lambda t: parse("detect", "[]", Q25, (640, 480), input_size=(0, 640)),
        ConfigurationError,
        r"input_size must be \(width, height\).*\(0, 640\)",
    ),
    (
        "image_size-negative",
        lambda t: parse("detect", "[]", Q3, (1280, -100)),
        ConfigurationError,
        r"image_size must be .*\(1280, -100\)",
    ),
    (
        "image_size-float",
        lambda t: parse("point", "[]", Q3, (1.5, 2)),
        ConfigurationError,
        r"image_size must be",
    ),
    (
        "image_size-bool",
        lambda t: parse("point", "[]", Q3, (True, 2)),
        ConfigurationError,
        r"image_size must be",
    ),
    ("image_size-missing", lambda t: parse("detect", "[]", Q3), ConfigurationError, r"needs image_size="),
    ("task-unknown", lambda t: parse("segment", "x"), ConfigurationError, r"unknown task 'segment'"),
    (
        "text-none",
        lambda t: parse("ocr", None),
        ConfigurationError,
        r"parse needs text=, a string; got NoneType",
    ),
]


def _local(model: Any, **options: Any) -> Callable[[Path], Any]:
    def call(tmp: Path) -> Any:
        return QwenVLM(model(tmp) if callable(model) else model, **options)

    return call


def _bad_config(tmp: Path) -> Path:
    folder = tmp / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{not json")
    return folder


LOCAL_CASES: list[Case] = [
    (  # checked before anything is imported or loaded
        "max_pixels-absurd",
        _local("Qwen/Qwen3-VL-2B-Instruct", max_pixels=10**12),
        ConfigurationError,
        r"max_pixels must be at most 268,435,456",
    ),
    (
        "model-missing-abs",
        _local("/tmp/no_such_dir_qv"),
        ModelNotFoundError,
        r"'/tmp/no_such_dir_qv'.*does not exist",
    ),
    ("model-missing-rel", _local("./x_nope_qv"), ModelNotFoundError, r"'\./x_nope_qv'.*does not exist"),
    (
        "model-missing-home",
        _local("~/x_nope_qv"),
        ModelNotFoundError,
        re.escape(str(Path("~/x_nope_qv").expanduser())) + r"\).*does not exist",
    ),
    (
        "model-missing-pathlike",
        _local(lambda t: t / "nothing"),
        ModelNotFoundError,
        r"nothing'.*does not exist",
    ),
    (
        "model-is-a-file",
        _local(lambda t: png(t)),
        ModelNotFoundError,
        r"ok\.png' is a file, not a checkpoint",
    ),
    (
        "batch_size-bool",
        _local("Qwen/Qwen3-VL-2B-Instruct", batch_size=True, lazy=True),
        ConfigurationError,
        r"batch_size must be a positive integer, got True",
    ),
    (
        "lazy-str",
        _local("Qwen/Qwen3-VL-2B-Instruct", lazy="yes"),
        ConfigurationError,
        r"lazy must be True or False",
    ),
    (
        "device-int",
        _local("Qwen/Qwen3-VL-2B-Instruct", device=0, lazy=True),
        ConfigurationError,
        r"device must be a non-empty string",
    ),
]

try:
    import torch  # noqa: F401
    import transformers  # noqa: F401

    LOCAL_CASES.append(
        (
            "config-not-json",
            _local(_bad_config),
            ConfigurationError,
            r"ckpt/config\.json' is not a readable JSON",
        )
    )
except ImportError:  # pragma: no cover - CI installs the local extra
    pass

ALL_CASES = IMAGE_CASES + OPTION_CASES + CALL_CASES + PARSE_CASES + LOCAL_CASES


def test_the_bad_input_matrix_is_large() -> None:
    assert len(ALL_CASES) >= 60


@pytest.mark.parametrize(("name", "call", "error", "pattern"), ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_bad_input_raises_a_typed_error_naming_it(
    name: str,
    call: Callable[[Path], Any],
    error: type[BaseException],
    pattern: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(QwenVLMError) as info:
        call(tmp_path)
    assert type(info.value) is error, f"{name}: {type(info.value).__name__}: {info.value}"
    assert re.search(pattern, str(info.value)), f"{name}: {info.value}"


def test_pathlike_model_and_images_are_accepted(tmp_path: Path) -> None:
    fake = FakeBackend("ok")
    path = png(tmp_path)
    assert QwenVLM(backend=fake).caption(path).ok  # a pathlib.Path image
    assert QwenVLM(backend=fake).caption([path, str(path)])[1].ok


# ============================================================================ downloads
@pytest.fixture
def trickle_server() -> Iterator[str]:
    """Sends HTTP headers, then one byte every 0.2 s, forever (until the client hangs up)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            try:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n")
                while not stop.is_set():
                    conn.sendall(b"x")
                    time.sleep(0.2)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/slow.png"
    stop.set()
    thread.join(timeout=2)
    listener.close()


def test_a_trickling_download_stops_at_the_total_deadline(
    trickle_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images_module, "DOWNLOAD_TIMEOUT", 1.0)
    start = time.monotonic()
    with pytest.raises(ImageError, match=r"took longer than 1 s") as info:
        QwenVLM(backend=FakeBackend("[]")).detect(trickle_server)
    assert time.monotonic() - start < 3.0  # bytes keep coming, yet the deadline holds
    assert "slow.png" in str(info.value)


def test_an_announced_oversized_download_is_refused_before_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    import http.server

    class Big(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.wfile.write(b"x" * 10)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Big)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ImageError, match=r"larger than \d+ bytes"):
            images_module.load_image(f"http://127.0.0.1:{server.server_address[1]}/huge.png")
    finally:
        server.shutdown()


# ============================================================================ parser defects
TRUNCATED = [
    '```json\n[\n  {"box_',
    "I found [",
    '{"results": [',
    '[{"bbox_2d": [1, 2, 3',
    '[{"bbox_2d": [10, 20, 300, 400], "label": "ca',
    '```json\n[\n  {"bbox_2d": [10, 20, 300, 400], "label": "cat"',
]


@pytest.mark.parametrize("task", ["detect", "point"])
@pytest.mark.parametrize("text", TRUNCATED)
def test_a_cut_off_answer_is_never_an_empty_success(task: str, text: str) -> None:
    result = parse(task, text, Q3, (640, 480))
    assert len(result) == 0
    assert isinstance(result.exception, TruncatedOutputError), result.error
    assert "cut off" in (result.error or "")


@pytest.mark.parametrize("text", ['{"total": 5', '{"items": [{"a": 1}, {"b"', '```json\n{"company": "AC'])
def test_a_cut_off_extraction_is_an_error_not_partial_data(text: str) -> None:
    result = parse("extract", text, Q3, schema={"total": "amount", "company": "who"})
    assert result.data is None and isinstance(result.exception, TruncatedOutputError)


@pytest.mark.parametrize("text", ["[]", "```json\n[]\n```", '{"objects": []}'])
def test_a_literal_empty_list_stays_an_empty_success(text: str) -> None:
    result = parse("detect", text, Q3, (640, 480))
    assert result.ok and len(result) == 0


def test_finish_reason_length_turns_a_parse_failure_into_a_truncation_error() -> None:
    response = GenerationResponse(text='[{"bbox_2d": [1,', finish_reason="length")
    result = QwenVLM(backend=FakeBackend([response])).detect(IMG, ["cat"], max_tokens=7)
    assert result.truncated and isinstance(result.exception, TruncatedOutputError)
    assert (
        result.error
        == "the answer was cut off at max_tokens=7 before it held a complete result; raise max_tokens"
    )
    garbled = GenerationResponse(text="no json at all", finish_reason="length")
    other = QwenVLM(backend=FakeBackend([garbled])).detect(IMG, ["cat"], max_tokens=7)
    assert other.error == (
        "the answer was cut off at max_tokens=7 before it could be read (the answer contains no JSON); "
        "raise max_tokens"
    )


A, B, C = (
    '{"bbox_2d":[1,2,3,4],"label":"a"}',
    '{"bbox_2d":[5,6,7,8],"label":"b"}',
    '{"bbox_2d":[9,9,20,20],"label":"c"}',
)
RESYNC = [
    f"[{A}}}, {B}, {C}]",  # stray }
    f"[{A}, {{, {B}, {C}]",  # stray {
    f"[{A} {B}, {C}]",  # missing comma
    f"[{A},, {B}, {C}]",  # double comma
    f'[{A}, {{"bbox_2d": [1, 2, }}, {B}, {C}]',  # a broken element in the middle
    f"```json\n[{A}}}, {B}, {C}]\n```",
    f'{{"results": [{A}}}, {B}, {C}]}}',
]


@pytest.mark.parametrize("text", RESYNC)
def test_objects_after_a_syntax_slip_are_kept(text: str) -> None:
    result = parse("detect", text, Q3, (1000, 1000))
    assert result.ok, result.error
    assert [d.label for d in result] == ["a", "b", "c"]


SEVERAL = [
    (f"[{A}]\n[{B}]", ["a", "b"]),
    (f"[{A}]\n[]\n[{C}]", ["a", "c"]),
    (f"{A}\n{B}\n{C}", ["a", "b", "c"]),
    (f"First: {A} and then {B}", ["a", "b"]),
    (f"```json\n[{A}]\n```\nand\n```json\n[{B}]\n```", ["a", "b"]),
]


@pytest.mark.parametrize(("text", "labels"), SEVERAL)
def test_several_top_level_values_are_all_read(text: str, labels: list[str]) -> None:
    result = parse("detect", text, Q3, (1000, 1000))
    assert [d.label for d in result] == labels


def test_several_objects_in_extraction_take_the_first() -> None:
    result = parse("extract", '{"a": 1} prose {"a": 2}', Q3, schema={"a": "x"})
    assert result.data == {"a": 1}


@pytest.mark.parametrize(
    "text",
    [
        '{"bbox_2d":[1,2,3,4],"label":"a","bbox_2d":[5,6,7,8],"label":"b"}',
        '{"label":"a","bbox_2d":[1,2,3,4],"label":"b","bbox_2d":[5,6,7,8]}',
        '[{"bbox_2d":[1,2,3,4],"label":"a","bbox_2d":[5,6,7,8],"label":"b"}]',
    ],
)
def test_repeated_keys_pair_in_the_order_written(text: str) -> None:
    result = parse("detect", text, Q3, (1000, 1000))
    assert [(d.label, d.raw_box) for d in result] == [("a", (1, 2, 3, 4)), ("b", (5, 6, 7, 8))]


@pytest.mark.parametrize(
    "span",
    [
        "(10,20),(30,40),(50,60)",
        "(10,20)",
        "(10,20),(30)",
        "(5000,20),(6000,40)",
        "(10,20),(30,40) extra",
        "(" + "9" * 400 + ",1),(2,3)",
    ],
)
def test_malformed_qwen2_box_tokens_are_not_boxes(span: str) -> None:
    text = f"<|object_ref_start|>cat<|object_ref_end|><|box_start|>{span}<|box_end|>"
    result = parse("detect", text, Q2, (640, 480))
    assert len(result) == 0 and isinstance(result.exception, OutputParseError)
    good = parse("detect", text + "<|box_start|>(100,100),(500,500)<|box_end|>", Q2, (640, 480))
    assert [d.label for d in good] == ["cat"] and good.dropped == 1


HUGE = "9" * 400


@pytest.mark.parametrize(
    ("task", "text"),
    [
        ("detect", f'[{{"bbox_2d": [{HUGE}, 1, 2, 3], "label": "a"}}, {A}]'),
        ("detect", f'[{{"bbox_2d": ["{HUGE}", 1, 2, 3]}}, {A}]'),
        ("detect", '[{"bbox_2d": [1e400, 1, 2, 3]}, ' + A + "]"),
        ("detect", '[{"bbox_2d": [NaN, 1, 2, 3]}, {"bbox_2d": [Infinity, 1, 2, 3]}, ' + A + "]"),
        ("detect", '[{"bbox_2d": [true, 1, 2, 3]}, {"bbox_2d": [1, 2, 3, 4, 5]}, ' + A + "]"),
        ("point", f'[{{"point_2d": [{HUGE}, 1]}}, {{"point_2d": [100, 100], "label": "a"}}]'),
        ("point", '[{"point_2d": [-1e300, 1]}, {"point_2d": [100, 100], "label": "a"}]'),
    ],
)
def test_absurd_numbers_are_rejected_per_element(task: str, text: str) -> None:
    result = parse(task, text, Q3, (640, 480))
    assert result.ok and len(result) == 1 and result.dropped >= 1
    assert result[0].label == "a"


def test_absurd_numbers_in_ocr_regions_do_not_raise() -> None:
    text = f'<p data-bbox="{HUGE} 1 2 3">x</p><p data-bbox="10 10 200 200">y</p>'
    result = parse("ocr", text, Q3, (640, 480))
    assert result.ok and [r.text for r in result.regions] == ["y"]


def test_non_finite_numbers_never_reach_extraction_data() -> None:
    result = parse("extract", '{"a": NaN, "b": Infinity, "c": 1e400, "d": -Infinity, "e": ' + HUGE + "}", Q3)
    assert isinstance(result, Extraction) and result.ok
    assert result.data == {"a": None, "b": None, "c": None, "d": None, "e": int(HUGE)}
    json.dumps(result.to_dict(), allow_nan=False)  # valid JSON


def test_deeply_nested_answers_cannot_break_to_dict() -> None:
    deep = "[" * 900 + "1" + "]" * 900
    for task in ("extract", "detect", "classify_multi", "ocr"):
        kwargs: dict[str, Any] = {"classes": ["a"]} if task == "classify_multi" else {}
        result = parse(task, deep, Q3, (640, 480) if task in ("detect", "ocr") else None, **kwargs)
        json.dumps(result.to_dict())
    ok = parse("extract", "[" * 60 + "1" + "]" * 60, Q3)
    assert ok.ok


def test_parsing_text_you_have_needs_no_classes() -> None:
    points = parse("point", '[{"point_2d": [500, 500], "label": "cat"}]', Q3, (640, 480))
    assert points.ok and points[0].xy == (320.0, 240.0)
    boxes = parse("object-detection", f"[{A}]", Q3, (1000, 1000))
    assert boxes.ok and boxes.classes is None


def test_a_parser_crash_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import qwen_vlm.tasks.located as tasks

    def boom(*args: Any) -> Any:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(tasks, "parse_boxes", boom)
    result = parse("detect", f"[{A}]", Q3, (640, 480))
    assert isinstance(result, Detections) and isinstance(result.exception, OutputParseError)
    assert "RuntimeError: parser bug" in (result.error or "")


# ============================================================================ batches
def test_one_image_of_each_failure_kind_among_good_ones(tmp_path: Path) -> None:
    good = '[{"bbox_2d": [100, 100, 500, 500], "label": "cat"}]'
    script = [
        good,
        RateLimitError("slow down", retry_after=7.0),
        "no json here",
        GenerationResponse(text='[{"bbox_2d": [1, 2', finish_reason="length"),
        GenerationResponse(text=good, input_size=(0, 10)),  # a malformed response (it would divide by 0)
        ValueError("backend bug"),
        good,
    ]
    fake = FakeBackend(script, model=Q25)
    images: list[Any] = [IMG, IMG, IMG, IMG, IMG, IMG, str(tmp_path / "missing.png"), IMG]
    results = QwenVLM(backend=fake).detect(images, ["cat"])
    assert len(results) == 8 and len(fake.requests) == 7  # nothing sent for the unreadable image
    kinds = [type(r.exception).__name__ if r.exception else None for r in results]
    assert kinds == [
        None,
        "RateLimitError",
        "OutputParseError",
        "TruncatedOutputError",
        "BackendError",
        "QwenVLMError",
        "ImageError",
        None,
    ]
    assert results[1].exception.retry_after == 7.0  # type: ignore[union-attr]
    assert [r.exception.index for r in results if r.exception] == [1, 2, 3, 4, 5, 6]  # type: ignore[union-attr]
    assert results[0].ok and results[7].ok and len(results[7]) == 1


def test_strict_batch_raises_after_every_image_with_every_result(tmp_path: Path) -> None:
    fake = FakeBackend(["ok", RateLimitError("x"), "ok"])
    with pytest.raises(BatchError) as info:
        QwenVLM(backend=fake).caption([IMG, IMG, IMG], strict=True)
    assert len(fake.requests) == 3 and info.value.failed == [1]
    assert isinstance(info.value.exceptions[0], RateLimitError) and info.value.exceptions[0].index == 1
    assert [r.text for r in info.value.results] == ["ok", "", "ok"]


def test_a_chunk_failure_gives_each_image_its_own_indexed_error() -> None:
    class Broken(FakeBackend):
        def generate(self, requests: Any) -> Any:
            raise ValueError("boom")

    results = QwenVLM(backend=Broken(max_batch_size=3)).caption([IMG] * 3)
    errors = [r.exception for r in results]
    assert len({id(e) for e in errors}) == 3 and [e.index for e in errors] == [0, 1, 2]  # type: ignore[union-attr]


async def test_async_batch_keeps_every_result(tmp_path: Path) -> None:
    from qwen_vlm import AsyncQwenVLM

    fake = FakeBackend(["a", "garbage", "b"])
    results = await AsyncQwenVLM(backend=fake).classify([IMG, IMG, str(tmp_path / "x.png"), IMG], ["a", "b"])
    assert [r.label for r in results] == ["a", None, None, "b"]
    assert isinstance(results[2].exception, ImageError)


def test_loopback_server_batch_with_each_failure_kind(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    from chat_server import Reply, chat_server, completion

    def script(n: int, body: dict[str, Any]) -> Reply:
        text = body["messages"][0]["content"][1]["text"]
        del text
        kind = n % 4
        if kind == 1:
            return Reply(status=400, body={"error": {"message": "bad image"}})
        if kind == 2:
            return Reply(body=completion("no boxes, sorry"))
        if kind == 3:
            return Reply(body=completion('[{"bbox_2d": [1,', finish_reason="length"))
        return Reply(body=completion('[{"bbox_2d": [100, 100, 500, 500], "label": "cat"}]'))

    with chat_server() as server:
        server.script = script
        vlm = QwenVLM(Q3, backend="openai", base_url=server.url, max_concurrent_requests=1)
        images: list[Any] = [IMG, IMG, str(tmp_path / "gone.png"), IMG, IMG, IMG]
        results = vlm.detect(images, ["cat"])
    assert len(results) == 6 and len(server.requests) == 5
    kinds = [type(r.exception).__name__ if r.exception else None for r in results]
    assert kinds == [None, "BadRequestError", "ImageError", "OutputParseError", "TruncatedOutputError", None]
    assert results[4].truncated and results[0][0].label == "cat"


def test_local_backend_batch_with_a_file_deleted_mid_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from qwen_vlm.tiny import build_tiny_checkpoint, scripted

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    checkpoint = build_tiny_checkpoint(tmp_path / "ckpt", "qwen3_vl")
    answer = '[{"bbox_2d": [250, 250, 750, 750], "label": "cat"}]'
    vlm = QwenVLM(checkpoint, device="cpu", batch_size=4, generate_kwargs=scripted(answer))  # a Path model id
    paths = []
    for i in range(10):  # more than 8: files are checked, released and re-read when generated
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (64, 48), (i * 20, 0, 0)).save(path)
        paths.append(path)
    original = QwenVLM._execute

    def delete_then_execute(self: QwenVLM, plan: Any) -> Any:
        os.remove(paths[5])  # after every input was checked, before its group is generated
        return original(self, plan)

    monkeypatch.setattr(QwenVLM, "_execute", delete_then_execute)
    results = vlm.detect([*paths[:9], tmp_path / "never.png"], ["cat"], max_tokens=40)
    assert len(results) == 10
    assert [r.ok for r in results] == [i not in (5, 9) for i in range(10)]
    assert isinstance(results[5].exception, ImageError) and results[5].exception.index == 5
    assert isinstance(results[9].exception, ImageError)
    assert all(r[0].xyxy == pytest.approx((16, 12, 48, 36)) for r in results if r.ok)


def test_a_custom_backend_returning_malformed_responses_fails_only_those_images() -> None:
    class Sloppy(FakeBackend):
        def generate(self, requests: Any) -> Any:
            out = super().generate(requests)
            kind = len(self.requests) % 5
            if kind == 1:
                return [GenerationResponse(text=["not", "a", "string"])]  # type: ignore[arg-type]
            if kind == 2:
                return [GenerationResponse(text="[]", input_size=(0, 10))]
            if kind == 3:
                return ["just a string"]
            if kind == 4:
                return [GenerationResponse(text="", error=ValueError("raw"))]  # type: ignore[arg-type]
            return out

    results = QwenVLM(backend=Sloppy("[]")).detect([IMG] * 5)
    assert [r.ok for r in results] == [False, False, False, False, True]
    assert all("malformed response" in (r.error or "") for r in results[:4])
    assert all(r.exception is not None and r.exception.index == k for k, r in enumerate(results[:4]))
