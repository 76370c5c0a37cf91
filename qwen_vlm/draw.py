"""Drawing results on images (for notebooks): boxes, points and located text, with PIL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

from .images import ImageInput, load_image

if TYPE_CHECKING:
    from .results import Detections, Points, TextResult

__all__ = ["draw"]

_PALETTE = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40),
]  # fmt: skip


def _color(label: str | None, labels: list[str | None]) -> tuple[int, int, int]:
    return _PALETTE[labels.index(label) % len(_PALETTE)]


def draw(
    image: ImageInput, result: Detections | Points | TextResult, *, width: int | None = None
) -> Image.Image:
    """Return a copy of ``image`` with the result's boxes, points or text regions drawn on it.

    Args:
        image: The image the result was computed on (any accepted input).
        result: A :class:`~qwen_vlm.Detections`, :class:`~qwen_vlm.Points` or OCR
            :class:`~qwen_vlm.TextResult` with regions.
        width: Line width in pixels (default: scaled to the image).

    Returns:
        A new RGB image.
    """
    canvas = load_image(image).copy()
    pen = ImageDraw.Draw(canvas)
    line = width or max(2, round(max(canvas.size) / 300))
    items: list[tuple[str | None, tuple[float, ...]]] = []
    if hasattr(result, "detections"):
        items = [(d.label, d.xyxy) for d in result.detections]
    elif hasattr(result, "points"):
        items = [(p.label, p.xy) for p in result.points]
    elif hasattr(result, "regions"):
        items = [(r.text[:30], r.xyxy) for r in result.regions]
    labels = list(dict.fromkeys(label for label, _ in items))
    for label, coords in items:
        color = _color(label, labels)
        if len(coords) == 4:
            pen.rectangle(coords, outline=color, width=line)
            anchor = (coords[0] + line, coords[1] + line)
        else:
            x, y = coords
            r = line * 3
            pen.ellipse(
                (x - r, y - r, x + r, y + r), fill=color, outline=(255, 255, 255), width=max(1, line // 2)
            )
            anchor = (x + r + 2, y - r)
        if label:
            box = pen.textbbox(anchor, label)
            pen.rectangle(box, fill=color)
            pen.text(anchor, label, fill=(255, 255, 255))
    return canvas
