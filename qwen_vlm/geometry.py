"""Pure geometry: Qwen's smart resize and conversion of model coordinates to original-image pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CoordinateFormat",
    "PixelBudget",
    "box_to_pixels",
    "point_to_pixels",
    "smart_resize",
]

#: How a model family writes coordinates.
#: ``"absolute"``: pixels of the image *after* the processor's resize (Qwen2.5-VL).
#: ``"relative_1000"``: a 0-1000 grid on both axes (Qwen2-VL box tokens, Qwen3-VL, Qwen3.5/3.6).
CoordinateFormat = Literal["absolute", "relative_1000"]

_MAX_RATIO = 200


def smart_resize(
    width: int, height: int, *, factor: int, min_pixels: int, max_pixels: int
) -> tuple[int, int]:
    """Return the ``(width, height)`` a Qwen-VL processor resizes an image to.

    Both sides become multiples of ``factor`` (patch size x merge size: 28 for Qwen2/2.5-VL, 32 for
    Qwen3-VL/3.5), the pixel count stays within ``[min_pixels, max_pixels]`` and the aspect ratio is kept
    as closely as possible. This is the same algorithm as ``qwen_vl_utils.smart_resize`` and the
    transformers image processors, written without torch.

    Args:
        width: Original width in pixels.
        height: Original height in pixels.
        factor: The resize factor.
        min_pixels: Lower bound on ``width * height`` after resizing.
        max_pixels: Upper bound on ``width * height`` after resizing.

    Returns:
        The resized ``(width, height)``.

    Raises:
        ValueError: If a side is not positive or the aspect ratio exceeds 200.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if max(width, height) / min(width, height) > _MAX_RATIO:
        raise ValueError(f"aspect ratio must be at most {_MAX_RATIO}:1 for Qwen-VL, got {width}x{height}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


@dataclass(frozen=True)
class PixelBudget:
    """The bounds a backend resizes every image into before the model sees it (Qwen's smart resize).

    Attributes:
        factor: Both sides become multiples of it (28 for Qwen2/2.5-VL, 32 for Qwen3-VL and later).
        min_pixels: Lower bound on an image's pixels.
        max_pixels: Upper bound on an image's pixels.
    """

    factor: int
    min_pixels: int
    max_pixels: int

    def fit(self, width: int, height: int) -> tuple[int, int]:
        """The ``(width, height)`` an image of this size is sent at: itself when already within bounds.

        A size the model refuses (an aspect ratio over 200) comes back unchanged: sending it says why.
        """
        try:
            return smart_resize(
                width, height, factor=self.factor, min_pixels=self.min_pixels, max_pixels=self.max_pixels
            )
        except ValueError:
            return width, height


def _scales(
    fmt: CoordinateFormat, image_size: tuple[int, int], input_size: tuple[int, int] | None
) -> tuple[float, float]:
    w, h = image_size
    if fmt == "relative_1000":
        return w / 1000.0, h / 1000.0
    if input_size is None:
        raise ValueError("absolute coordinates need the size of the image the model saw (input_size)")
    iw, ih = input_size
    return w / iw, h / ih


def box_to_pixels(
    box: tuple[float, float, float, float],
    fmt: CoordinateFormat,
    image_size: tuple[int, int],
    input_size: tuple[int, int] | None = None,
) -> tuple[float, float, float, float] | None:
    """Convert a model box to original-image pixels, clamped to the image.

    Args:
        box: ``(x1, y1, x2, y2)`` as the model wrote it.
        fmt: The model family's coordinate format.
        image_size: ``(width, height)`` of the original image.
        input_size: ``(width, height)`` of the image the model saw; needed for ``"absolute"``.

    Returns:
        The box in pixels, or ``None`` when it is degenerate (x2 <= x1, y2 <= y1, or no area after
        clamping).
    """
    sx, sy = _scales(fmt, image_size, input_size)
    w, h = image_size
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) for v in box) or x2 <= x1 or y2 <= y1:
        return None
    cx1 = min(max(x1 * sx, 0.0), float(w))
    cy1 = min(max(y1 * sy, 0.0), float(h))
    cx2 = min(max(x2 * sx, 0.0), float(w))
    cy2 = min(max(y2 * sy, 0.0), float(h))
    if cx2 <= cx1 or cy2 <= cy1:
        return None
    return (cx1, cy1, cx2, cy2)


def point_to_pixels(
    point: tuple[float, float],
    fmt: CoordinateFormat,
    image_size: tuple[int, int],
    input_size: tuple[int, int] | None = None,
) -> tuple[float, float] | None:
    """Convert a model point to original-image pixels, clamped to the image.

    Args:
        point: ``(x, y)`` as the model wrote it.
        fmt: The model family's coordinate format.
        image_size: ``(width, height)`` of the original image.
        input_size: ``(width, height)`` of the image the model saw; needed for ``"absolute"``.

    Returns:
        The point in pixels, or ``None`` when a coordinate is not finite.
    """
    if not all(math.isfinite(v) for v in point):
        return None
    sx, sy = _scales(fmt, image_size, input_size)
    w, h = image_size
    return (min(max(point[0] * sx, 0.0), float(w)), min(max(point[1] * sy, 0.0), float(h)))
