"""Free-text results: :class:`TextResult` (prompt, OCR, VQA, caption) and located text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import Result, escape_html, pictures_for, shorten

__all__ = ["TextRegion", "TextResult"]


@dataclass(frozen=True)
class TextRegion:
    """A piece of text located in the image (OCR text spotting or QwenVL-HTML document parsing).

    Attributes:
        text: The text content.
        xyxy: ``(x1, y1, x2, y2)`` in pixels of the original image.
        tag: The HTML tag for document parsing (``"p"``, ``"h2"``...), else ``None``.
        raw_box: The box as the model wrote it.
        attrs: Other attributes (``class`` of an HTML element...).
    """

    text: str
    xyxy: tuple[float, float, float, float]
    tag: str | None = None
    raw_box: tuple[float, float, float, float] | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TextResult(Result):
    """A free-text answer (prompt, OCR, VQA, caption).

    Attributes:
        regions: Located text, when the model answered with boxes (text spotting, QwenVL HTML).
        pages: OCR of a group (:class:`~qwen_vlm.Images`): the text of each image, in order (empty
            strings for images the answer skipped); ``()`` otherwise.
    """

    regions: tuple[TextRegion, ...] = ()
    pages: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"TextResult({shorten(self.text)!r}{self._tail()}"

    def _repr_html_(self) -> str:
        regions = (
            f"<div><i>{len(self.regions)} located text regions: .draw()</i></div>" if self.regions else ""
        )
        return (
            f"<div><pre style='white-space:pre-wrap'>{escape_html(self.text)}</pre>{regions}"
            f"{self._html_tail()}</div>"
        )

    def draw(self, image: Any = None) -> Any:
        """The image with the located text regions drawn on it (see :meth:`Detections.draw`)."""
        objects = [(r.text[:30], r.xyxy, None, None) for r in self.regions]
        from ..draw import draw_objects  # PIL's drawing modules load on first use

        return draw_objects(pictures_for(self, image), objects, legend=False)
