"""Training targets: what the model should answer for a labelled image, in its family's own coordinates.

The user turn of a training record is exactly the prompt the SDK sends for the task; the assistant turn
is the answer the SDK's own parser reads back into the labels: boxes and points as ``bbox_2d`` /
``point_2d`` JSON in the family's convention — absolute pixels of the image *after* the processor's
smart resize (Qwen2.5-VL; the resize computed with the pixel bounds the training uses) or a 0–1000 grid
(Qwen2-VL, Qwen3-VL and later) — a class as ``{"label": ...}``, several as a JSON list, text as itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..evaluation.samples import BOXES, LABEL, LABELS, TEXT, Box, Sample
from ..geometry import smart_resize
from ..models import ModelInfo
from ..results import (
    Classification,
    Detections,
    Extraction,
    MultiLabelClassification,
    Points,
    Result,
    TextResult,
)

__all__ = ["POINTS", "PixelBounds", "answer_for", "pixel_bounds", "samples_from_results"]

#: Truth that is points: ``((label, (x, y)), ...)``.
POINTS = "points"
#: Truth that is structured data (extract).
DATA = "data"


@dataclass(frozen=True)
class PixelBounds:
    """The pixel bounds images are resized within, for training and for the tuned model alike."""

    min_pixels: int
    max_pixels: int
    factor: int

    def resized(self, size: tuple[int, int]) -> tuple[int, int]:
        """``(width, height)`` the processor resizes an image of ``size`` to."""
        return smart_resize(
            size[0], size[1], factor=self.factor, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )


def pixel_bounds(info: ModelInfo, model: str, min_pixels: int | None, max_pixels: int | None) -> PixelBounds:
    """The bounds: given ones first, else a local checkpoint's processor's, else the family's defaults."""
    spec = info.spec
    found: dict[str, Any] = {}
    config = Path(os.path.expanduser(model)) / "preprocessor_config.json"
    if config.is_file():
        data = json.loads(config.read_text())
        size = data.get("size") or {}
        found = {
            "min": data.get("min_pixels") or size.get("shortest_edge"),
            "max": data.get("max_pixels") or size.get("longest_edge"),
        }
    low = min_pixels or found.get("min") or spec.min_pixels
    high = max_pixels or found.get("max") or spec.max_pixels
    if low > high:
        raise ConfigurationError(f"min_pixels={low} is more than max_pixels={high}")
    return PixelBounds(int(low), int(high), spec.factor)


def _grid(info: ModelInfo, size: tuple[int, int], bounds: PixelBounds) -> tuple[float, float]:
    """Model units per original pixel, along x and y."""
    if info.spec.coordinates == "absolute":
        width, height = bounds.resized(size)
        return width / size[0], height / size[1]
    return 1000 / size[0], 1000 / size[1]


def answer_for(kind: str, truth: Any, info: ModelInfo, size: tuple[int, int], bounds: PixelBounds) -> str:
    """The answer the model should give for ``truth`` on an image of ``size`` (original pixels).

    Raises:
        ConfigurationError: A kind of truth that has no answer format.
    """
    if kind in (BOXES, POINTS):
        sx, sy = _grid(info, size, bounds)
        objects = []
        for item in truth:
            label, values = (item.label, item.xyxy) if isinstance(item, Box) else item
            if kind == BOXES:
                x1, y1, x2, y2 = values
                box = [round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy)]
                objects.append({"bbox_2d": box, "label": label})
            else:
                objects.append({"point_2d": [round(values[0] * sx), round(values[1] * sy)], "label": label})
        return json.dumps(objects, ensure_ascii=False)
    if kind == LABEL:
        return json.dumps({"label": truth}, ensure_ascii=False)
    if kind == LABELS:
        return json.dumps(sorted(truth), ensure_ascii=False)
    if kind == TEXT:
        return str(truth)
    if kind == DATA:
        return json.dumps(truth, ensure_ascii=False)
    raise ConfigurationError(f"no training answer for truth of kind {kind!r}")


def samples_from_results(results: Sequence[Result]) -> tuple[str, list[Sample], list[dict[str, Any]]]:
    """The SDK's results as labelled samples (their source images, their answers as truth).

    Returns:
        ``(kind, samples, skipped)``: failed results, and results without a source image, are skipped.

    Raises:
        ConfigurationError: Results of different tasks, or of a task that cannot be trained.
    """
    kinds = {_kind(r) for r in results}
    if len(kinds) != 1:
        raise ConfigurationError(f"results of one task at a time (got {sorted(k or '?' for k in kinds)})")
    (kind,) = kinds
    if kind is None:
        raise ConfigurationError(f"{type(results[0]).__name__} results cannot be made into training data")
    samples, skipped = [], []
    for k, result in enumerate(results):
        if not result.ok:
            skipped.append({"index": k, "reason": f"failed: {result.error}"})
            continue
        if result.source is None:
            skipped.append({"index": k, "reason": "the result does not know its image"})
            continue
        samples.append(Sample(result.source, f"#{k}", _truth(kind, result)))
    return kind, samples, skipped


def _kind(result: Result) -> str | None:
    for cls, kind in (
        (Detections, BOXES),
        (Points, POINTS),
        (Classification, LABEL),
        (MultiLabelClassification, LABELS),
        (Extraction, DATA),
        (TextResult, TEXT),
    ):
        if isinstance(result, cls):
            return kind
    return None


def _truth(kind: str, result: Any) -> Any:
    if kind == BOXES:
        return tuple(Box(d.label or "object", tuple(d.xyxy)) for d in result)
    if kind == POINTS:
        return tuple((p.label or "object", tuple(p.xy)) for p in result)
    if kind == LABEL:
        return result.label
    if kind == LABELS:
        return frozenset(result.labels)
    if kind == DATA:
        data = result.data
        return data.model_dump(mode="json") if hasattr(data, "model_dump") else data
    return result.text
