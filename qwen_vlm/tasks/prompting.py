"""What a task sends: the text after the image(s), and the shape its answer must have (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import prompts
from ..constraints import MAX_OBJECTS, Constraint
from ..models import ModelInfo
from .extraction import Schema, schema_fields, schema_json
from .spec import TaskSpec

__all__ = ["build_constraint", "build_prompt"]


def build_prompt(
    spec: TaskSpec, params: Mapping[str, Any], images: int = 1
) -> tuple[str, dict[str, Any] | None]:
    """Build the text sent after the image(s), and the JSON schema for structured output (or ``None``).

    Args:
        spec: The task.
        params: Parameters already checked by :func:`validate_params`.
        images: How many images the question is about (a group: :class:`~qwen_vlm.Images`).
    """
    if images > 1:
        name = spec.name
        if name == "ocr":
            return prompts.group_ocr_prompt(images), None
        if name == "object-detection":
            return prompts.group_detect_prompt(params["classes"], images), None
        if name == "point":
            return prompts.group_point_prompt(params["classes"], images), None
        prompt, json_schema = build_prompt(spec, params)
        free = name in ("unconstrained", "visual-question-answering")
        return (prompt if free else prompts.for_group(prompt, images)), json_schema
    name = spec.name
    if name == "unconstrained":
        return params["text"], None
    if name == "visual-question-answering":
        return params["question"], None
    if name == "ocr":
        return prompts.ocr_prompt(), None
    if name in ("caption", "detailed-caption"):
        return prompts.caption_prompt(params["detailed"]), None
    if name == "classification":
        return prompts.classify_prompt(params["classes"]), None
    if name == "multi-label-classification":
        return prompts.classify_multi_prompt(params["classes"]), None
    if name == "object-detection":
        return prompts.detect_prompt(params["classes"]), None
    if name == "point":
        return prompts.point_prompt(params["classes"]), None
    if name == "temporal-grounding":
        return prompts.locate_events_prompt(params["events"]), None
    schema: Schema = params["schema"]
    user_schema = schema_json(schema)
    fields = schema_fields(schema)
    return prompts.extract_prompt(fields, user_schema if fields is None else None), user_schema


def build_constraint(
    spec: TaskSpec,
    params: Mapping[str, Any],
    info: ModelInfo,
    max_objects: int | None = None,
    images: int = 1,
) -> Constraint | None:
    """The shape a structured task's answer must have (``None`` for free-text tasks).

    Qwen2-VL's grounding answers are box tokens, not JSON, so its detection and pointing stay free.

    Args:
        spec: The task.
        params: Parameters already checked by :func:`validate_params`.
        info: The model (its family's coordinate convention bounds the coordinates).
        max_objects: Most objects in a detection or pointing answer (default :data:`MAX_OBJECTS`).
        images: Images in the question: a group's objects also name their image (1 to ``images``).
    """
    name = spec.name
    if name == "classification":
        return Constraint("classify", classes=params["classes"])
    if name == "multi-label-classification":
        return Constraint("classify_multi", classes=params["classes"])
    if name == "temporal-grounding":
        return Constraint("events", classes=params["events"])
    if name == "structured-answering":
        schema = schema_json(params["schema"])
        return Constraint("extract", schema=schema) if schema is not None else None
    if name in ("object-detection", "point") and not info.spec.box_tokens:
        return Constraint(
            "detect" if name == "object-detection" else "point",
            classes=params.get("classes"),
            coordinates=info.spec.coordinates,
            max_objects=max_objects or MAX_OBJECTS,
            images=images,
        )
    return None
