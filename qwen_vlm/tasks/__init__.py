"""Tasks: what to ask (prompt building) and how to read the answer (parsing). Pure; no transport.

Each task has a name from the seed block (``"object-detection"``...) and a client method name
(``"detect"``...); :func:`resolve_task` accepts either. :func:`build_prompt` turns a task's parameters into
the text sent after the image; :func:`parse` turns the model's text into the task's typed result.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .. import prompts
from ..constraints import MAX_OBJECTS, Constraint
from ..errors import BackendError, ConfigurationError, OutputParseError, QwenVLMError, TruncatedOutputError
from ..models import REGISTRY, Family, ModelInfo, resolve_model
from ..results import (
    Classification,
    Detections,
    Event,
    Events,
    Extraction,
    MultiLabelClassification,
    Points,
    Result,
    TextRegion,
    TextResult,
    Usage,
)
from ..thinking import split_thinking
from .classification import match_class, match_classes
from .extraction import (
    Schema,
    is_json_schema,
    is_pydantic_model,
    parse_extraction,
    schema_fields,
    schema_json,
)
from .grounding import parse_boxes, parse_group, parse_points, parse_text_regions, split_pages
from .temporal import parse_events

__all__ = [
    "TASKS",
    "VIDEO_TASKS",
    "TaskSpec",
    "build_constraint",
    "build_prompt",
    "parse",
    "parse_answer",
    "resolve_task",
    "validate_params",
]


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


def _size(value: Any, name: str) -> tuple[int, int] | None:
    """Check an optional ``(width, height)`` of positive integers."""
    if value is None:
        return None
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ConfigurationError(f"{name} must be (width, height), two positive integers; got {value!r}")
    return (int(value[0]), int(value[1]))


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while parsing one answer.

    Parsing a long answer allocates many small containers, and each batch of them triggers a collection
    that walks every live object (up to a third of the parse time on a 1 MB answer). Parsers make no
    reference cycles, so nothing is lost. Resumed afterwards only if it was running before.
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _error(exc: QwenVLMError | str | None, text: str) -> QwenVLMError | None:
    if exc is None or isinstance(exc, QwenVLMError):
        return exc
    return OutputParseError(exc, text)


def parse_answer(
    spec: TaskSpec,
    text: str,
    info: ModelInfo,
    params: Mapping[str, Any],
    *,
    thinking: str | None = None,
    image_size: tuple[int, int] | None = None,
    input_size: tuple[int, int] | None = None,
    usage: Usage | None = None,
    error: QwenVLMError | None = None,
    finish_reason: str | None = None,
    max_tokens: int | None = None,
    source: Any = None,
    scores: Mapping[str, float] | None = None,
    image_sizes: Sequence[tuple[int, int]] | None = None,
    input_sizes: Sequence[tuple[int, int] | None] | None = None,
    video: Any = None,
    time_offset: float = 0.0,
) -> Result:
    """Turn a model answer into the task's result (the client's and :func:`parse`'s common path).

    Never raises for any answer text: a failure is recorded on the result (``error``/``exception``).

    Args:
        spec: The task.
        text: The answer, thinking removed.
        info: The model that answered.
        params: The task parameters (from :func:`validate_params`).
        thinking: Reasoning text, if any.
        image_size: ``(width, height)`` of the original image (needed for detection and pointing).
        input_size: ``(width, height)`` of the image the model saw.
        usage: Token usage.
        error: A transport error; when set the answer is not parsed.
        finish_reason: Why generation stopped (``"length"``: at the token limit).
        max_tokens: The token limit the answer was generated under (named in truncation errors).
        source: The input the image came from (kept by reference, for drawing).
        scores: Per-class probabilities of a classification (kept on the result as given).
        image_sizes: For a group: each image's original size (``image_size`` is then the first's).
        input_sizes: For a group: each image's size as the model saw it, if known.
        video: For a video: its sampled clip (:class:`~qwen_vlm.video.VideoClip`): duration and frame times.
        time_offset: Seconds to add to the model's times to put them on the video's timeline.
    """
    common: dict[str, Any] = {
        "text": text,
        "thinking": thinking,
        "model": info.id,
        "usage": usage,
        "finish_reason": finish_reason,
        "source": source,
    }
    if error is None and not text.strip() and thinking:
        error = TruncatedOutputError(
            "the model produced reasoning but no answer (the output ended inside its thinking): raise "
            "max_tokens or pass enable_thinking=False",
            text,
        )
    group = (tuple(image_sizes), tuple(input_sizes or [None] * len(image_sizes))) if image_sizes else None
    if group is not None and len(group[0]) < 2:
        group = None
    if spec.name == "temporal-grounding":
        common = {**common, "video": video, "time_offset": time_offset}
    try:
        with _cyclic_gc_paused():
            result = _parse_answer(spec, text, info, params, common, error, image_size, input_size, group)
        if scores is not None and isinstance(result, (Classification, MultiLabelClassification)):
            result = replace(result, scores=dict(scores))
    except Exception as exc:  # a parser bug must never cost the other images of a batch their results
        failure = OutputParseError(f"the answer could not be parsed ({type(exc).__name__}: {exc})", text)
        failure.__cause__ = exc
        result = _parse_answer(spec, text, info, params, common, failure, image_size, input_size, group)
    if (
        finish_reason == "length"
        and result.exception is not None
        and not isinstance(result.exception, BackendError)
    ):
        limit = f"max_tokens={max_tokens}" if max_tokens else "max_tokens"
        if isinstance(result.exception, TruncatedOutputError):  # the parser already saw it was cut
            message = f"the answer was cut off at {limit} before it held a complete result; raise max_tokens"
        else:
            message = (
                f"the answer was cut off at {limit} before it could be read ({result.exception}); "
                "raise max_tokens"
            )
        cut = TruncatedOutputError(message, text)
        cut.index = result.exception.index
        result = replace(result, error=str(cut), exception=cut)
    return result


def _parse_answer(
    spec: TaskSpec,
    text: str,
    info: ModelInfo,
    params: Mapping[str, Any],
    common: dict[str, Any],
    error: QwenVLMError | None,
    image_size: tuple[int, int] | None,
    input_size: tuple[int, int] | None,
    group: tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int] | None, ...]] | None = None,
) -> Result:
    spec_family = info.spec
    name = spec.name

    def failed(exc: QwenVLMError | str | None) -> dict[str, Any]:
        typed = _error(exc, text)
        if typed is None:
            return {"error": None, "exception": None}
        # A parse failure is described by its message; a transport or input failure also names its type.
        message = str(typed) if isinstance(typed, OutputParseError) else f"{type(typed).__name__}: {typed}"
        return {"error": message, "exception": typed}

    if name in ("classification", "multi-label-classification"):
        classes: tuple[str, ...] = params["classes"]
        if name == "classification":
            label, err = (None, error) if error else match_class(text, classes)
            return Classification(**common, label=label, classes=classes, **failed(err))
        labels, err = ((), error) if error else match_classes(text, classes)
        return MultiLabelClassification(**common, labels=labels, classes=classes, **failed(err))
    if name in ("object-detection", "point"):
        size = image_size
        if error is None and size is None:
            error = OutputParseError("the image size is unknown, so coordinates cannot be converted", text)
        parser = parse_boxes if name == "object-detection" else parse_points
        items: tuple[Any, ...] = ()
        dropped = 0
        if error is None and group is not None:
            items, error, dropped = parse_group(text, parser, spec_family, group[0], group[1])
        elif error is None and size is not None:
            items, error, dropped = parser(text, spec_family, size, input_size)
        located: dict[str, Any] = {
            "image_size": size,
            "classes": params.get("classes"),
            "dropped": dropped,
            "image_sizes": group[0] if group is not None else None,
        }
        if name == "object-detection":
            return Detections(**common, detections=items, **located, **failed(error))
        return Points(**common, points=items, **located, **failed(error))
    if name == "structured-answering":
        data, err = (None, error) if error else parse_extraction(text, params["schema"])
        return Extraction(**common, data=data, **failed(err))
    if name == "temporal-grounding":
        clip = common.pop("video", None)
        offset = common.pop("time_offset", 0.0)
        duration = getattr(clip, "duration", None)
        found: tuple[Event, ...] = ()
        lost = 0
        if error is None:
            found, error, lost = parse_events(text, params["events"], offset=offset, duration=duration)
        times: tuple[float, ...] = tuple(getattr(clip, "timestamps", ()))
        return Events(
            **common,
            events=found,
            queries=params["events"],
            dropped=lost,
            duration=duration,
            timestamps=times,
            **failed(error),
        )
    if error is None and not text.strip():
        error = OutputParseError("the model returned an empty answer", text)
    regions: tuple[TextRegion, ...] = ()
    pages: tuple[str, ...] = ()
    if error is None and name == "ocr" and group is not None:
        pages = split_pages(text, len(group[0]))
    elif error is None and name == "ocr" and image_size is not None:
        regions = parse_text_regions(text, spec_family, image_size, input_size)
    return TextResult(**common, regions=regions, pages=pages, **failed(error))


def parse(
    task: str,
    text: str,
    model: str = "Qwen/Qwen3-VL-8B-Instruct",
    image_size: tuple[int, int] | None = None,
    input_size: tuple[int, int] | None = None,
    classes: Sequence[str] | None = None,
    schema: Schema | None = None,
    *,
    family: Family | None = None,
    thinking_started: bool = False,
) -> Result:
    """Parse model text obtained elsewhere into the task's typed result.

    Args:
        task: A block task type (``"object-detection"``...) or a method name (``"detect"``...).
        text: The raw model output (thinking may be included; it is split off).
        model: The model id that produced it (any registered id, or any id with a recognisable family).
        image_size: ``(width, height)`` of the original image; required for detection and pointing.
        input_size: ``(width, height)`` of the image the model saw (Qwen2.5-VL); ``None`` = the family's
            default smart resize of ``image_size``.
        classes: The classes, for classification tasks (and to record for detection).
        schema: For ``structured-answering``: field descriptions or a pydantic model; ``None`` keeps any JSON.
        family: Override the family guessed from ``model``.
        thinking_started: The prompt pre-filled ``<think>`` (so text without ``</think>`` is all reasoning).

    Returns:
        The task's result; unparseable text gives a result with ``error`` set.

    Raises:
        ConfigurationError: For an unknown task or model family, or missing required parameters.
    """
    spec = resolve_task(task)
    if not isinstance(text, str):
        raise ConfigurationError(f"parse needs text=, a string; got {type(text).__name__}")
    image_size = _size(image_size, "image_size")
    input_size = _size(input_size, "input_size")
    info = REGISTRY.get(model)
    if info is None or (family is not None and family != info.family):
        info = resolve_model(model, "openai", family=family)
    raw: dict[str, Any] = {}
    if spec.name in ("classification", "multi-label-classification"):
        raw["classes"] = classes
    elif spec.name in ("point", "object-detection"):
        # Parsing text you already have needs no classes; they are only recorded on the result.
        raw["classes"] = classes or None
    elif spec.name == "structured-answering":
        raw["schema"] = schema if schema is not None else {"_": ""}
    elif spec.name == "unconstrained":
        raw["text"] = "-"
    elif spec.name == "visual-question-answering":
        raw["question"] = "-"
    params = validate_params(spec, raw, parsing_only=True)
    if spec.name == "structured-answering":
        params["schema"] = schema
    if spec.needs_geometry and image_size is None:
        raise ConfigurationError(
            f"parse({task!r}, ...) needs image_size=(width, height) to convert coordinates"
        )
    thinking, answer = split_thinking(text, thinking_started=thinking_started)
    return parse_answer(
        spec, answer, info, params, thinking=thinking, image_size=image_size, input_size=input_size
    )
