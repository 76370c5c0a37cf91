"""The bad-input matrix and the conversions every image goes through."""

from __future__ import annotations

import base64
import http.server
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image

from qwen_vlm import ImageError, QwenVLM
from qwen_vlm import image_refs as image_refs_module
from qwen_vlm import images as images_module
from qwen_vlm.image_refs import prepare_images
from qwen_vlm.images import load_image, to_data_url
from qwen_vlm.testing import FakeBackend


def png_bytes(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def vlm() -> tuple[QwenVLM, FakeBackend]:
    fake = FakeBackend("a caption")
    return QwenVLM(backend=fake), fake


# ----------------------------------------------------------------------------- accepted inputs
def test_every_input_kind_gives_the_same_rgb_image(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 30), (10, 200, 30))
    path = tmp_path / "x.png"
    img.save(path)
    data = png_bytes(img)
    inputs = [img, str(path), path, data, np.asarray(img), to_data_url(data, "image/png")]
    for item in inputs:
        out = load_image(item)
        assert out.mode == "RGB" and out.size == (40, 30)
        assert out.getpixel((5, 5)) == (10, 200, 30)


@pytest.mark.parametrize(
    ("mode", "color", "expected"),
    [
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent → white
        ("RGBA", (255, 0, 0, 255), (255, 0, 0)),
        ("LA", (0, 0), (255, 255, 255)),
        ("L", 128, (128, 128, 128)),
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
        ("I;16", 65535, (255, 255, 255)),
        ("I;16", 32768, (128, 128, 128)),
        ("1", 1, (255, 255, 255)),
    ],
)
def test_modes_convert_to_rgb(mode: str, color: object, expected: tuple[int, int, int]) -> None:
    img = Image.new(mode, (4, 4), color)  # type: ignore[arg-type]
    assert load_image(img).getpixel((0, 0)) == expected


def test_palette_with_transparency_becomes_white() -> None:
    img = Image.new("P", (4, 4), 0)
    img.putpalette([255, 0, 0] * 256)
    img.info["transparency"] = 0
    assert load_image(img).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (60, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert load_image(buf.getvalue()).size == (20, 60)


# ----------------------------------------------------------------------------- bad inputs
def test_missing_file_names_the_path_and_batch_index(
    vlm: tuple[QwenVLM, FakeBackend], tmp_path: Path
) -> None:
    client, fake = vlm
    good = Image.new("RGB", (8, 8))
    # In a list: that image's failed result, nothing sent for it; the others proceed.
    results = client.caption([good, str(tmp_path / "nope.jpg"), good])
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].exception, ImageError) and results[1].exception.index == 1
    assert re.search(r"image 1: file not found: '.*nope\.jpg'; check the path", results[1].error or "")
    assert len(fake.requests) == 2
    # strict=True: nothing is sent at all.
    fake.requests.clear()
    with pytest.raises(ImageError, match=r"image 1: file not found") as info:
        client.caption([good, str(tmp_path / "nope.jpg"), good], strict=True)
    assert info.value.index == 1 and fake.requests == []


def test_single_missing_file_has_no_index(vlm: tuple[QwenVLM, FakeBackend]) -> None:
    client, _ = vlm
    with pytest.raises(ImageError, match=r"^image: file not found") as info:
        client.caption("does-not-exist.png")
    assert info.value.index is None


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is not a file"):
        load_image(tmp_path)


def test_non_image_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(ImageError, match=r"not an image PIL can read"):
        load_image(str(path))


def test_truncated_file(tmp_path: Path) -> None:
    data = png_bytes(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(path, index=3)


def test_empty_bytes_and_zero_size() -> None:
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageError, match="zero size"):
        load_image(Image.new("RGB", (0, 5)))
    with pytest.raises(ImageError, match="zero size"):
        load_image(np.zeros((0, 4, 3), dtype=np.uint8))


def test_decompression_bomb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images_module, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ImageError, match="decompression-bomb"):
        load_image(png_bytes(Image.new("RGB", (20, 20))))


def test_pil_decompression_bomb_guard_is_an_image_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)
    with pytest.raises(ImageError, match="too large to decode safely"):
        load_image(png_bytes(Image.new("RGB", (10, 10))))


def test_extreme_aspect_ratio() -> None:
    with pytest.raises(ImageError, match="aspect ratio"):
        load_image(Image.new("RGB", (1000, 2)))


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4, 3), dtype=np.float32), "must be uint8"),
        (np.zeros((4, 4, 2), dtype=np.uint8), "HxWx3"),
        (np.zeros((4,), dtype=np.uint8), "HxWx3"),
    ],
)
def test_bad_numpy_arrays(array: np.ndarray, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        load_image(array)


def test_unsupported_type_and_bad_data_urls() -> None:
    with pytest.raises(ImageError, match="unsupported image type int"):
        load_image(42)
    with pytest.raises(ImageError, match="malformed data: URL"):
        load_image("data:image/png;base64")
    with pytest.raises(ImageError, match="not an image"):
        load_image("data:image/png;base64," + base64.b64encode(b"nope").decode())


def test_not_a_list_of_images(vlm: tuple[QwenVLM, FakeBackend]) -> None:
    from qwen_vlm import ConfigurationError

    client, _ = vlm
    with pytest.raises(ConfigurationError, match="expected an image or a list of images"):
        client.caption({"a": 1})  # type: ignore[call-overload]


# ----------------------------------------------------------------------------- URLs
class _Handler(http.server.BaseHTTPRequestHandler):
    payloads: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_GET(self) -> None:
        status, body = self.payloads.get(self.path, (404, b"missing"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def image_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.payloads = {
        "/ok.png": (200, png_bytes(Image.new("RGB", (30, 20), (1, 2, 3)))),
        "/big.png": (200, b"x" * 2048),
        "/text": (200, b"hello"),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_is_downloaded_only_when_pixels_are_needed(image_server: str) -> None:
    fake = FakeBackend("ok")
    client = QwenVLM(backend=fake)
    client.caption(f"{image_server}/ok.png")
    assert fake.requests[0].image.url == f"{image_server}/ok.png"
    assert not fake.requests[0].image.loaded  # passed through to a backend that takes URLs
    fake2 = FakeBackend("[]")
    QwenVLM(backend=fake2).detect(f"{image_server}/ok.png")
    assert fake2.requests[0].image.loaded and fake2.requests[0].image.size == (30, 20)


def test_url_errors(image_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImageError, match="HTTP 404"):
        load_image(f"{image_server}/missing.png")
    with pytest.raises(ImageError, match="not an image"):
        load_image(f"{image_server}/text")
    monkeypatch.setattr(images_module, "MAX_DOWNLOAD_BYTES", 1024)
    with pytest.raises(ImageError, match="larger than 1024 bytes"):
        load_image(f"{image_server}/big.png")
    fake = FakeBackend("[]")
    results = QwenVLM(backend=fake).detect([f"{image_server}/ok.png", f"{image_server}/missing.png"])
    assert results[0].ok and not results[1].ok and len(fake.requests) == 1
    assert re.search(r"image 1: downloading .*missing\.png failed with HTTP 404", results[1].error or "")
    with pytest.raises(ImageError, match=r"image 1: downloading .*missing\.png failed with HTTP 404"):
        QwenVLM(backend=fake).detect([f"{image_server}/ok.png", f"{image_server}/missing.png"], strict=True)
    with pytest.raises(ImageError, match="HTTP 404"):
        QwenVLM(backend=fake).detect(f"{image_server}/missing.png")


def test_url_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection but never answers
    monkeypatch.setattr(images_module, "DOWNLOAD_TIMEOUT", 0.3)
    try:
        with pytest.raises(ImageError, match="failed"):
            load_image(f"http://127.0.0.1:{listener.getsockname()[1]}/slow.png")
    finally:
        listener.close()


def test_prepare_images_keeps_order() -> None:
    refs = prepare_images([Image.new("RGB", (i + 1, 5)) for i in range(5)], single=False)
    assert [r.size for r in refs] == [(i + 1, 5) for i in range(5)]
    assert [r.index for r in refs] == list(range(5))


def test_large_batches_keep_files_compressed_and_reread_them(tmp_path: Path) -> None:
    paths = []
    for i in range(12):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (40 + i, 30), (i * 20, 0, 0)).save(path)
        paths.append(path)
    refs = prepare_images(paths, single=False)
    assert all(r._image is None and r.loaded for r in refs)  # checked, then released
    assert [r.size for r in refs] == [(40 + i, 30) for i in range(12)]
    assert refs[5].pil().getpixel((0, 0)) == (100, 0, 0)
    small = prepare_images(paths[:3], single=False)
    assert all(r._image is not None for r in small)


def test_a_file_that_breaks_after_the_check_fails_only_its_image(tmp_path: Path) -> None:
    paths = []
    for i in range(10):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (32, 32)).save(path)
        paths.append(path)

    class Reading(FakeBackend):
        def generate(self, requests: Any) -> Any:
            for request in requests:
                request.image.pil()  # a real backend reads the pixels when it sends them
            return super().generate(requests)

    vlm = QwenVLM(backend=Reading("fine"))
    original = image_refs_module.load_image

    reads = {"image 4": 0}

    def flaky(image: Any, index: int | None = None) -> Image.Image:
        if index == 4:
            reads["image 4"] += 1
            if reads["image 4"] > 1:  # the up-front check passes, the re-read fails
                raise ImageError("the file changed", index)
        return original(image, index)

    image_refs_module.load_image = flaky  # type: ignore[assignment]
    try:
        results = vlm.caption(paths)
    finally:
        image_refs_module.load_image = original  # type: ignore[assignment]
    assert len(results) == 10
    assert [r.ok for r in results] == [i != 4 for i in range(10)]
    assert results[4].error is not None and "the file changed" in results[4].error


@pytest.mark.parametrize(("fmt", "params"), [("JPEG", {"quality": 90}), ("PNG", {"compress_level": 1})])
def test_encode_image_gives_the_bytes_an_in_memory_encode_gives(
    fmt: str, params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encoding through a file descriptor (so the GIL is released) changes nothing in the bytes."""
    import os

    from qwen_vlm.images import encode_image

    image = Image.effect_noise((320, 200), 60).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    assert encode_image(image, fmt, **params) == buffer.getvalue()

    def no_memfd(*args: Any) -> int:
        raise OSError("memfd_create is not permitted here")

    monkeypatch.setattr(os, "memfd_create", no_memfd, raising=False)
    assert encode_image(image, fmt, **params) == buffer.getvalue()  # the in-memory fallback
