"""Drawing on pictures (for notebooks): labelled boxes, points and a video's events, with PIL.

Works on plain data — PIL images, coordinates in their pixels, labels — and knows nothing of results,
groups or tasks: the result classes call it with what they hold.

Line widths and label sizes scale with the image; each class keeps its colour from one picture to the
next (the colour is a hash of the label, not its position; two classes of one picture whose hashes
collide are told apart by the later one taking the next free colour); a legend is added when there are
many classes.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

__all__ = ["DrawnObject", "color_for", "draw_objects", "draw_timeline"]

_PALETTE = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (0, 160, 160), (240, 50, 230), (128, 128, 0), (0, 128, 128), (170, 110, 40),
    (128, 0, 0), (0, 0, 128), (255, 105, 0), (100, 100, 255), (200, 0, 100),
]  # fmt: skip
#: More distinct labels than this on one image get a legend.
LEGEND_ABOVE = 6


def color_for(label: str | None) -> tuple[int, int, int]:
    """The colour of a class: the same label always gets the same colour."""
    if label is None:
        return (128, 128, 128)
    return _PALETTE[_slot(label)]


def _slot(label: str) -> int:
    return zlib.crc32(label.casefold().encode("utf-8")) % len(_PALETTE)


def _colors(labels: list[str | None]) -> dict[str | None, tuple[int, int, int]]:
    """Each label's :func:`color_for`, except that two labels of one picture never share a colour.

    A label whose colour is taken by an earlier label of the same picture gets the next free one.
    """
    taken: set[int] = set()
    out: dict[str | None, tuple[int, int, int]] = {}
    for label in dict.fromkeys(labels):
        if label is None:
            out[None] = color_for(None)
            continue
        slot = _slot(label)
        for step in range(len(_PALETTE)):
            if (slot + step) % len(_PALETTE) not in taken:
                slot = (slot + step) % len(_PALETTE)
                break
        taken.add(slot)
        out[label] = _PALETTE[slot]
    return out


@lru_cache(maxsize=32)
def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


#: One object to draw: its label (which decides its colour), its box ``(x1, y1, x2, y2)`` or point
#: ``(x, y)`` in the picture's pixels, which picture of a row it is on (``None``: the first), and the
#: text written by it (``None``: the label).
DrawnObject = tuple[str | None, tuple[float, ...], int | None, str | None]


def draw_objects(
    pictures: Sequence[Image.Image],
    objects: Sequence[DrawnObject],
    *,
    legend: bool = True,
    width: int | None = None,
) -> Image.Image:
    """Return a copy of the picture(s) with labelled boxes and points drawn on them.

    Args:
        pictures: The picture the objects are on, or several (a group): each is drawn with its own
            objects, side by side at one height.
        objects: ``(label, coordinates, picture, caption)`` per object (:data:`DrawnObject`): four
            coordinates are a box, two a point.
        legend: Add a key of colours when there are more than :data:`LEGEND_ABOVE` labels.
        width: Line width in pixels (default: scaled to the picture, 2 px per 600 px of its long side).

    Returns:
        A new RGB image.
    """
    colors = _colors([label for label, _, _, _ in objects])
    drawn = [
        _draw_one(
            picture.convert("RGB") if picture.mode != "RGB" else picture.copy(),
            [(label, xy, caption) for label, xy, k, caption in objects if (k or 0) == n],
            colors,
            width,
            legend,
        )
        for n, picture in enumerate(pictures)
    ]
    return drawn[0] if len(drawn) == 1 else _side_by_side(drawn)


def _side_by_side(pictures: list[Image.Image], gap: int = 8) -> Image.Image:
    """Pictures in a row, scaled to the tallest one's height, on white."""
    height = max(p.height for p in pictures)
    scaled = [
        p if p.height == height else p.resize((round(p.width * height / p.height), height)) for p in pictures
    ]
    canvas = Image.new(
        "RGB", (sum(p.width for p in scaled) + gap * (len(scaled) - 1), height), (255, 255, 255)
    )
    left = 0
    for picture in scaled:
        canvas.paste(picture, (left, 0))
        left += picture.width + gap
    return canvas


def _draw_one(
    canvas: Image.Image,
    items: list[tuple[str | None, tuple[float, ...], str | None]],
    colors: dict[str | None, tuple[int, int, int]],
    width: int | None,
    legend: bool,
) -> Image.Image:
    pen = ImageDraw.Draw(canvas)
    long_side = max(canvas.size)
    line = width or max(2, round(long_side / 300))
    font = _font(max(12, round(long_side / 45)))
    for label, coords, caption in items:
        color = colors[label]
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
        text = caption if caption is not None else label
        if text:
            box = pen.textbbox(anchor, text, font=font)
            pen.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=color)
            pen.text(anchor, text, fill=(255, 255, 255), font=font)
    labels = [label for label in dict.fromkeys(label for label, _, _ in items) if label]
    if len(labels) > LEGEND_ABOVE and legend:
        _legend(pen, labels[:20], colors, font, line)
    return canvas


def _legend(
    pen: ImageDraw.ImageDraw,
    labels: list[str],
    colors: dict[str | None, tuple[int, int, int]],
    font: Any,
    line: int,
) -> None:
    """A key of colours in the top-left corner."""
    pad = 2 * line
    heights = [pen.textbbox((0, 0), label, font=font)[3] for label in labels]
    widths = [pen.textbbox((0, 0), label, font=font)[2] for label in labels]
    step = max(heights) + pad
    swatch = step - pad
    pen.rectangle((0, 0, pad * 3 + swatch + max(widths), pad + step * len(labels)), fill=(255, 255, 255))
    for k, label in enumerate(labels):
        top = pad + k * step
        pen.rectangle((pad, top, pad + swatch, top + swatch), fill=colors[label])
        pen.text((pad * 2 + swatch, top), label, fill=(0, 0, 0), font=font)


def draw_timeline(
    frames: Sequence[Image.Image],
    times: Sequence[float],
    events: Sequence[tuple[str | None, float, float]],
    *,
    start: float,
    end: float,
    count: int = 8,
) -> Image.Image:
    """A strip of a video's frames (with their times) above a timeline with one bar per event.

    Args:
        frames: The frames the model saw.
        times: Each frame's time in seconds.
        events: ``(label, start, end)`` per event, in seconds.
        start: Where the timeline starts (the first frame's time).
        end: Where it ends (the video's length).
        count: Most frames shown (evenly chosen).
    """
    shown = min(count, len(frames))
    picks = sorted({round(k * (len(frames) - 1) / max(1, shown - 1)) for k in range(shown)})
    thumb_h = 120
    thumbs = [
        f.resize((max(1, round(f.width * thumb_h / f.height)), thumb_h)) for f in (frames[k] for k in picks)
    ]
    strip = _side_by_side(thumbs, gap=4)
    font = _font(13)
    colors = _colors([label for label, _, _ in events])
    bar_h, pad = 18, 6
    height = strip.height + 20 + (bar_h + pad) * max(1, len(events)) + pad
    canvas = Image.new("RGB", (strip.width, height), (255, 255, 255))
    canvas.paste(strip, (0, 0))
    pen = ImageDraw.Draw(canvas)
    span = max(1e-6, end - start)  # the strip covers [start, end]
    left = 0
    for k, thumb in zip(picks, thumbs, strict=True):
        pen.text((left + 2, strip.height + 2), f"{times[k]:.1f}s", fill=(0, 0, 0), font=font)
        left += thumb.width + 4
    top = strip.height + 20
    for row, (label, begin, finish) in enumerate(events):
        y = top + row * (bar_h + pad)
        x1 = round(min(max(begin - start, 0.0), span) / span * (canvas.width - 1))
        x2 = max(x1 + 2, round(min(max(finish - start, 0.0), span) / span * (canvas.width - 1)))
        pen.rectangle((0, y, canvas.width - 1, y + bar_h), outline=(200, 200, 200))
        pen.rectangle((x1, y, x2, y + bar_h), fill=colors[label])
        pen.text((x1 + 3, y + 2), f"{label} {begin:.1f}-{finish:.1f}s", fill=(0, 0, 0), font=font)
    return canvas
