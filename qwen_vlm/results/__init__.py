"""Typed results, one per task: small frozen dataclasses with the raw text one attribute away.

Every result has:

* ``text``: the raw model output (answer part, thinking removed),
* ``thinking``: the reasoning text, or ``None``,
* ``model``: the model id that answered,
* ``usage``: token counts and cost (:class:`Usage`) when known, else ``None``,
* ``error``: ``None`` on success, otherwise a human-readable reason this image failed,
* ``exception``: the typed :class:`~qwen_vlm.errors.QwenVLMError` behind ``error`` (or ``None``), so
  ``isinstance`` checks and attributes such as ``RateLimitError.retry_after`` work without ``strict``,
* ``finish_reason``: why generation stopped (``"stop"``, ``"length"``...), or ``None`` when unknown;
  ``truncated`` is true when it stopped at ``max_tokens``.

A result with ``error`` set never looks like an empty success: check ``result.ok``.
"""

from __future__ import annotations

from .base import Result, Usage
from .classification import Classification, MultiLabelClassification
from .documents import BLOCK_CATEGORIES, Block, Document, Page
from .events import Event, Events
from .extraction import Extraction
from .located import Detection, Detections, Point, Points
from .screens import Action, Target
from .text import TextRegion, TextResult

__all__ = [
    "BLOCK_CATEGORIES",
    "Action",
    "Block",
    "Classification",
    "Detection",
    "Detections",
    "Document",
    "Event",
    "Events",
    "Extraction",
    "MultiLabelClassification",
    "Page",
    "Point",
    "Points",
    "Result",
    "Target",
    "TextRegion",
    "TextResult",
    "Usage",
]
