"""Results to a dataset: COCO, YOLO or Pascal VOC through supervision's writers, or class folders / CSV.

The most common reason to run a VLM over a folder is to label it. ``export`` writes what the results
found in the format a detector's training expects, with the classes in a stable order, confidences kept
where the format has room (COCO annotations get a ``score``), and every image that could not be exported
listed in ``report.json`` — never silently missing.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigurationError, MissingDependencyError
from .groups import Images
from .images import load_image
from .results import Classification, Detections, MultiLabelClassification, Result
from .results.base import source_name
from .video import Video

__all__ = ["ExportReport", "export", "to_detection_dataset"]

Format = Literal["coco", "yolo", "voc", "folders", "csv", "sft"]
_DETECTION_FORMATS = ("coco", "yolo", "voc")


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote, and what it could not.

    Attributes:
        path: The output folder.
        format: The format written.
        exported: How many images were written with their labels.
        classes: The classes, in the order their ids follow.
        failed: One entry per image left out: its position, source and why.
        files: The main files written (the annotation file(s) or folders).
    """

    path: Path
    format: str
    exported: int
    classes: tuple[str, ...]
    failed: tuple[dict[str, Any], ...] = ()
    files: tuple[str, ...] = field(default=())


def _supervision() -> Any:
    try:
        import supervision as sv
    except ImportError:
        raise MissingDependencyError("supervision", "supervision", "Exporting detections") from None
    return sv


def _classes(results: Sequence[Any], classes: Sequence[str] | None) -> tuple[str, ...]:
    """The classes asked for, then every other label in order of appearance (stable across runs)."""
    if classes is not None:
        return tuple(classes)
    names: dict[str, None] = {}
    for result in results:
        names.update(dict.fromkeys(getattr(result, "classes", None) or ()))
    for result in results:
        for label in getattr(result, "labels", ()):
            if isinstance(label, str):
                names.setdefault(label, None)
    return tuple(names)


def _why_not(result: Any) -> str | None:
    if not isinstance(result, Result):
        return f"a {type(result).__name__}, not a qwen_vlm result"
    if not result.ok:
        return f"the result failed: {result.error}"
    if isinstance(result.source, (Images, Video)):
        return "a group or video result is not one image"
    if result.source is None:
        return "the result does not know its image (made by parse())"
    return None


def _stage(results: Sequence[Any], folder: Path) -> tuple[list[tuple[int, Any, str]], list[dict[str, Any]]]:
    """Each exportable result with its image file: paths kept, in-memory images written to ``folder``.

    Returns ``[(position, result, image path)]`` and the failures.
    """
    kept: list[tuple[int, Any, str]] = []
    failed: list[dict[str, Any]] = []
    names: set[str] = set()
    for k, result in enumerate(results):
        reason = _why_not(result)
        if reason is None:
            source = result.source
            name = source_name(source)
            path = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
            if path is None or not os.path.isfile(path) or os.path.basename(path) in names:
                try:
                    picture = load_image(source)
                except Exception as exc:  # an input that can no longer be read is that image's failure
                    reason = f"its image cannot be read: {exc}"
                else:
                    stem = Path(name).stem if name and not name.startswith(("http:", "https:")) else "image"
                    path = str(folder / f"{k:06d}_{stem}.png")
                    picture.save(path)
            if reason is None and path is not None:
                names.add(os.path.basename(path))
                kept.append((k, result, path))
                continue
        failed.append({"index": k, "source": source_name(getattr(result, "source", None)), "error": reason})
    return kept, failed


def _detections(result: Detections, classes: Sequence[str], min_confidence: float | None) -> Any:
    sv = _supervision()
    import numpy as np

    if min_confidence is not None:
        result = result.filter(min_confidence=min_confidence)
    kept = [d for d in result if d.label in classes]
    xyxy = np.asarray([d.xyxy for d in kept], dtype=np.float32).reshape(-1, 4)
    confidence = [d.confidence for d in kept]
    return sv.Detections(
        xyxy=xyxy,
        class_id=np.asarray([classes.index(str(d.label)) for d in kept], dtype=int),
        confidence=None if None in confidence else np.asarray(confidence, dtype=np.float32),
    )


def to_detection_dataset(
    results: Sequence[Detections],
    classes: Sequence[str] | None = None,
    *,
    min_confidence: float | None = None,
) -> Any:
    """A ``supervision.DetectionDataset`` of the detection results that succeeded.

    In-memory images are written to a temporary folder (the dataset refers to files). Boxes whose label
    is not one of ``classes`` are left out.

    Args:
        results: Detection results (failed ones are left out; :func:`export` lists them).
        classes: The classes in id order (default: the classes asked for, then other labels as they come).
        min_confidence: Leave out boxes under this confidence (and those of unknown confidence).
    """
    dataset, _ = _dataset(results, classes, min_confidence, Path(tempfile.mkdtemp(prefix="qwen-vlm-")))
    return dataset


def _dataset(
    results: Sequence[Any], classes: Sequence[str] | None, min_confidence: float | None, folder: Path
) -> tuple[Any, list[dict[str, Any]]]:
    sv = _supervision()
    wrong = [k for k, r in enumerate(results) if isinstance(r, Result) and not isinstance(r, Detections)]
    if wrong:
        raise ConfigurationError(
            f"results {wrong[:5]} are not detections; export classifications as folders or csv"
        )
    names = _classes(results, classes)
    if not names:
        raise ConfigurationError("no class to export: the results name none (pass classes=)")
    kept, failed = _stage(results, folder)
    annotations = {path: _detections(result, names, min_confidence) for _, result, path in kept}
    dataset = sv.DetectionDataset(
        classes=list(names), images=[p for _, _, p in kept], annotations=annotations
    )
    return dataset, failed


def export(
    results: Any,
    path: str | os.PathLike[str],
    format: Format = "coco",
    *,
    classes: Sequence[str] | None = None,
    min_confidence: float | None = None,
    **sft: Any,
) -> ExportReport:
    """Write results as a dataset in ``path``; failed images are listed in ``path/report.json``.

    Args:
        results: Detection results (``coco``, ``yolo``, ``voc``) or classification results
            (``folders``: one folder per class holding its images; ``csv``: ``labels.csv``). For
            ``"sft"``: the SDK's results of one task, or a labelled dataset ``evaluate`` reads.
        path: The output folder (created).
        format: ``"coco"`` (``images/`` + ``annotations.json``, each annotation with its ``score``),
            ``"yolo"`` (``images/``, ``labels/``, ``data.yaml``), ``"voc"`` (``images/``,
            ``annotations/``), ``"folders"``, ``"csv"``, or ``"sft"``: chat-format training records in
            the target model family's own coordinates (``model=`` and ``task=`` required; ``shape=``
            ``"messages"``, ``"sharegpt"``, ``"swift"`` or ``"maestro"``; ``validation=`` the share held
            out; ``copy_images=``; ``min_pixels=``/``max_pixels=`` the training's pixel bounds; see
            :func:`qwen_vlm.training.export_sft`).
        classes: The classes in id order (default: those asked for, then other labels as they come).
        min_confidence: Detection: leave out boxes under this confidence.
        **sft: The ``"sft"`` format's options.

    Returns:
        An :class:`ExportReport`.

    Raises:
        ConfigurationError: For an unknown format, or results of another task than the format's.
        MissingDependencyError: Without supervision (detection formats).
    """
    out = Path(path)
    if format == "sft":
        return _export_sft(results, out, classes, sft)
    if sft:
        raise ConfigurationError(f"options {sorted(sft)} are for format='sft'")
    if format not in (*_DETECTION_FORMATS, "folders", "csv"):
        raise ConfigurationError(f"format must be coco, yolo, voc, folders, csv or sft, not {format!r}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qwen-vlm-export-") as staging:
        if format in _DETECTION_FORMATS:
            report = _export_detections(results, out, format, classes, min_confidence, Path(staging))
        else:
            report = _export_classes(results, out, format, classes, Path(staging))
    summary = {
        "format": report.format,
        "exported": report.exported,
        "classes": list(report.classes),
        "failed": list(report.failed),
    }
    (out / "report.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str))
    return report


def _export_sft(source: Any, out: Path, classes: Any, options: dict[str, Any]) -> ExportReport:
    """Training records (``format="sft"``): see :func:`qwen_vlm.training.export_sft`."""
    from .training import export_sft

    missing = [name for name in ("model", "task") if name not in options]
    if missing:
        raise ConfigurationError(f"format='sft' needs {' and '.join(f'{m}=' for m in missing)}")
    out.mkdir(parents=True, exist_ok=True)
    report = export_sft(source, out, classes=classes, **options)
    failed = tuple(report["skipped"])
    return ExportReport(
        out, "sft", report["exported"], tuple(report["classes"]), failed, tuple(report["files"])
    )


def _export_detections(
    results: Sequence[Any], out: Path, format: str, classes: Any, min_confidence: Any, staging: Path
) -> ExportReport:
    dataset, failed = _dataset(results, classes, min_confidence, staging)
    images = str(out / "images")
    if format == "coco":
        target = out / "annotations.json"
        dataset.as_coco(images_directory_path=images, annotations_path=str(target))
        _add_scores(target, dataset)
        files: tuple[str, ...] = (str(target),)
    elif format == "yolo":
        dataset.as_yolo(images, str(out / "labels"), data_yaml_path=str(out / "data.yaml"))
        files = (str(out / "labels"), str(out / "data.yaml"))
    else:
        dataset.as_pascal_voc(images, str(out / "annotations"))
        files = (str(out / "annotations"),)
    return ExportReport(out, format, len(dataset), tuple(dataset.classes), tuple(failed), files)


def _add_scores(path: Path, dataset: Any) -> None:
    """Give each COCO annotation its box's confidence (``score``), where known; supervision writes none."""
    data = json.loads(path.read_text())
    by_name = {os.path.basename(p): d for p, _, d in dataset}
    ids = {image["id"]: image["file_name"] for image in data["images"]}
    seen: dict[int, int] = {}
    for annotation in data["annotations"]:
        image_id = annotation["image_id"]
        k = seen.get(image_id, 0)
        seen[image_id] = k + 1
        detections = by_name.get(ids[image_id])
        if detections is not None and detections.confidence is not None and k < len(detections):
            annotation["score"] = float(detections.confidence[k])
    path.write_text(json.dumps(data, indent=2))


def _export_classes(
    results: Sequence[Any], out: Path, format: str, classes: Any, staging: Path
) -> ExportReport:
    wrong = [
        k for k, r in enumerate(results) if not isinstance(r, (Classification, MultiLabelClassification))
    ]
    wrong = [k for k in wrong if isinstance(results[k], Result)]
    if wrong:
        raise ConfigurationError(
            f"results {wrong[:5]} are not classifications; export detections as coco, yolo or voc"
        )
    names = _classes(results, classes)
    kept, failed = _stage(results, staging)
    if format == "csv":
        target = out / "labels.csv"
        with open(target, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "label", "score"])
            for _, result, path in kept:
                labels = [result.label] if isinstance(result, Classification) else list(result.labels)
                scores = result.scores or {}
                name = source_name(result.source) or os.path.basename(path)
                for label in labels:
                    writer.writerow([name, label if label is not None else "", scores.get(label, "")])
        return ExportReport(out, format, len(kept), names, tuple(failed), (str(target),))
    for _, result, path in kept:
        labels = [result.label] if isinstance(result, Classification) else list(result.labels)
        for label in labels or ["_none"]:
            folder = out / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, folder / os.path.basename(path))
    return ExportReport(out, format, len(kept), names, tuple(failed), tuple(str(out / n) for n in names))
