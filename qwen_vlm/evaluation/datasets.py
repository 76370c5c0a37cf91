"""Labelled datasets for evaluation: COCO JSON, YOLO folders, class folders, supervision, pairs.

Everything is read and checked before any model runs: a missing image, an annotation for an image or
category that does not exist, an empty category list, a YOLO label out of range — each is a
:class:`~qwen_vlm.errors.DatasetError` naming the file and, where there is one, the line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import DatasetError, MissingDependencyError
from ..images import IMAGE_SUFFIXES
from .pairs import from_pairs, from_supervision
from .samples import BOXES, LABEL, LABELS, TARGET, TEXT, Box, LabelledSet, Sample
from .screens import load_screenspot, target_items

__all__ = ["load_class_folders", "load_coco", "load_dataset", "load_yolo"]


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DatasetError("file not found", path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"not valid JSON ({exc.msg})", path, exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot be read ({exc})", path) from None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_coco(
    annotations: str | os.PathLike[str], images: str | os.PathLike[str] | None = None
) -> LabelledSet:
    """A COCO detection dataset: the annotation JSON and the folder its ``file_name`` paths are in.

    Args:
        annotations: The JSON file (``images``, ``annotations``, ``categories``).
        images: The image folder (default: the JSON's folder, or an ``images`` folder next to it).

    Raises:
        DatasetError: Naming the file and what is wrong, before any model call.
    """
    path = Path(annotations)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise DatasetError("a COCO file holds one JSON object", path)
    categories = data.get("categories")
    if not isinstance(categories, list) or not categories:
        raise DatasetError("the category list is empty: nothing to evaluate", path)
    names: dict[int, str] = {}
    for k, cat in enumerate(categories):
        if (
            not isinstance(cat, dict)
            or not isinstance(cat.get("id"), int)
            or not isinstance(cat.get("name"), str)
        ):
            raise DatasetError(f"categories[{k}] needs an integer 'id' and a string 'name'", path)
        names[cat["id"]] = cat["name"]
    folder = Path(images) if images is not None else _image_folder(path, data)
    files: dict[int, Path] = {}
    for k, image in enumerate(data.get("images") or []):
        if not isinstance(image, dict) or not isinstance(image.get("id"), int) or not image.get("file_name"):
            raise DatasetError(f"images[{k}] needs an integer 'id' and a 'file_name'", path)
        file = folder / str(image["file_name"])
        if not file.is_file():
            raise DatasetError(f"images[{k}] (id {image['id']}): image file {file} not found", path)
        files[image["id"]] = file
    if not files:
        raise DatasetError("the image list is empty", path)
    boxes: dict[int, list[Box]] = {image_id: [] for image_id in files}
    for k, ann in enumerate(data.get("annotations") or []):
        boxes[_coco_image(ann, k, files, path)].append(_coco_box(ann, k, names, path))
    samples = tuple(Sample(str(files[i]), files[i].name, tuple(boxes[i])) for i in files)
    return LabelledSet(BOXES, samples, tuple(names[i] for i in sorted(names)), f"COCO {path.name}")


def _image_folder(path: Path, data: dict[str, Any]) -> Path:
    first = next(iter(data.get("images") or []), None)
    name = str(first.get("file_name", "")) if isinstance(first, dict) else ""
    for folder in (path.parent, path.parent / "images"):
        if name and (folder / name).is_file():
            return folder
    return path.parent


def _coco_image(ann: Any, k: int, files: Mapping[int, Path], path: Path) -> int:
    if not isinstance(ann, dict) or ann.get("image_id") not in files:
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        raise DatasetError(f"annotations[{k}] is for image_id {image_id!r}, which is not in 'images'", path)
    return int(ann["image_id"])


def _coco_box(ann: dict[str, Any], k: int, names: Mapping[int, str], path: Path) -> Box:
    if ann.get("category_id") not in names:
        raise DatasetError(
            f"annotations[{k}] has category_id {ann.get('category_id')!r}, not a category", path
        )
    bbox = ann.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(v) for v in bbox) or min(bbox[2:]) < 0:
        raise DatasetError(f"annotations[{k}] needs bbox [x, y, width, height] with width, height >= 0", path)
    x, y, w, h = (float(v) for v in bbox)
    return Box(names[ann["category_id"]], (x, y, x + w, y + h), bool(ann.get("iscrowd", 0)))


def load_yolo(root: str | os.PathLike[str], split: str | None = None) -> LabelledSet:
    """A YOLO detection dataset: ``data.yaml`` (``names``), ``images/`` and ``labels/`` (optionally a split).

    Raises:
        DatasetError: Naming the file and line of a malformed label, a class out of range, a label file
            without its image, an empty ``names``.
    """
    base = Path(root)
    yaml_path = next((base / n for n in ("data.yaml", "dataset.yaml") if (base / n).is_file()), None)
    if yaml_path is None:
        raise DatasetError("no data.yaml (the class names) in this YOLO folder", base)
    classes = _yolo_names(yaml_path)
    images = base / "images" / split if split else base / "images"
    labels = base / "labels" / split if split else base / "labels"
    if not images.is_dir():
        raise DatasetError("no images folder", images)
    files = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    stems = {p.stem for p in files}
    for label_file in sorted(labels.glob("*.txt")) if labels.is_dir() else []:
        if label_file.stem not in stems:
            raise DatasetError(f"labels for an image that is not in {images}", label_file)
    samples = tuple(
        Sample(str(f), f.name, tuple(_yolo_boxes(labels / f"{f.stem}.txt", f, classes))) for f in files
    )
    if not samples:
        raise DatasetError("no images", images)
    return LabelledSet(BOXES, samples, classes, f"YOLO {base.name}")


def _yolo_names(path: Path) -> tuple[str, ...]:
    try:
        import yaml
    except ImportError:
        raise MissingDependencyError("pyyaml", "eval", "Reading a YOLO data.yaml") from None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DatasetError(f"not valid YAML ({exc})", path, mark.line + 1 if mark else None) from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise DatasetError("'names' must be a non-empty list of class names", path)
    return tuple(names)


def _yolo_boxes(path: Path, image: Path, classes: Sequence[str]) -> Iterable[Box]:
    if not path.is_file():
        return []  # an image without a label file has no objects
    from PIL import Image

    with Image.open(image) as opened:
        width, height = opened.size
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls, cx, cy, w, h = int(parts[0]), *(float(v) for v in parts[1:5])
        except ValueError:
            raise DatasetError(f"expected 'class cx cy w h', got {line.strip()!r}", path, number) from None
        if len(parts) != 5:
            raise DatasetError(f"expected 5 values (class cx cy w h), got {len(parts)}", path, number)
        if not 0 <= cls < len(classes):
            raise DatasetError(
                f"class {cls} is out of range (data.yaml has {len(classes)} names)", path, number
            )
        if not all(-1e-6 <= v <= 1 + 1e-6 for v in (cx, cy, w, h)):
            raise DatasetError("coordinates must be normalised to 0-1", path, number)
        x1, y1 = (cx - w / 2) * width, (cy - h / 2) * height
        out.append(Box(classes[cls], (x1, y1, x1 + w * width, y1 + h * height)))
    return out


def load_class_folders(root: str | os.PathLike[str]) -> LabelledSet:
    """A classification dataset laid out as one folder per class (``root/cat/*.jpg``, ``root/dog/*.jpg``)."""
    base = Path(root)
    folders = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    if not folders:
        raise DatasetError("expected one folder per class", base)
    samples = [
        Sample(str(f), f"{folder.name}/{f.name}", folder.name)
        for folder in folders
        for f in sorted(folder.iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not samples:
        raise DatasetError("no images in the class folders", base)
    return LabelledSet(LABEL, tuple(samples), tuple(f.name for f in folders), f"folders {base.name}")


def load_dataset(
    dataset: Any,
    kind: str,
    *,
    images: str | os.PathLike[str] | None = None,
    split: str | None = None,
    classes: Sequence[str] | None = None,
    instruction: str | None = None,
) -> LabelledSet:
    """Any supported dataset, for a kind of truth (``"boxes"``, ``"label"``, ``"labels"``, ``"text"``).

    Args:
        dataset: A COCO JSON path, a YOLO folder, a folder of class folders, a
            ``supervision.DetectionDataset``, or a list of ``(image, truth)`` pairs.
        kind: The kind of truth the task is scored against.
        images: COCO: the image folder.
        split: YOLO: the split subfolder of ``images/`` and ``labels/`` (``"val"``...).
        classes: Override the dataset's classes (their order is the table's).
        instruction: Grounding: the instruction of ``(screenshot, box)`` pairs.

    Raises:
        DatasetError: When the dataset cannot be read or does not fit the task.
    """
    if kind == TARGET:
        if isinstance(dataset, (str, os.PathLike)):
            return load_screenspot(dataset, images)
        if isinstance(dataset, (list, tuple)):
            return target_items(dataset, instruction)
        raise DatasetError(f"cannot evaluate grounding on a {type(dataset).__name__}")
    if isinstance(dataset, (str, os.PathLike)):
        path = Path(dataset)
        if path.suffix.lower() == ".json":
            loaded = load_coco(path, images)
        elif path.is_dir() and any((path / n).is_file() for n in ("data.yaml", "dataset.yaml")):
            loaded = load_yolo(path, split)
        elif path.is_dir():
            loaded = load_class_folders(path)
        else:
            raise DatasetError("not a COCO JSON file, a YOLO folder or a folder of class folders", path)
    elif hasattr(dataset, "classes") and hasattr(dataset, "annotations"):
        loaded = from_supervision(dataset)
    elif isinstance(dataset, (list, tuple)):
        loaded = from_pairs(dataset, kind, classes)
    else:
        raise DatasetError(f"cannot evaluate on a {type(dataset).__name__}")
    if kind == LABELS and loaded.kind == LABEL:  # one true class per image
        samples = tuple(Sample(s.image, s.name, frozenset([s.truth])) for s in loaded.samples)
        loaded = LabelledSet(kind, samples, loaded.classes, loaded.description)
    if loaded.kind != kind:
        raise DatasetError(f"a dataset whose truth is {loaded.kind} cannot score a task answered with {kind}")
    if classes is not None and loaded.kind != TEXT:
        loaded = LabelledSet(loaded.kind, loaded.samples, tuple(classes), loaded.description, loaded.extra)
    return loaded
