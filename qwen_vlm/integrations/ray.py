"""Run any qwen-vlm task over a Ray Data dataset (``pip install "qwen-vlm[ray]"``).

:class:`QwenVLMPredictor` is a callable class for :meth:`ray.data.Dataset.map_batches`: Ray builds one per
actor, each holding one :class:`~qwen_vlm.QwenVLM` (the local backend on a GPU/CPU actor, or the remote
backend against a vLLM/SGLang fleet or OpenRouter), and calls it on batches of rows. It reads images from
one column (paths, URLs, bytes, or arrays as :func:`ray.data.read_images` gives them) and returns the
other columns unchanged plus typed result columns. :func:`run` wires it in one call::

    import ray
    from qwen_vlm.integrations.ray import run

    ds = ray.data.read_images("s3://bucket/photos/", include_paths=True)
    out = run(ds, "classify", model="Qwen/Qwen3-VL-8B-Instruct", classes=["cat", "dog"],
              concurrency=4, num_gpus=1)
    out.write_parquet("s3://bucket/labels/")

Failure semantics are those of the client: an image that fails (unreadable, a request that failed after
its retries, an answer that cannot be parsed) is a row with ``error`` set, never a failed job. Errors that
concern the whole call (a bad key, an unknown model) raise: no row could succeed. Actors lost to a node
failure are restarted and their batches retried by Ray (``max_restarts`` / ``max_task_retries`` in
``ray_remote_args``).

Importing this module does not import ray; :func:`run` does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..client import QwenVLM
from ..engine.settings import check_params
from ..errors import ConfigurationError, MissingDependencyError
from ..results import (
    Classification,
    Detections,
    Events,
    Extraction,
    MultiLabelClassification,
    Points,
    Result,
    TextResult,
)
from ..results.base import own_data
from ..tasks import Task, get_task

__all__ = ["RESULT_COLUMNS", "QwenVLMPredictor", "run"]

#: Columns every task adds (prefixed): the raw answer, the failure, why generation stopped, token usage.
RESULT_COLUMNS = ("text", "error", "error_type", "finish_reason", "prompt_tokens", "completion_tokens")


def common_row(result: Result) -> dict[str, Any]:
    """The :data:`RESULT_COLUMNS` of one result: its raw answer, failure, stop reason and token usage."""
    usage = result.usage
    return {
        "text": result.text,
        "error": result.error,
        "error_type": result.error_type,
        "finish_reason": result.finish_reason,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
    }


def _result_row(result: Result) -> dict[str, Any]:
    row = common_row(result)
    if isinstance(result, Classification):
        row["label"] = result.label
        row["scores"] = list(result.scores.items()) if result.scores is not None else None
    elif isinstance(result, MultiLabelClassification):
        row["labels"] = list(result.labels)
        row["scores"] = list(result.scores.items()) if result.scores is not None else None
    elif isinstance(result, Detections):
        row["boxes"] = [list(d.xyxy) for d in result]
        row["labels"] = [d.label or "" for d in result]
        row["confidences"] = result.confidences
    elif isinstance(result, Points):
        row["points"] = [list(p.xy) for p in result]
        row["labels"] = [p.label or "" for p in result]
        row["confidences"] = result.confidences
    elif isinstance(result, Extraction):
        row["data"] = json.dumps(result.to_dict()["data"], ensure_ascii=False) if result.ok else None
    elif isinstance(result, TextResult):
        regions = [{"text": r.text, "xyxy": list(r.xyxy)} for r in result.regions]
        row["regions"] = json.dumps(regions) if regions else None
    elif not isinstance(result, Events):  # a custom task's result: its own fields as JSON
        row["result"] = json.dumps(own_data(result), ensure_ascii=False, default=str) if result.ok else None
    return row


def common_types() -> dict[str, Any]:
    """The Arrow types of :data:`RESULT_COLUMNS`."""
    import pyarrow as pa

    return {
        "text": pa.string(),
        "error": pa.string(),
        "error_type": pa.string(),
        "finish_reason": pa.string(),
        "prompt_tokens": pa.int64(),
        "completion_tokens": pa.int64(),
    }


def _arrow_types(task: Task) -> dict[str, Any]:
    """The columns a task adds, from its result type."""
    import pyarrow as pa

    types = common_types()
    kind = task.result
    if issubclass(kind, Classification):
        types["label"] = pa.string()
        types["scores"] = pa.map_(pa.string(), pa.float64())
    elif issubclass(kind, MultiLabelClassification):
        types["labels"] = pa.list_(pa.string())
        types["scores"] = pa.map_(pa.string(), pa.float64())
    elif issubclass(kind, (Detections, Points)):
        types["boxes" if issubclass(kind, Detections) else "points"] = pa.list_(pa.list_(pa.float64()))
        types["labels"] = pa.list_(pa.string())
        types["confidences"] = pa.list_(pa.float64())  # null where unknown
    elif issubclass(kind, Extraction):
        types["data"] = pa.string()
    elif issubclass(kind, TextResult):
        types["regions"] = pa.string()
    elif not issubclass(kind, Events):
        types["result"] = pa.string()
    return types


class QwenVLMPredictor:
    """A callable class for ``Dataset.map_batches``: one client per actor, one task over an image column.

    Args:
        task: A task name (``"detect"``, ``"object-detection"``, ``"classify"``...) or a
            :class:`~qwen_vlm.Task` (picklable: defined at a module's top level).
        model: The model id (``None``: the backend's default).
        params: The task's parameters (``classes``, ``question``, ``schema``...).
        image_column: The column holding the images: paths, URLs, bytes, or ``HxWx3`` arrays.
        prefix: Put before every added column's name (to run several tasks on one dataset).
        keep_image: Keep the image column in the output (default: dropped, since arrays are large;
            string paths and URLs are always kept).
        call_options: Per-call options (``max_tokens``, ``temperature``, ``enable_thinking``).
        **client_options: ``QwenVLM`` options (``backend``, ``base_url``, ``api_key``, ``device``...).

    Returns, per batch, a ``pyarrow.Table``: the input columns (in order), then ``text``, ``error``,
    ``error_type``, ``finish_reason``, ``prompt_tokens``, ``completion_tokens`` and the task's own columns:
    ``label`` (classify), ``labels`` (classify_multi), ``boxes`` + ``labels`` + ``confidences`` (detect,
    boxes as ``[x1, y1, x2, y2]`` in pixels), ``points`` + ``labels`` + ``confidences`` (point),
    ``data`` (extract, JSON), ``regions`` (tasks with text results: located text as JSON, null when
    none), ``result`` (a custom task's own result fields, as JSON). One output row per input row, in
    order.
    """

    def __init__(
        self,
        task: str | Task,
        model: str | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        image_column: str = "image",
        prefix: str = "",
        keep_image: bool = False,
        call_options: Mapping[str, Any] | None = None,
        **client_options: Any,
    ) -> None:
        self.task = get_task(task)
        self.params = dict(params or {})
        self.image_column = image_column
        self.prefix = prefix
        self.keep_image = keep_image
        self.call_options = {**dict(call_options or {}), "progress": False}
        self.types = _arrow_types(self.task)
        self.vlm = QwenVLM(model, **client_options)

    def __call__(self, batch: Mapping[str, Any]) -> Any:
        """Run the task on one batch (a dict of columns, as ``batch_format="numpy"`` gives)."""
        import pyarrow as pa

        if self.image_column not in batch:
            raise ConfigurationError(
                f"no column {self.image_column!r} in the dataset (columns: {sorted(batch)}); "
                "pass image_column="
            )
        images = list(batch[self.image_column])
        results = self.vlm.run(self.task, images, **self.params, **self.call_options) if images else []
        rows = [_result_row(r) for r in results]
        columns: dict[str, Any] = {}
        for name, values in batch.items():
            is_text = getattr(values, "dtype", None) is not None and values.dtype.kind in "OUS"
            if name == self.image_column and not (self.keep_image or is_text):
                continue
            if getattr(values, "ndim", 1) != 1:
                if name == self.image_column:
                    columns[name] = pa.array([v.tobytes() for v in values], pa.binary())
                continue  # a tensor column other than the images: not carried
            columns[name] = pa.array(list(values))
        for name, kind in self.types.items():
            columns[self.prefix + name] = pa.array([row.get(name) for row in rows], type=kind)
        return pa.table(columns)


def run(
    dataset: Any,
    task: str | Task,
    model: str | None = None,
    *,
    image_column: str = "image",
    batch_size: int = 8,
    concurrency: int | tuple[int, int] = 1,
    num_gpus: float | None = None,
    num_cpus: float | None = None,
    prefix: str = "",
    keep_image: bool = False,
    max_tokens: int | None = None,
    temperature: float | None = None,
    enable_thinking: bool | None = None,
    constrained: bool | None = None,
    max_objects: int | None = None,
    client_options: Mapping[str, Any] | None = None,
    ray_remote_args: Mapping[str, Any] | None = None,
    **params: Any,
) -> Any:
    """Add a task's result columns to a Ray Data dataset (lazy: nothing runs until it is consumed).

    Args:
        dataset: A ``ray.data.Dataset`` with an image column.
        task: The task (``"detect"``, ``"classify"``, ``"ocr"``..., a registered task's name, or a
            :class:`~qwen_vlm.Task`; it is resolved here and sent to the actors as an object).
        model: The model id (``None``: the backend's default).
        image_column: The column holding the images.
        batch_size: Rows per call of one actor (the local backend generates them as one batch).
        concurrency: Actors (or a ``(min, max)`` autoscaling range); each holds one model.
        num_gpus: GPUs per actor (local backend on GPU nodes).
        num_cpus: CPUs per actor.
        prefix: Put before every added column's name.
        keep_image: Keep an array/bytes image column in the output.
        max_tokens: Per-call token budget.
        temperature: Per-call sampling temperature.
        enable_thinking: Switch reasoning on or off.
        constrained: Decode structured tasks under a grammar (default: the client's, on).
        max_objects: Most objects in a constrained detection or pointing answer.
        client_options: ``QwenVLM`` options (``backend="openai"``, ``base_url``, ``api_key``, ``device``,
            ``max_concurrent_requests``...).
        ray_remote_args: More ``map_batches`` arguments (``max_restarts``, ``max_task_retries``,
            ``memory``...).
        **params: The task's parameters (``classes=``, ``question=``, ``schema=``...).

    Returns:
        The new dataset.

    Raises:
        MissingDependencyError: If ray is not installed.
        ConfigurationError: For an unknown task or bad options (checked here, before any actor starts).
    """
    try:
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError("ray", "ray", "qwen_vlm.integrations.ray") from None
    found = get_task(task)
    check_params(found, params)  # bad task parameters fail now, not inside every actor
    options = {
        "max_tokens": max_tokens,
        "temperature": temperature,
        "enable_thinking": enable_thinking,
        "constrained": constrained,
        "max_objects": max_objects,
    }
    if max_objects is not None and "max_objects" not in found.call_options:
        raise ConfigurationError(f"max_objects applies to detect and point, not {found.label}")
    call_options = {k: v for k, v in options.items() if v is not None}
    resources = {k: v for k, v in (("num_gpus", num_gpus), ("num_cpus", num_cpus)) if v is not None}
    return dataset.map_batches(
        QwenVLMPredictor,
        fn_constructor_args=(found, model),
        fn_constructor_kwargs={
            "params": params,
            "image_column": image_column,
            "prefix": prefix,
            "keep_image": keep_image,
            "call_options": call_options,
            **dict(client_options or {}),
        },
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=concurrency,
        **resources,
        **dict(ray_remote_args or {}),
    )
