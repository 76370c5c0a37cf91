"""Reading a task's answer: model text to the task's typed result, never raising for any text (pure)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import BackendError, ConfigurationError, OutputParseError, QwenVLMError, TruncatedOutputError
from ..logprobs import TokenLogprobs
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
from .confidence import with_confidences
from .extraction import Schema, parse_extraction
from .grounding import parse_boxes, parse_group, parse_points
from .spec import TaskSpec, resolve_task, validate_params
from .temporal import parse_events
from .text_regions import parse_text_regions, split_pages

__all__ = ["parse", "parse_answer"]


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
    logprobs: TokenLogprobs | None = None,
    min_confidence: float | None = None,
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
        logprobs: The generated tokens and their log-probabilities (a confidence per box or point).
        min_confidence: Keep only the boxes or points whose confidence is at least this.
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
        if isinstance(result, (Detections, Points)):
            result = _with_confidence(result, text, logprobs, min_confidence)
    except Exception as exc:  # a parser bug must never cost the other images of a batch their results
        failure = OutputParseError(f"the answer could not be parsed ({type(exc).__name__}: {exc})", text)
        failure.__cause__ = exc
        result = _parse_answer(spec, text, info, params, common, failure, image_size, input_size, group)
    return _mark_cut(result, finish_reason, max_tokens)


def _with_confidence(
    result: Detections | Points, text: str, logprobs: TokenLogprobs | None, min_confidence: float | None
) -> Detections | Points:
    """The objects' confidences from the tokens that wrote them; those under ``min_confidence`` dropped."""
    if logprobs is not None:
        located = with_confidences(tuple(result), text, logprobs)
        if isinstance(result, Detections):
            result = replace(result, detections=located)
        else:
            result = replace(result, points=located)
    return result.filter(min_confidence=min_confidence) if min_confidence is not None else result


def _mark_cut(result: Result, finish_reason: str | None, max_tokens: int | None) -> Result:
    """A result whose answer failed to parse *because* it stopped at the token limit says so."""
    if finish_reason != "length" or result.exception is None or isinstance(result.exception, BackendError):
        return result
    limit = f"max_tokens={max_tokens}" if max_tokens else "max_tokens"
    if isinstance(result.exception, TruncatedOutputError):  # the parser already saw it was cut
        message = f"the answer was cut off at {limit} before it held a complete result; raise max_tokens"
    else:
        reason = result.exception
        message = f"the answer was cut off at {limit} before it could be read ({reason}); raise max_tokens"
    cut = TruncatedOutputError(message, result.text)
    cut.index = result.exception.index
    return replace(result, error=str(cut), exception=cut)


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
        data, err, others = (None, error, ()) if error else parse_extraction(text, params["schema"])
        return Extraction(**common, data=data, others=others, **failed(err))
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
