"""Reading an answer: a task's :meth:`~qwen_vlm.Task.parse` run safely, the shared fields filled (pure).

:func:`read_answer` is the one path from model text to a typed result, for the client and for
:func:`parse`. It never raises for any answer: a failure of any kind is recorded on the result.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..errors import BackendError, ConfigurationError, OutputParseError, QwenVLMError, TruncatedOutputError
from ..models import REGISTRY, Family, resolve_model
from ..results import Detections, Points, Result, Usage
from ..thinking import split_thinking
from .base import Answer, Task
from .confidence import with_confidences
from .extraction import Schema
from .registry import get_task

__all__ = ["Delivery", "parse", "read_answer"]


@dataclass(frozen=True)
class Delivery:
    """What the engine knows of an answer beyond its text: how it came back, and the call's settings.

    Attributes:
        usage: Token usage.
        source: The input the image came from (kept by reference, for drawing).
        max_tokens: The token limit the answer was generated under (named in truncation errors).
        min_confidence: Keep only the boxes or points whose confidence is at least this.
    """

    usage: Usage | None = None
    source: Any = None
    max_tokens: int | None = None
    min_confidence: float | None = None


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


def _failure(exc: BaseException, text: str) -> QwenVLMError:
    """The typed error of a parse that raised."""
    if isinstance(exc, QwenVLMError):
        return exc
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        failure = OutputParseError(f"the answer could not be read: {reason}", text)
    else:  # a parser bug must never cost the other images of a batch their results
        failure = OutputParseError(f"the answer could not be parsed ({type(exc).__name__}: {exc})", text)
    failure.__cause__ = exc
    return failure


def _marked(result: Result, error: QwenVLMError) -> Result:
    # A parse failure is described by its message; a transport or input failure also names its type.
    message = str(error) if isinstance(error, OutputParseError) else f"{type(error).__name__}: {error}"
    return replace(result, error=message, exception=error)


def _empty(task: Task, answer: Answer) -> Result:
    try:
        result = task.empty(answer)
    except Exception:  # a custom task's empty() that fails still gives a failed result
        result = None
    return result if isinstance(result, task.result) else task.result()


def read_answer(task: Task, answer: Answer, delivery: Delivery, error: QwenVLMError | None = None) -> Result:
    """The task's result for one answer; never raises (a failure is recorded on the result).

    Args:
        task: The task.
        answer: The answer and what is known of its image.
        delivery: Usage, source and the call's reading settings.
        error: A transport or input error: the answer is then not parsed.
    """
    text = answer.text
    shared: dict[str, Any] = {
        "text": text,
        "thinking": answer.thinking,
        "model": answer.model,
        "usage": delivery.usage,
        "finish_reason": answer.finish_reason,
        "source": delivery.source,
    }
    if error is None and not text.strip() and answer.thinking:
        error = TruncatedOutputError(
            "the model produced reasoning but no answer (the output ended inside its thinking): raise "
            "max_tokens or pass enable_thinking=False",
            text,
        )
    if error is not None:
        return replace(_marked(_empty(task, answer), error), **shared)
    try:
        with _cyclic_gc_paused():
            result = task.parse(answer)
        if not isinstance(result, task.result):
            raise TypeError(
                f"task {task.name!r} returned a {type(result).__name__}, not its result type "
                f"{task.result.__name__}"
            )
        if result.error is not None and result.exception is None:
            result = replace(result, exception=OutputParseError(result.error, text))
        if isinstance(result, (Detections, Points)):
            result = _with_confidence(result, text, answer, delivery.min_confidence)
        result = replace(result, **shared)
    except Exception as exc:
        result = replace(_marked(_empty(task, answer), _failure(exc, text)), **shared)
    return _mark_cut(result, answer.finish_reason, delivery.max_tokens)


def _with_confidence(
    result: Detections | Points, text: str, answer: Answer, min_confidence: float | None
) -> Detections | Points:
    """The objects' confidences from the tokens that wrote them; those under ``min_confidence`` dropped."""
    if answer.logprobs is not None:
        located = with_confidences(tuple(result), text, answer.logprobs)
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


def parse(
    task: str | Task,
    text: str,
    model: str = "Qwen/Qwen3-VL-8B-Instruct",
    image_size: tuple[int, int] | None = None,
    input_size: tuple[int, int] | None = None,
    classes: Sequence[str] | None = None,
    schema: Schema | None = None,
    *,
    family: Family | None = None,
    thinking_started: bool = False,
    params: Mapping[str, Any] | None = None,
) -> Result:
    """Parse model text obtained elsewhere into the task's typed result.

    Args:
        task: A block task type (``"object-detection"``...), a method name (``"detect"``...), a
            registered task's name, or a :class:`~qwen_vlm.Task`.
        text: The raw model output (thinking may be included; it is split off).
        model: The model id that produced it (any registered id, or any id with a recognisable family).
        image_size: ``(width, height)`` of the original image; required for detection and pointing.
        input_size: ``(width, height)`` of the image the model saw (Qwen2.5-VL); ``None`` = the family's
            default smart resize of ``image_size``.
        classes: The classes, for classification tasks (and to record for detection).
        schema: For ``structured-answering``: field descriptions or a pydantic model; ``None`` keeps any JSON.
        family: Override the family guessed from ``model``.
        thinking_started: The prompt pre-filled ``<think>`` (so text without ``</think>`` is all reasoning).
        params: Further task parameters (a custom task's own).

    Returns:
        The task's result; unparseable text gives a result with ``error`` set.

    Raises:
        ConfigurationError: For an unknown task or model family, or missing required parameters.
    """
    found = get_task(task)
    if not isinstance(text, str):
        raise ConfigurationError(f"parse needs text=, a string; got {type(text).__name__}")
    image_size = _size(image_size, "image_size")
    input_size = _size(input_size, "input_size")
    info = REGISTRY.get(model)
    if info is None or (family is not None and family != info.family):
        info = resolve_model(model, "openai", family=family)
    raw = dict(params or {})
    raw.update({k: v for k, v in (("classes", classes), ("schema", schema)) if v is not None})
    checked = found.check_for_parse(raw)
    if found.needs_geometry and image_size is None:
        raise ConfigurationError(
            f"parse({found.label!r}, ...) needs image_size=(width, height) to convert coordinates"
        )
    thinking, answer = split_thinking(text, thinking_started=thinking_started)
    reading = Answer(answer, checked, info, image_size=image_size, thinking=thinking, input_size=input_size)
    return read_answer(found, reading, Delivery())
