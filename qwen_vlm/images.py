"""Image inputs: anything a user may pass → a validated RGB PIL image; encoding for the wire.

Accepted inputs (:data:`ImageInput`): a PIL image, a path (``str`` or :class:`pathlib.Path`), raw encoded
bytes, a numpy ``HxWx3`` (or ``HxW``/``HxWx4``) ``uint8`` array, a ``data:`` URL, or an ``http(s)`` URL.
URLs are downloaded only when pixels are needed (local inference, or a task whose answer is converted to
pixel coordinates); otherwise remote backends pass them through untouched.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .options import url_problem

if TYPE_CHECKING:
    from typing import TypeAlias

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "IMAGE_SUFFIXES",
    "MAX_DOWNLOAD_BYTES",
    "MAX_IMAGE_PIXELS",
    "ImageInput",
    "check_url",
    "encode_image",
    "is_image_input",
    "load_image",
    "pixel_digest",
    "to_data_url",
]

#: Anything accepted as one image.
ImageInput: TypeAlias = Image.Image | str | Path | bytes | Any

#: File name endings of image files (folders given as inputs or datasets hold these).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
#: Images with more pixels than this are refused (decompression-bomb guard): 16384 x 16384.
MAX_IMAGE_PIXELS = 16384 * 16384
#: Largest download accepted for an http(s) image, in bytes (checked against ``Content-Length`` first,
#: then while reading).
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
#: Total seconds allowed for downloading one http(s) image, however the server trickles it (a server
#: that sends nothing at all is given up on after at most 10 s).
DOWNLOAD_TIMEOUT = 30.0


def _is_numpy_array(obj: object) -> bool:
    return type(obj).__module__ == "numpy" and hasattr(obj, "__array_interface__")


def is_image_input(obj: object) -> bool:
    """Return True if ``obj`` looks like a single image (as opposed to a list of images)."""
    return isinstance(obj, (Image.Image, str, os.PathLike, bytes, bytearray, memoryview)) or _is_numpy_array(
        obj
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent pixels become white."""
    if img.mode == "RGB":
        return img
    if img.mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit grayscale: scale 0-65535 down to 0-255 instead of clipping.
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif img.mode == "F":
        img = img.convert("L")
    return img.convert("RGB")


#: Qwen-VL processors refuse images whose long side is more than this many times the short side.
MAX_ASPECT_RATIO = 200


def _check_size(width: int, height: int, index: int | None) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(f"the image has zero size ({width}x{height}); pass an image with pixels", index)
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ImageError(
            f"the image is {width}x{height}, an aspect ratio over {MAX_ASPECT_RATIO}:1 that Qwen-VL cannot "
            "process; crop or pad it first",
            index,
        )
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"the image is {width}x{height} = {width * height} pixels, more than the {MAX_IMAGE_PIXELS} "
            "allowed (decompression-bomb guard); downscale it first or raise "
            "qwen_vlm.images.MAX_IMAGE_PIXELS",
            index,
        )


def _decode(data: bytes, what: str, index: int | None) -> Image.Image:
    if not data:
        raise ImageError(f"{what} is empty (0 bytes)", index)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_size(img.width, img.height, index)
            img.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{what} is too large to decode safely ({exc})", index) from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{what} is not an image PIL can read; pass a JPEG, PNG, WebP, GIF, BMP or TIFF file", index
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            f"{what} could not be decoded, it may be truncated or corrupt ({exc}); re-download or re-save it",
            index,
        ) from None
    return _finish(img, index)


def _finish(img: Image.Image, index: int | None) -> Image.Image:
    _check_size(img.width, img.height, index)
    with contextlib.suppress(Exception):  # a broken EXIF block must not make the image unusable
        # Only when there is an orientation to apply: exif_transpose copies the image otherwise too, and
        # the same object passed twice should stay one object (encoded once).
        if img.getexif().get(0x0112, 1) not in (0, 1):
            img = ImageOps.exif_transpose(img) or img
    return _to_rgb(img)


def _from_numpy(arr: Any, index: int | None) -> Image.Image:
    shape = tuple(arr.shape)
    dtype = str(arr.dtype)
    if dtype != "uint8":
        raise ImageError(
            f"numpy arrays must be uint8 (got dtype {dtype}); convert with arr.astype('uint8')", index
        )
    if len(shape) == 3 and shape[2] in (3, 4):
        mode = "RGB" if shape[2] == 3 else "RGBA"
    elif len(shape) == 2:
        mode = "L"
    else:
        raise ImageError(f"numpy arrays must be HxWx3 RGB (got shape {shape})", index)
    _check_size(shape[1], shape[0], index)
    return _to_rgb(Image.fromarray(arr, mode=mode))


def _from_data_url(url: str, index: int | None) -> Image.Image:
    header, sep, payload = url.partition(",")
    if not sep:
        raise ImageError(
            "malformed data: URL (no ',' before the payload); expected data:image/...;base64,...", index
        )
    try:
        if header.endswith(";base64"):
            data = base64.b64decode(payload, validate=False)
        else:
            from urllib.parse import unquote_to_bytes

            data = unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(
            f"data: URL payload is not valid base64 ({exc}); check how it was encoded", index
        ) from None
    return _decode(data, "the data: URL", index)


def _shorten(text: str, limit: int) -> str:
    """``text`` for an error message: cut to ``limit`` characters with "..." when longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


_OTHER_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+)://")


def check_url(url: str, index: int | None) -> None:
    """Refuse a malformed http(s) URL before anything is sent or downloaded.

    Raises:
        ImageError: For a URL with no host, spaces or control characters, a bad port or IPv6 literal.
    """
    problem = url_problem(url)
    if problem:
        shown = _shorten(url, 100)
        raise ImageError(f"malformed URL {shown!r}: {problem}", index)


def download_url(url: str, index: int | None) -> bytes:
    """Download with a total deadline (:data:`DOWNLOAD_TIMEOUT`) and a cap (:data:`MAX_DOWNLOAD_BYTES`)."""
    import http.client
    import time
    import urllib.error
    import urllib.request

    check_url(url, index)
    shown = _shorten(url, 100)
    deadline = time.monotonic() + DOWNLOAD_TIMEOUT
    chunks: list[bytes] = []
    total = 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "qwen-vlm"})
        with urllib.request.urlopen(request, timeout=min(DOWNLOAD_TIMEOUT, 10.0)) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > MAX_DOWNLOAD_BYTES:
                total = int(length)
            while total <= MAX_DOWNLOAD_BYTES:
                if time.monotonic() > deadline:
                    raise ImageError(
                        f"downloading {shown} took longer than {DOWNLOAD_TIMEOUT:g} s (the server is too "
                        "slow); download it yourself, or raise qwen_vlm.images.DOWNLOAD_TIMEOUT",
                        index,
                    )
                chunk = response.read1(64 * 1024)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
    except ImageError:
        raise
    except urllib.error.HTTPError as exc:
        raise ImageError(f"downloading {shown} failed with HTTP {exc.code}", index) from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        raise ImageError(
            f"downloading {shown} failed ({type(exc).__name__}: {exc}); check the URL or pass a local file",
            index,
        ) from None
    if total > MAX_DOWNLOAD_BYTES:
        raise ImageError(
            f"{shown} is larger than {MAX_DOWNLOAD_BYTES} bytes; download and downscale it yourself, or "
            "raise qwen_vlm.images.MAX_DOWNLOAD_BYTES",
            index,
        )
    return b"".join(chunks)


def _read_file(text: str, index: int | None) -> bytes:
    shown = _shorten(text, 120)
    try:
        path = Path(text).expanduser()
        if not path.exists():
            raise ImageError(f"file not found: {shown!r}; check the path (relative to {Path.cwd()})", index)
        if not path.is_file():
            raise ImageError(f"{shown!r} is not a file (a directory?); pass the path of an image file", index)
        return path.read_bytes()
    except ImageError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:
        # too long a name, a NUL byte, no permission, an unknown user in ~user...
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ImageError(f"cannot read file {shown!r}: {reason}", index) from None


def load_image(image: ImageInput, index: int | None = None) -> Image.Image:
    """Read any accepted image input into an RGB PIL image, downloading http(s) URLs.

    Args:
        image: The image input.
        index: Its position in a batch, used in error messages.

    Returns:
        An RGB image with EXIF orientation applied.

    Raises:
        ImageError: If the input is missing, not an image, truncated, empty or too large.
    """
    if isinstance(image, Image.Image):
        return _finish(image, index)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _decode(bytes(image), "the bytes", index)
    if _is_numpy_array(image):
        return _from_numpy(image, index)
    if isinstance(image, (str, os.PathLike)):
        text = image if isinstance(image, str) else os.fsdecode(os.fspath(image))
        if isinstance(image, str):
            lowered = text[:16].lower()
            if lowered.startswith("data:"):
                return _from_data_url(text, index)
            if lowered.startswith(("http://", "https://")):
                return _decode(download_url(text, index), f"the download from {text[:100]}", index)
        if not text.strip():
            raise ImageError("the path is empty (or only spaces); pass the path of an image file", index)
        scheme = _OTHER_SCHEME.match(text)
        if scheme is not None and isinstance(image, str):
            raise ImageError(
                f"unsupported URL scheme {scheme.group(1)!r} in {text[:100]!r}; "
                "pass an http(s) or data: URL, or a local path",
                index,
            )
        shown = _shorten(text, 120)
        return _decode(_read_file(text, index), f"file {shown!r}", index)
    raise ImageError(
        f"unsupported image type {type(image).__name__}; pass a PIL image, a path, bytes, a numpy "
        "HxWx3 uint8 array, a data: URL or an http(s) URL",
        index,
    )


def pixel_digest(image: Image.Image) -> str:
    """SHA-256 of an image's pixels, size and mode: the same picture however it was stored or encoded.

    SHA-256 runs in hardware on most CPUs (about 2 ms for 5 MB of pixels; ``tobytes`` costs as much).
    """
    digest = hashlib.sha256(f"{image.mode}|{image.size}|".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def to_data_url(data: bytes, mime: str = "image/jpeg") -> str:
    """Wrap encoded image bytes in a base64 ``data:`` URL."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def encode_image(image: Image.Image, format: str, **params: Any) -> bytes:
    """The image encoded by Pillow (``format``: ``"JPEG"``, ``"PNG"``...), without holding the GIL.

    Pillow encodes into an in-memory buffer chunk by chunk with the GIL held, which stalls every other
    thread (a page renderer, HTTP senders) for the whole encode — a PDF page rendered beside a JPEG encode
    took ~9x longer here. Into a file descriptor it encodes with the GIL released: an anonymous in-memory
    file (Linux ``memfd``) or a temporary file serves, and the bytes are the same.
    """
    try:
        handle: Any = (
            open(os.memfd_create("qwen-vlm-image", os.MFD_CLOEXEC), "w+b")  # noqa: SIM115
            if hasattr(os, "memfd_create")
            else tempfile.TemporaryFile()  # noqa: SIM115
        )
    except OSError:  # no memfd, no temporary directory: encode in memory
        buffer = io.BytesIO()
        image.save(buffer, format=format, **params)
        return buffer.getvalue()
    with handle:
        image.save(handle, format=format, **params)
        handle.seek(0)
        data: bytes = handle.read()
    return data
