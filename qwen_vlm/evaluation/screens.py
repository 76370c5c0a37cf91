"""GUI grounding on labelled screenshots: ScreenSpot, ScreenSpot-v2, ScreenSpot-Pro, or your own list.

A prediction is correct when its point falls inside the target box (a predicted box counts by its
centre); an answer with no usable point is a *wrong format*, counted as a miss. Accuracy is reported
overall and per group: the element type (text or icon), the platform or source, and ScreenSpot-Pro's
group and application.

Annotation files, as their repositories define them:

* ScreenSpot (SeeClick) and ScreenSpot-v2: a JSON list of ``{"img_filename", "bbox": [x, y, w, h],
  "instruction", "data_type": "text"|"icon", "data_source"}``, boxes in pixels;
* ScreenSpot-Pro: a JSON list of ``{"img_filename", "bbox": [x1, y1, x2, y2], "img_size", "instruction",
  "ui_type", "platform", "group", "application"}``, boxes in pixels.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .samples import TARGET, LabelledSet, Sample

__all__ = ["ground_scores", "load_screenspot", "run_ground", "target_items"]

#: Annotation keys reported as groups (ScreenSpot's ``data_type`` is ScreenSpot-Pro's ``ui_type``).
_GROUPS = {"data_type": "type", "ui_type": "type", "data_source": "platform", "platform": "platform"}
_PRO_GROUPS = ("group", "application")


def _box(value: Any, xywh: bool, where: str) -> tuple[float, float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise DatasetError(f"{where}: bbox must be 4 numbers, got {value!r}")
    try:
        a, b, c, d = (float(v) for v in value)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: bbox must be 4 numbers, got {value!r}") from None
    box = (a, b, a + c, b + d) if xywh else (a, b, c, d)
    if box[2] < box[0] or box[3] < box[1]:
        raise DatasetError(f"{where}: bbox {list(value)} has no area")
    return box


def _groups(item: Mapping[str, Any]) -> dict[str, str]:
    groups = {name: str(item[key]) for key, name in _GROUPS.items() if item.get(key) is not None}
    groups.update({key: str(item[key]) for key in _PRO_GROUPS if item.get(key) is not None})
    return groups


def load_screenspot(
    path: str | os.PathLike[str], images: str | os.PathLike[str] | None = None
) -> LabelledSet:
    """A ScreenSpot, ScreenSpot-v2 or ScreenSpot-Pro annotation file.

    ``images``: the screenshots' folder (default: ``images/`` beside the file, or the file's own folder).

    Raises:
        DatasetError: An unreadable file, a missing field or screenshot, a box without area.
    """
    file = Path(path)
    try:
        items = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError("file not found", file) from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"not valid JSON ({exc.msg})", file, exc.lineno) from None
    if not isinstance(items, list) or not items:
        raise DatasetError("expected a non-empty JSON list of annotations", file)
    folder = Path(images) if images is not None else file.parent / "images"
    if images is None and not folder.is_dir():
        folder = file.parent
    samples = []
    for k, item in enumerate(items):
        where = f"{file.name}, annotation {k}"
        if not isinstance(item, Mapping) or not all(
            key in item for key in ("img_filename", "bbox", "instruction")
        ):
            raise DatasetError(f"{where}: needs img_filename, bbox and instruction")
        picture = folder / str(item["img_filename"])
        if not picture.is_file():
            raise DatasetError(f"{where}: screenshot {picture} not found")
        xywh = "img_size" not in item and "ui_type" not in item  # ScreenSpot / -v2; -Pro has x1y1x2y2
        truth = {
            "box": _box(item["bbox"], xywh, where),
            "instruction": str(item["instruction"]),
            "groups": _groups(item),
        }
        samples.append(Sample(str(picture), Path(picture).name, truth))
    return LabelledSet(TARGET, tuple(samples), (), f"ScreenSpot {file.name}")


def target_items(items: Sequence[Any], instruction: str | None = None) -> LabelledSet:
    """Labelled screenshots in memory.

    ``(screenshot, instruction, box)`` triples, dicts with ``image``, ``instruction``, ``box`` (and
    ``groups``), or ``(screenshot, box)`` pairs with one ``instruction``. Boxes are ``(x1, y1, x2, y2)``
    in pixels of the screenshot.

    Raises:
        DatasetError: An item of the wrong shape, or pairs without an instruction.
    """
    samples = []
    for k, item in enumerate(items):
        where = f"item {k}"
        groups: dict[str, str] = {}
        if isinstance(item, Mapping):
            image, text, box = item.get("image"), item.get("instruction"), item.get("box")
            groups = {str(a): str(b) for a, b in dict(item.get("groups") or {}).items()}
        elif isinstance(item, (tuple, list)) and len(item) == 3:
            image, text, box = item
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            image, box = item
            text = instruction
        else:
            raise DatasetError(f"{where}: expected (screenshot, instruction, box), got {type(item).__name__}")
        if not isinstance(text, str) or not text.strip():
            raise DatasetError(f"{where}: no instruction (give triples, or instruction= for pairs)")
        truth = {"box": _box(box, False, where), "instruction": text, "groups": groups}
        samples.append(Sample(image, f"#{k}", truth))
    if not samples:
        raise DatasetError("the list of screenshots is empty")
    return LabelledSet(TARGET, tuple(samples), (), f"{len(samples)} labelled screenshots")


def run_ground(client: Any, task: Any, samples: Sequence[Sample], options: Mapping[str, Any]) -> list[Any]:
    """Every screenshot grounded (its own instruction), concurrently as the backend allows, in order."""
    workers = max(1, int(client.backend.max_concurrency))

    def one(sample: Sample) -> Any:
        return client.run(task, sample.image, instruction=sample.truth["instruction"], **options)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, samples))


def ground_scores(
    samples: Sequence[Sample], results: Sequence[Any]
) -> tuple[dict[str, float], dict[str, float]]:
    """``(metrics, per_group)``: accuracy and wrong-format share overall, accuracy per group value."""
    hits = []
    by_group: dict[str, list[bool]] = {}
    wrong_format = 0
    for sample, result in zip(samples, results, strict=True):
        xy = getattr(result, "xy", None) if result.ok else None
        wrong_format += xy is None
        box = sample.truth["box"]
        hit = xy is not None and box[0] <= xy[0] <= box[2] and box[1] <= xy[1] <= box[3]
        hits.append(hit)
        for name, value in sample.truth["groups"].items():
            by_group.setdefault(f"{name}:{value}", []).append(hit)
    total = max(1, len(hits))
    metrics = {"accuracy": sum(hits) / total, "wrong_format": wrong_format / total}
    per_group = {key: sum(values) / len(values) for key, values in sorted(by_group.items())}
    return metrics, per_group
