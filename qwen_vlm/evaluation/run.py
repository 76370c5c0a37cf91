"""Running clients over a labelled dataset: :func:`evaluate`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..client import QwenVLM
from ..errors import ConfigurationError
from ..results import Classification, Detections, MultiLabelClassification, Page
from ..tasks import Task, get_task
from .datasets import load_dataset
from .documents import DOCUMENT, load_bench, run_documents
from .metrics import classification_scores, detection_scores, multilabel_scores, ocr_scores
from .report import Evaluation, EvaluationRun
from .samples import BOXES, LABEL, LABELS, TARGET, TEXT, LabelledSet
from .screens import ground_scores, run_ground

__all__ = ["evaluate"]

#: What a task's result is scored against, by its result type (unless the task says).
_TRUTH = (
    (Detections, BOXES),
    (Classification, LABEL),
    (MultiLabelClassification, LABELS),
)


def _truth(task: Task) -> str | None:
    if task.evaluated_as is not None:
        return task.evaluated_as if task.evaluated_as in (BOXES, LABEL, LABELS, TEXT, TARGET) else None
    return next((kind for result, kind in _TRUTH if issubclass(task.result, result)), None)


def evaluate(
    clients: QwenVLM | Sequence[QwenVLM] | Mapping[str, QwenVLM],
    dataset: Any,
    task: str | Task = "detect",
    *,
    images: Any = None,
    split: str | None = None,
    classes: Sequence[str] | None = None,
    progress: bool | None = None,
    **options: Any,
) -> Evaluation:
    """Evaluate one or several clients on the same labelled images, with the metrics of the task.

    Args:
        clients: A client, a list of clients, or ``{"name": client}`` (names label the rows).
        dataset: A COCO JSON file, a YOLO folder (``data.yaml``, ``images/``, ``labels/``), a folder of
            class folders, a ``supervision.DetectionDataset``, or a list of ``(image, truth)`` pairs —
            the truth being boxes ``[(label, (x1, y1, x2, y2)), ...]`` or a ``Detections`` (detect), a
            class (classify), class names (classify_multi) or the text (ocr).
        task: ``"detect"``, ``"classify"``, ``"classify_multi"``, ``"ocr"``, ``"document"`` (``dataset``
            an olmOCR-bench folder; ``format=`` picks the answer format), or any task (a name or a
            :class:`~qwen_vlm.Task`) whose result is :class:`~qwen_vlm.Detections` (mAP),
            :class:`~qwen_vlm.Classification` (accuracy, F1), :class:`~qwen_vlm.MultiLabelClassification`
            (F1), or whose ``evaluated_as`` is ``"text"`` (CER against the true text, as ``ocr``).
        images: COCO: the image folder (default: the JSON's folder, or ``images/`` next to it).
        split: YOLO: the split (``"val"`` reads ``images/val`` and ``labels/val``).
        classes: The classes to ask for and score (default: the dataset's, in its order).
        progress: Progress bars (default: on in notebooks and terminals).
        **options: Call options for every client (``max_tokens``, ``constrained``, ``enable_thinking``...).

    Returns:
        An :class:`~qwen_vlm.evaluation.Evaluation`: ``.metrics`` (the first client's), ``.runs`` (every
        client's), ``.to_dataframe()``, and a table with a precision-recall plot in notebooks.

    Raises:
        DatasetError: When the dataset cannot be read (before any model call).
        ConfigurationError: For a task that cannot be evaluated, or no client.
        MissingDependencyError: Without the ``eval`` extra (pycocotools, scikit-learn, jiwer).
    """
    if task == "document" or (isinstance(task, Task) and issubclass(task.result, Page)):
        return _documents(clients, dataset, task, progress, options)
    found = get_task(task)
    kind = _truth(found)
    if kind is None:
        raise ConfigurationError(
            "evaluate scores detect, classify, classify_multi, ocr and tasks with their result types, "
            f"not {task!r}"
        )
    named = _named(clients)
    instruction = options.pop("instruction", None)
    labelled = load_dataset(
        dataset, kind, images=images, split=split, classes=classes, instruction=instruction
    )
    if "strict" in options:
        raise ConfigurationError("evaluate counts a failed image as a miss; strict= does not apply")
    runs = tuple(_run(name, client, found, labelled, progress, options) for name, client in named)
    return Evaluation(found.label, labelled.description, labelled.classes, runs, truth=kind)


def _documents(
    clients: Any, dataset: Any, task: Any, progress: bool | None, options: dict[str, Any]
) -> Evaluation:
    """Document parsing on an olmOCR-bench folder (``format=`` among the options picks the format)."""
    fmt = task if isinstance(task, Task) else options.pop("format", None)
    if "strict" in options:
        raise ConfigurationError("evaluate counts a failed page as failing its tests; strict= does not apply")
    named = _named(clients)
    bench = load_bench(dataset)
    runs = tuple(run_documents(name, client, bench, fmt, progress, options) for name, client in named)
    description = bench.description + (
        f"; {bench.skipped} math tests skipped (need a browser)" if bench.skipped else ""
    )
    return Evaluation("parse_document", description, (), runs, truth=DOCUMENT)


def _named(clients: Any) -> list[tuple[str, QwenVLM]]:
    if isinstance(clients, Mapping):
        pairs = [(str(k), v) for k, v in clients.items()]
    elif isinstance(clients, (list, tuple)):
        pairs = [(getattr(c, "model", f"client {k}"), c) for k, c in enumerate(clients)]
    else:
        pairs = [(getattr(clients, "model", "client"), clients)]
    if not pairs:
        raise ConfigurationError("evaluate needs at least one client")
    out: list[tuple[str, QwenVLM]] = []
    for name, client in pairs:
        if not isinstance(client, QwenVLM):
            raise ConfigurationError(f"evaluate takes QwenVLM clients, got a {type(client).__name__}")
        taken = {n for n, _ in out}
        unique, k = name, 2
        while unique in taken:
            unique, k = f"{name} #{k}", k + 1
        out.append((unique, client))
    return out


def _run(
    name: str,
    client: QwenVLM,
    task: Task,
    labelled: LabelledSet,
    progress: bool | None,
    options: dict[str, Any],
) -> EvaluationRun:
    kind = labelled.kind
    params: dict[str, Any] = {"classes": list(labelled.classes)} if kind not in (TEXT, TARGET) else {}
    start = time.perf_counter()
    if kind == TARGET:  # every screenshot has its own instruction
        results = run_ground(client, task, labelled.samples, {"progress": False, **options})
    else:
        results = client.run(
            task, [s.image for s in labelled.samples], progress=progress, **params, **options
        )
    seconds = time.perf_counter() - start
    samples = labelled.samples
    per_image: list[dict[str, Any]] = [
        {"image": k, "name": s.name, "ok": r.ok, "error": r.error}
        for k, (s, r) in enumerate(zip(samples, results, strict=True))
    ]
    ranked: bool | None = None
    curve = None
    if kind == BOXES:
        found = detection_scores(samples, results, labelled.classes)
        metrics, per_class, ranked, curve = found.metrics, found.per_class, found.ranked, found.pr_curve
        for row, s, r in zip(per_image, samples, results, strict=True):
            row.update(truth=len(s.truth), predicted=len(r) if r.ok else 0)
    elif kind == TARGET:
        metrics, per_class = ground_scores(samples, results)
        for row, s, r in zip(per_image, samples, results, strict=True):
            row.update(instruction=s.truth["instruction"], point=getattr(r, "xy", None))
    elif kind == TEXT:
        metrics, each = ocr_scores(samples, results)
        per_class = {}
        for row, cer in zip(per_image, each, strict=True):
            row["cer"] = cer
    else:
        score = classification_scores if kind == LABEL else multilabel_scores
        scored = score(samples, results, labelled.classes)
        metrics, per_class = scored.metrics, scored.per_class
        for row, s, r in zip(per_image, samples, results, strict=True):
            guess = r.label if isinstance(r, Classification) else sorted(getattr(r, "labels", ()))
            row.update(truth=s.truth if kind == LABEL else sorted(s.truth), predicted=guess)
    usage = [r.usage for r in results if r.usage is not None]
    costs = [u.cost for u in usage if u.cost is not None]
    return EvaluationRun(
        name=name,
        model=client.model,
        backend=type(client.backend).__name__,
        metrics=metrics,
        per_class=per_class,
        images=len(samples),
        failures=sum(1 for r in results if not r.ok),
        seconds=seconds,
        prompt_tokens=sum(u.prompt_tokens for u in usage),
        completion_tokens=sum(u.completion_tokens for u in usage),
        cost=sum(costs) if costs else None,
        ranked=ranked,
        pr_curve=curve,
        per_image=tuple(per_image),
        results=tuple(results),
    )
