"""A labelled dataset in memory: its images, their truth and its classes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BOXES", "LABEL", "LABELS", "TARGET", "TEXT", "Box", "LabelledSet", "Sample"]

#: What a dataset's truth is, each image: boxes, one class, a set of classes, a text, or the element an
#: instruction names (``{"box", "instruction", "groups"}``).
BOXES, LABEL, LABELS, TEXT, TARGET = "boxes", "label", "labels", "text", "target"


@dataclass(frozen=True)
class Box:
    """One true object: its class and box ``(x1, y1, x2, y2)`` in pixels; ``crowd`` as COCO's iscrowd."""

    label: str
    xyxy: tuple[float, float, float, float]
    crowd: bool = False


@dataclass(frozen=True)
class Sample:
    """One labelled image.

    Attributes:
        image: What is passed to the model (a path, a PIL image...).
        name: A name for tables (the file name, or ``#k``).
        truth: Detection: a tuple of :class:`Box`; classification: the class; multi-label: a frozenset of
            classes; OCR: the text.
    """

    image: Any
    name: str
    truth: Any


@dataclass(frozen=True)
class LabelledSet:
    """A dataset ready to evaluate on: its samples and its classes, in a stable order.

    ``kind`` is what its truth is: :data:`BOXES`, :data:`LABEL`, :data:`LABELS` or :data:`TEXT`.
    """

    kind: str
    samples: tuple[Sample, ...]
    classes: tuple[str, ...] = ()
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
