"""Results to other libraries' types: pandas data frames (``pip install pandas``, imported on use).

``Detections.to_supervision()`` and ``Detections.xyxy_array()`` live on the result itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from .errors import ConfigurationError, MissingDependencyError
from .results import (
    Classification,
    Detections,
    Events,
    Extraction,
    MultiLabelClassification,
    Points,
    Result,
    TextResult,
)
from .results.base import source_name

__all__ = ["to_dataframe", "to_rows"]


def _image_row(index: int, result: Result) -> dict[str, Any]:
    usage = result.usage
    row: dict[str, Any] = {
        "image": index,
        "source": source_name(result.source),
        "task_result": type(result).__name__,
        "ok": result.ok,
        "error": result.error,
        "error_type": result.error_type,
        "text": result.text,
        "thinking": result.thinking,
        "finish_reason": result.finish_reason,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "cost": usage.cost if usage else None,
    }
    if isinstance(result, Classification):
        row["label"] = result.label
    elif isinstance(result, MultiLabelClassification):
        row["labels"] = list(result.labels)
    elif isinstance(result, (Detections, Points)):
        row["objects"] = len(result)
        row["labels"] = list(result.labels)
    elif isinstance(result, Extraction):
        row["data"] = json.dumps(result.to_dict()["data"], ensure_ascii=False)
    elif isinstance(result, TextResult):
        row["regions"] = len(result.regions)
        if result.pages:
            row["pages"] = list(result.pages)
    elif isinstance(result, Events):
        row["events"] = len(result)
        row["labels"] = [e.label for e in result]
    if isinstance(result, (Classification, MultiLabelClassification)) and result.scores is not None:
        row["scores"] = dict(result.scores)
    return row


def _member(image: int | None) -> dict[str, Any]:
    """The ``member`` column (which image of a group) for an object of a group's result."""
    return {} if image is None else {"member": image}


def to_rows(results: Iterable[Result], *, per: Literal["image", "object"] = "image") -> list[dict[str, Any]]:
    """Plain dict rows for any table library: one per image, or one per box/point/text region.

    Args:
        results: Results of one task (a list from a batch call), or a single result.
        per: ``"image"`` (one row each, objects counted) or ``"object"`` (one row per box, point, located
            text region or video event, with its input's index — and ``member``, which image of an
            :class:`~qwen_vlm.Images` group; inputs with none give no row).

    Raises:
        ConfigurationError: For an unknown ``per``, or something that is not a result.
    """
    if per not in ("image", "object"):
        raise ConfigurationError(f"per must be 'image' or 'object', got {per!r}")
    items = [results] if isinstance(results, Result) else list(results)
    rows: list[dict[str, Any]] = []
    for index, result in enumerate(items):
        if not isinstance(result, Result):
            raise ConfigurationError(f"item {index} is a {type(result).__name__}, not a qwen_vlm result")
        if per == "image":
            rows.append(_image_row(index, result))
            continue
        source = source_name(result.source)
        if isinstance(result, Detections):
            for k, det in enumerate(result):
                x1, y1, x2, y2 = det.xyxy
                rows.append({"image": index, "source": source, "object": k, "label": det.label,
                             "x1": x1, "y1": y1, "x2": x2, "y2": y2, "confidence": det.confidence,
                             **_member(det.image)})  # fmt: skip
        elif isinstance(result, Points):
            for k, point in enumerate(result):
                rows.append({"image": index, "source": source, "object": k, "label": point.label,
                             "x": point.xy[0], "y": point.xy[1], "confidence": point.confidence,
                             **_member(point.image)})  # fmt: skip
        elif isinstance(result, Events):
            for k, event in enumerate(result):
                rows.append({"image": index, "source": source, "object": k, "label": event.label,
                             "start": event.start, "end": event.end})  # fmt: skip
        elif isinstance(result, TextResult):
            for k, region in enumerate(result.regions):
                x1, y1, x2, y2 = region.xyxy
                rows.append({"image": index, "source": source, "object": k, "text": region.text,
                             "x1": x1, "y1": y1, "x2": x2, "y2": y2})  # fmt: skip
    return rows


def to_dataframe(results: Iterable[Result], *, per: Literal["image", "object"] = "image") -> Any:
    """A ``pandas.DataFrame`` of results: one row per image, or per object (see :func:`to_rows`).

    Example:
        >>> from qwen_vlm import parse, to_dataframe
        >>> dets = parse("detect", '[{"bbox_2d": [0, 0, 500, 500], "label": "cat"}]', image_size=(640, 480))
        >>> to_dataframe([dets], per="object")[["label", "x2", "y2"]].values.tolist()
        [['cat', 320.0, 240.0]]
    """
    try:
        import pandas as pd
    except ImportError:
        raise MissingDependencyError("pandas", "pandas", "to_dataframe()") from None
    return pd.DataFrame(to_rows(results, per=per))
