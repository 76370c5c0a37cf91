"""Metrics from well-kept libraries: pycocotools (detection), scikit-learn (classification), jiwer (OCR).

Detection uses **pycocotools**, the reference implementation of COCO's mAP@50:95 — the number papers
and model cards report, so a user's figure compares with published ones (supervision's and torchmetrics'
implementations aim to reproduce it). Boxes are ranked by their confidence; where a backend gave none,
every box gets 1.0 and the result says it was not ranked (that AP cannot reward ranking).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import MissingDependencyError
from .samples import Sample

__all__ = [
    "ClassificationScores",
    "DetectionScores",
    "classification_scores",
    "detection_scores",
    "ocr_scores",
]


def _require(module: str, package: str, purpose: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package, "eval", purpose) from None


@dataclass(frozen=True)
class DetectionScores:
    """COCO metrics of one run.

    Attributes:
        metrics: ``map50_95``, ``map50``, ``map75``, ``mar100`` (from pycocotools).
        per_class: AP@50:95 of each class with ground truth.
        per_class_ap50: AP@50 of each class with ground truth.
        pr_curve: ``(recall, precision)`` at IoU 0.5, averaged over classes (101 recall points).
        ranked: Whether every box had a confidence to rank by.
    """

    metrics: dict[str, float]
    per_class: dict[str, float]
    per_class_ap50: dict[str, float]
    pr_curve: tuple[tuple[float, ...], tuple[float, ...]]
    ranked: bool


def _coco_truth(samples: Sequence[Sample], classes: Sequence[str]) -> dict[str, Any]:
    ids = {name: k + 1 for k, name in enumerate(classes)}
    annotations: list[dict[str, Any]] = []
    for image_id, sample in enumerate(samples, start=1):
        for box in sample.truth:
            if box.label not in ids:
                continue
            x1, y1, x2, y2 = box.xyxy
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": ids[box.label],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": int(box.crowd),
                }
            )
    return {
        "images": [{"id": k} for k in range(1, len(samples) + 1)],
        "annotations": annotations,
        "categories": [{"id": k, "name": name} for name, k in ids.items()],
    }


def coco_predictions(predictions: Sequence[Any], classes: Sequence[str]) -> tuple[list[dict[str, Any]], bool]:
    """Each predicted box as a COCO result (``score``: its confidence, or 1.0), and whether all had one."""
    ids = {name: k + 1 for k, name in enumerate(classes)}
    out: list[dict[str, Any]] = []
    ranked = True
    for image_id, result in enumerate(predictions, start=1):
        if result is None or not result.ok:
            continue  # a failed image predicts nothing: its objects count as missed
        for det in result:
            if det.label not in ids:
                continue
            ranked = ranked and det.confidence is not None
            x1, y1, x2, y2 = det.xyxy
            score = 1.0 if det.confidence is None else float(det.confidence)
            out.append(
                {
                    "image_id": image_id,
                    "category_id": ids[det.label],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": score,
                }
            )
    return out, ranked


def detection_scores(
    samples: Sequence[Sample], predictions: Sequence[Any], classes: Sequence[str]
) -> DetectionScores:
    """COCO mAP of the predictions (``Detections`` per sample, ``None`` or failed for a miss)."""
    coco = _require("pycocotools.coco", "pycocotools", "Detection metrics")
    cocoeval = _require("pycocotools.cocoeval", "pycocotools", "Detection metrics")
    np = _require("numpy", "numpy", "Detection metrics")
    truth = coco.COCO()
    truth.dataset = _coco_truth(samples, classes)
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
    results, ranked = coco_predictions(predictions, classes)
    zero_curve = (tuple(float(r) for r in np.linspace(0, 1, 101)), (0.0,) * 101)
    present = sorted({a["category_id"] for a in truth.dataset["annotations"]})
    if not results or not present:
        zeros = dict.fromkeys((classes[i - 1] for i in present), 0.0)
        metrics = {"map50_95": 0.0, "map50": 0.0, "map75": 0.0, "mar100": 0.0}
        return DetectionScores(metrics, zeros, dict(zeros), zero_curve, ranked)
    with contextlib.redirect_stdout(io.StringIO()):
        found = truth.loadRes(results)
        evaluator = cocoeval.COCOeval(truth, found, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = [max(0.0, float(v)) for v in evaluator.stats]
    precision = evaluator.eval["precision"]  # [IoU, recall, class, area, max detections]
    per_class, per_class_50 = {}, {}
    for k, category in enumerate(evaluator.params.catIds):
        if category not in present:
            continue
        every = precision[:, :, k, 0, -1]
        at50 = precision[0, :, k, 0, -1]
        per_class[classes[category - 1]] = float(every[every > -1].mean()) if (every > -1).any() else 0.0
        per_class_50[classes[category - 1]] = float(at50[at50 > -1].mean()) if (at50 > -1).any() else 0.0
    curve = precision[0, :, :, 0, -1]
    curve = np.where(curve < 0, np.nan, curve)
    mean = np.nan_to_num(np.nanmean(curve, axis=1), nan=0.0) if curve.size else np.zeros(101)
    metrics = {"map50_95": stats[0], "map50": stats[1], "map75": stats[2], "mar100": stats[8]}
    recall = tuple(float(r) for r in evaluator.params.recThrs)
    return DetectionScores(metrics, per_class, per_class_50, (recall, tuple(float(p) for p in mean)), ranked)


@dataclass(frozen=True)
class ClassificationScores:
    """Classification metrics of one run: ``accuracy``, ``macro_f1`` (and per class F1)."""

    metrics: dict[str, float]
    per_class: dict[str, float]


_NONE = "\x00none"  # what a failed image "predicted": never one of the classes


def classification_scores(
    samples: Sequence[Sample], predictions: Sequence[Any], classes: Sequence[str]
) -> ClassificationScores:
    """Accuracy and macro-F1 (scikit-learn); a failed image counts as a wrong answer."""
    sk = _require("sklearn.metrics", "scikit-learn", "Classification metrics")
    truth = [s.truth for s in samples]
    guess = [r.label if r is not None and r.ok and r.label is not None else _NONE for r in predictions]
    labels = list(classes)
    per = sk.f1_score(truth, guess, labels=labels, average=None, zero_division=0)
    metrics = {
        "accuracy": float(sk.accuracy_score(truth, guess)),
        "macro_f1": float(sk.f1_score(truth, guess, labels=labels, average="macro", zero_division=0)),
    }
    return ClassificationScores(metrics, {c: float(f) for c, f in zip(labels, per, strict=True)})


def multilabel_scores(
    samples: Sequence[Sample], predictions: Sequence[Any], classes: Sequence[str]
) -> ClassificationScores:
    """Per-class F1, their mean (``macro_f1``), ``micro_f1`` and exact-match ``accuracy`` (scikit-learn)."""
    sk = _require("sklearn.metrics", "scikit-learn", "Classification metrics")
    pre = _require("sklearn.preprocessing", "scikit-learn", "Classification metrics")
    binarizer = pre.MultiLabelBinarizer(classes=list(classes))
    truth = binarizer.fit_transform([sorted(s.truth & set(classes)) for s in samples])
    guess = binarizer.transform([list(r.labels) if r is not None and r.ok else [] for r in predictions])
    per = sk.f1_score(truth, guess, average=None, zero_division=0)
    metrics = {
        "accuracy": float(sk.accuracy_score(truth, guess)),
        "macro_f1": float(sk.f1_score(truth, guess, average="macro", zero_division=0)),
        "micro_f1": float(sk.f1_score(truth, guess, average="micro", zero_division=0)),
    }
    return ClassificationScores(metrics, {c: float(f) for c, f in zip(classes, per, strict=True)})


def ocr_scores(
    samples: Sequence[Sample], predictions: Sequence[Any]
) -> tuple[dict[str, float], list[float | None]]:
    """Character error rate over the whole set (jiwer), and each image's own (``None`` for empty truth).

    A failed image's text is empty: all its characters count as deleted.
    """
    jiwer = _require("jiwer", "jiwer", "OCR metrics")
    truth = [s.truth for s in samples]
    text = [r.text if r is not None and r.ok else "" for r in predictions]
    kept = [(t, h) for t, h in zip(truth, text, strict=True) if t]
    if not kept:
        return {"cer": 0.0}, [None] * len(truth)
    overall = float(jiwer.cer([t for t, _ in kept], [h for _, h in kept]))
    each = [float(jiwer.cer(t, h)) if t else None for t, h in zip(truth, text, strict=True)]
    return {"cer": overall}, each
