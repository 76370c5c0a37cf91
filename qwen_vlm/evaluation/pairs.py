"""Labelled data given in memory: ``(image, truth)`` pairs, or a ``supervision.DetectionDataset``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..errors import DatasetError
from .samples import BOXES, LABEL, LABELS, TEXT, Box, LabelledSet, Sample

__all__ = ["from_pairs", "from_supervision"]


def _name(image: Any, k: int) -> str:
    if isinstance(image, (str, os.PathLike)) and not str(image).startswith("data:") and len(str(image)) < 500:
        return os.path.basename(os.fspath(image)) or f"#{k}"
    return f"#{k}"


def _boxes(truth: Any, k: int) -> tuple[Box, ...]:
    """Detection truth: a Detections result, or ``(label, (x1, y1, x2, y2))`` pairs."""
    if hasattr(truth, "detections"):  # a qwen_vlm Detections
        return tuple(Box(d.label or "", tuple(float(v) for v in d.xyxy)) for d in truth.detections)  # type: ignore[arg-type]
    out = []
    for j, item in enumerate(truth or ()):
        try:
            label, box = item
            x1, y1, x2, y2 = (float(v) for v in box)
        except (TypeError, ValueError):
            raise DatasetError(
                f"pair {k}, object {j}: expected (label, (x1, y1, x2, y2)), got {item!r}"
            ) from None
        if not isinstance(label, str) or not label or x2 < x1 or y2 < y1:
            raise DatasetError(f"pair {k}, object {j}: a non-empty label and x2 >= x1, y2 >= y1 are needed")
        out.append(Box(label, (x1, y1, x2, y2)))
    return tuple(out)


def _truth(kind: str, truth: Any, k: int) -> Any:
    if kind == BOXES:
        return _boxes(truth, k)
    if kind == LABELS:
        labels = [truth] if isinstance(truth, str) else list(truth or ())
        if not all(isinstance(t, str) and t for t in labels):
            raise DatasetError(f"pair {k}: multi-label truth must be class names, got {truth!r}")
        return frozenset(labels)
    if not isinstance(truth, str) or (kind == LABEL and not truth):
        what = "a class" if kind == LABEL else "the text"
        raise DatasetError(f"pair {k}: the truth is {what}, a string; got {type(truth).__name__}")
    return truth


def from_pairs(pairs: Sequence[Any], kind: str, classes: Sequence[str] | None = None) -> LabelledSet:
    """Samples from ``(image, truth)`` pairs; the classes are ``classes`` or every label, first seen first.

    Raises:
        DatasetError: For a pair that is not ``(image, truth)``, or a truth of the wrong shape.
    """
    samples = []
    for k, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise DatasetError(f"pair {k} is not (image, truth): {type(pair).__name__}")
        samples.append(Sample(pair[0], _name(pair[0], k), _truth(kind, pair[1], k)))
    if not samples:
        raise DatasetError("the list of pairs is empty")
    if classes is None and kind != TEXT:
        seen: dict[str, None] = {}
        for sample in samples:
            labels = (
                [b.label for b in sample.truth]
                if kind == BOXES
                else sorted(sample.truth)
                if kind == LABELS
                else [sample.truth]
            )
            seen.update(dict.fromkeys(labels))
        classes = list(seen)
    if kind != TEXT and not classes:
        raise DatasetError("the pairs name no class: pass classes=")
    noun = "labelled image" if len(samples) == 1 else "labelled images"
    return LabelledSet(kind, tuple(samples), tuple(classes or ()), f"{len(samples)} {noun}")


def from_supervision(dataset: Any) -> LabelledSet:
    """Samples from a ``supervision.DetectionDataset`` (its image paths and annotations)."""
    classes = tuple(str(c) for c in dataset.classes)
    if not classes:
        raise DatasetError("the DetectionDataset has no classes")
    samples = []
    for k, (path, _image, detections) in enumerate(dataset):
        boxes = []
        for xyxy, class_id in zip(detections.xyxy, detections.class_id, strict=True):
            if not 0 <= int(class_id) < len(classes):
                raise DatasetError(
                    f"{path}: class id {int(class_id)} is out of range ({len(classes)} classes)"
                )
            boxes.append(Box(classes[int(class_id)], tuple(float(v) for v in xyxy)))  # type: ignore[arg-type]
        samples.append(Sample(str(path), _name(str(path), k), tuple(boxes)))
    return LabelledSet(BOXES, tuple(samples), classes, f"DetectionDataset ({len(samples)} images)")
