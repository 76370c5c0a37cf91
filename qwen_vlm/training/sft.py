"""Chat-format training data (``export(..., format="sft")``): records whose targets are provably right.

Each record's user turn is the image and exactly the prompt the SDK sends for the task; its assistant
turn is the answer in the target family's own format and coordinates (:mod:`.targets`). Shapes:

* ``"messages"`` — ``{"messages": [...], "images": [...]}``, the chat shape TRL and transformers' chat
  templates read (image parts first, then the text, as the SDK sends them);
* ``"sharegpt"`` — LLaMA-Factory's: ``<image>`` in the user text, ``"images"`` beside;
* ``"swift"`` — ms-swift's, the same shape (its docs' ``<image>`` placeholder and ``images`` list);
* ``"maestro"`` — roboflow/maestro's JSONL: ``{"image", "prefix", "suffix"}`` in ``train/`` and
  ``valid/`` folders, the images beside them.

``report.json`` records the model, family, coordinate convention, pixel bounds and prompt version used,
and every image left out with why.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from .. import prompts
from ..engine.settings import check_params
from ..errors import ConfigurationError, DatasetError, ImageError
from ..evaluation.datasets import load_dataset
from ..evaluation.samples import BOXES, LABEL, LABELS, TEXT, Sample
from ..images import load_image
from ..models import ModelInfo, family_from_model_type, resolve_model
from ..results import Classification, Detections, Extraction, MultiLabelClassification, Points, Result
from ..tasks import Task, get_task
from .targets import DATA, POINTS, PixelBounds, answer_for, pixel_bounds, samples_from_results

__all__ = ["SFT_SHAPES", "export_sft", "model_info"]

Shape = Literal["messages", "sharegpt", "swift", "maestro"]
SFT_SHAPES: tuple[Shape, ...] = ("messages", "sharegpt", "swift", "maestro")


def model_info(model: str, family: Any = None) -> ModelInfo:
    """What the SDK knows of the model to train: its family from the id, or from a local config.json.

    Raises:
        ConfigurationError: A model whose family cannot be told, or a text-only model.
    """
    config = Path(model).expanduser() / "config.json"
    if family is None and config.is_file():
        family = family_from_model_type(str(json.loads(config.read_text()).get("model_type", "")))
    info = resolve_model(model, "openai", family=family)
    if not info.vision:
        raise ConfigurationError(f"model {model!r} is text-only: it cannot be trained on images")
    return info


def task_kind(task: Task) -> str:
    """The kind of truth a task trains on.

    Raises:
        ConfigurationError: A task with no answer format to train (ground, act, locate_events...).
    """
    for result, kind in (
        (Detections, BOXES),
        (Points, POINTS),
        (Classification, LABEL),
        (MultiLabelClassification, LABELS),
        (Extraction, DATA),
    ):
        if issubclass(task.result, result):
            return kind
    if task.evaluated_as == TEXT:
        return TEXT
    raise ConfigurationError(
        f"{task.label} cannot be made into training data; detect, point, classify, classify_multi, ocr "
        "and extract can"
    )


def export_sft(
    source: Any,
    out: Path,
    *,
    model: str,
    task: str | Task,
    shape: Shape = "messages",
    validation: float = 0.0,
    copy_images: bool = True,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    classes: Sequence[str] | None = None,
    params: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Write chat-format training records for ``task`` on ``model`` (see :func:`qwen_vlm.export`).

    Returns:
        The report written to ``out/report.json``.

    Raises:
        ConfigurationError: A bad shape, split, task or model (before anything is written).
        DatasetError: An empty dataset, or one that cannot be read.
    """
    if shape not in SFT_SHAPES:
        raise ConfigurationError(f"shape must be one of {', '.join(SFT_SHAPES)}, not {shape!r}")
    if not 0.0 <= validation < 1.0:
        raise ConfigurationError(
            f"validation is the share of records held out, from 0 to 1, not {validation!r}"
        )
    found = get_task(task)
    kind = task_kind(found)
    info = model_info(model)
    bounds = pixel_bounds(info, model, min_pixels, max_pixels)
    if isinstance(source, (list, tuple)) and source and all(isinstance(r, Result) for r in source):
        got, samples, skipped = samples_from_results(source)
        if got != kind:
            raise ConfigurationError(f"these results cannot train {found.label}")
        labels = list(classes or sorted({str(label) for s in samples for label in _labels(kind, s.truth)}))
    else:
        if kind in (POINTS, DATA):
            raise ConfigurationError(f"{found.label} trains from the SDK's results, not from a dataset")
        labelled = load_dataset(source, kind, classes=classes)
        samples, skipped, labels = list(labelled.samples), [], list(labelled.classes)
    if not samples:
        raise DatasetError("nothing to train on: the dataset is empty (or every result failed)")
    task_params = dict(params or {})
    if kind in (BOXES, POINTS, LABEL, LABELS):
        task_params.setdefault("classes", labels)
    prompt = found.prompt(check_params(found, task_params))
    records = _records(samples, kind, info, bounds, prompt, out, copy_images, skipped)
    if not records:
        raise DatasetError(f"nothing to train on: every image was skipped ({skipped[0]['reason']})")
    random.Random(seed).shuffle(records)
    held = round(len(records) * validation)
    splits = {"train": records[held:], "validation": records[:held]}
    files = _write(out, shape, splits)
    report = {
        "format": "sft",
        "shape": shape,
        "task": found.name,
        "model": info.id,
        "family": info.family,
        "coordinates": info.spec.coordinates,
        "min_pixels": bounds.min_pixels,
        "max_pixels": bounds.max_pixels,
        "factor": bounds.factor,
        "prompt": prompt,
        "prompt_version": prompts.PROMPT_VERSION,
        "classes": labels,
        "exported": len(records),
        "train": len(splits["train"]),
        "validation": len(splits["validation"]),
        "files": files,
        "skipped": skipped,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    return report


def _labels(kind: str, truth: Any) -> list[str]:
    if kind == BOXES:
        return [box.label for box in truth]
    if kind == POINTS:
        return [label for label, _ in truth]
    if kind == LABEL:
        return [truth] if truth is not None else []
    if kind == LABELS:
        return list(truth)
    return []


def _records(
    samples: list[Sample],
    kind: str,
    info: ModelInfo,
    bounds: PixelBounds,
    prompt: str,
    out: Path,
    copy_images: bool,
    skipped: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """One record per readable sample: ``{"image", "prompt", "answer", "size"}``."""
    folder = out / "images"
    folder.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    for k, sample in enumerate(samples):
        try:
            image = load_image(sample.image)
        except ImageError as exc:
            skipped.append({"index": k, "name": sample.name, "reason": getattr(exc, "reason", str(exc))})
            continue
        if copy_images or not isinstance(sample.image, (str, Path)):
            target = folder / f"{len(records):06d}.png"
            image.save(target)
            where = str(target.relative_to(out))
        else:
            where = str(Path(sample.image).expanduser().resolve())
        answer = answer_for(kind, sample.truth, info, image.size, bounds)
        records.append({"image": where, "prompt": prompt, "answer": answer, "size": list(image.size)})
    return records


def _write(out: Path, shape: Shape, splits: dict[str, list[dict[str, Any]]]) -> list[str]:
    files = []
    for split, records in splits.items():
        if shape == "maestro":
            folder = out / ("train" if split == "train" else "valid")
            folder.mkdir(exist_ok=True)
            lines = []
            for record in records:
                image = Path(record["image"])
                source = image if image.is_absolute() else out / image
                shutil.copy(source, folder / source.name)
                lines.append({"image": source.name, "prefix": record["prompt"], "suffix": record["answer"]})
            path = folder / "annotations.jsonl"
        else:
            lines = [_chat(shape, record) for record in records]
            path = out / f"{split}.jsonl"
        path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
        files.append(str(path.relative_to(out)))
    return files


def _chat(shape: Shape, record: dict[str, Any]) -> dict[str, Any]:
    if shape == "messages":
        user = [{"type": "image"}, {"type": "text", "text": record["prompt"]}]
        assistant = [{"type": "text", "text": record["answer"]}]
    else:  # LLaMA-Factory and ms-swift: the image as a placeholder before the text
        user, assistant = "<image>" + record["prompt"], record["answer"]
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
        "images": [record["image"]],
    }
