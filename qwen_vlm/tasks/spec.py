"""The tasks' fixed facts (:class:`TaskSpec`), their names, and their parameters' checks (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from .extraction import Schema, is_json_schema, is_pydantic_model

__all__ = ["TASKS", "THINKING_MAX_TOKENS", "VIDEO_TASKS", "TaskSpec", "resolve_task", "validate_params"]


@dataclass(frozen=True)
class TaskSpec:
    """A task's fixed facts.

    Attributes:
        name: The seed block's ``task_type`` string.
        method: The client method.
        needs_geometry: The answer holds coordinates (pixels of the image are needed).
        max_tokens: Default token budget (raised when thinking is on).
    """

    name: str
    method: str
    needs_geometry: bool
    max_tokens: int


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec("unconstrained", "prompt", False, 1024),
        TaskSpec("ocr", "ocr", False, 2048),
        TaskSpec("visual-question-answering", "ask", False, 1024),
        TaskSpec("caption", "caption", False, 256),
        TaskSpec("detailed-caption", "caption", False, 1024),
        TaskSpec("classification", "classify", False, 256),
        TaskSpec("multi-label-classification", "classify_multi", False, 512),
        TaskSpec("object-detection", "detect", True, 2048),
        TaskSpec("structured-answering", "extract", False, 1024),
        TaskSpec("point", "point", True, 2048),
        TaskSpec("temporal-grounding", "locate_events", False, 512),
    )
}
_BY_METHOD = {t.method: t for t in TASKS.values() if t.name != "detailed-caption"}
_ALIASES = {
    "vqa": "visual-question-answering",
    "detection": "object-detection",
    "prompt": "unconstrained",
    "locate-events": "temporal-grounding",
}
#: Tasks that take a :class:`~qwen_vlm.Video`.
VIDEO_TASKS = (
    "unconstrained",
    "visual-question-answering",
    "caption",
    "detailed-caption",
    "temporal-grounding",
)
#: The token budget used when thinking is on (reasoning counts against it).
THINKING_MAX_TOKENS = 4096


def resolve_task(task: str) -> TaskSpec:
    """Find a task by block name (``"object-detection"``) or method name (``"detect"``).

    Raises:
        ConfigurationError: For an unknown task, listing the valid names.
    """
    if task in TASKS:
        return TASKS[task]
    if task in _ALIASES:
        return TASKS[_ALIASES[task]]
    if task in _BY_METHOD:
        return _BY_METHOD[task]
    names = sorted(set(TASKS) | set(_BY_METHOD))
    raise ConfigurationError(f"unknown task {task!r}; choose one of {', '.join(names)}")


def _classes(value: Any, task: str, *, required: bool, what: str = "class") -> tuple[str, ...] | None:
    if value is None or (isinstance(value, (list, tuple)) and not value and not required):
        if required:
            names = "classes=[...], a non-empty list of class names" if what == "class" else "events=[...]"
            raise ConfigurationError(
                f"{task} needs {names}" + ("" if what == "class" else ", a non-empty list")
            )
        return None
    if isinstance(value, str):
        value = [value]
    plural = f"{what}es" if what == "class" else f"{what}s"
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigurationError(f"{task}: {plural} must be a non-empty list of strings, got {value!r}")
    cleaned = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{task}: every {what} must be a non-empty string, got {item!r}")
        cleaned.append(item.strip())
    return tuple(dict.fromkeys(cleaned))


def _schema(value: Any) -> Schema:
    if is_pydantic_model(value):
        return value
    if is_json_schema(value):
        return dict(value)
    if isinstance(value, Mapping) and value and all(isinstance(k, str) and k for k in value):
        return {k: str(v) for k, v in value.items()}
    raise ConfigurationError(
        "extract needs schema= a non-empty dict of field name → description, a JSON schema (a dict with "
        f"'properties'), or a pydantic model class; got {value!r}"
    )


def validate_params(
    spec: TaskSpec, params: Mapping[str, Any], *, parsing_only: bool = False
) -> dict[str, Any]:
    """Check and normalise a task's parameters (before any image is sent).

    ``parsing_only``: the parameters are for :func:`parse` (pointing then needs no classes).

    Raises:
        ConfigurationError: For missing or malformed parameters.
    """
    out: dict[str, Any] = {}
    name = spec.name
    if name == "unconstrained":
        text = params.get("text", params.get("prompt"))
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError("prompt needs text=, a non-empty string")
        out["text"] = text
    elif name == "visual-question-answering":
        question = params.get("question", params.get("prompt"))
        if not isinstance(question, str) or not question.strip():
            raise ConfigurationError("ask needs question=, a non-empty string")
        out["question"] = question
    elif name in ("caption", "detailed-caption"):
        out["detailed"] = bool(params.get("detailed", name == "detailed-caption"))
    elif name in ("classification", "multi-label-classification", "point"):
        required = not (parsing_only and name == "point")
        out["classes"] = _classes(params.get("classes"), spec.method, required=required)
    elif name == "object-detection":
        out["classes"] = _classes(params.get("classes"), spec.method, required=False)
    elif name == "structured-answering":
        out["schema"] = _schema(params.get("schema", params.get("output_structure")))
    elif name == "temporal-grounding":
        out["events"] = (
            _classes(params.get("events"), "locate_events", required=not parsing_only, what="event") or ()
        )
    unknown = set(params) - {
        "events",
        "text",
        "prompt",
        "question",
        "detailed",
        "classes",
        "schema",
        "output_structure",
    }
    if unknown:
        raise ConfigurationError(f"{spec.method}: unknown parameter(s) {sorted(unknown)}")
    return out
