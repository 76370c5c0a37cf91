"""A call's responses made into results: failures marked on their image, answers parsed, strict mode."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..backends import GenerationRequest, GenerationResponse
from ..backends.base import checked_response
from ..errors import BackendError, BatchError, ImageError, QwenVLMError
from ..image_refs import ImageRef
from ..models import ModelInfo
from ..results import Result, Usage
from ..tasks import Answer, Delivery, read_answer
from ..thinking import split_thinking
from ..video import VideoClip
from ..video_budget import video_budget
from .call import Plan

__all__ = ["failed", "finish", "for_image", "result_for", "settle", "video_usage"]


def for_image(exc: QwenVLMError, index: int | None) -> QwenVLMError:
    """A copy of ``exc`` that names one image (errors shared by a chunk are copied, never mutated)."""
    if exc.index == index:
        return exc
    copy = exc.__class__.__new__(exc.__class__)
    copy.__dict__.update(exc.__dict__)
    copy.args = exc.args
    copy.__cause__ = exc.__cause__
    copy.__traceback__ = exc.__traceback__
    copy.index = index
    return copy


def settle(
    batch: list[GenerationRequest], outcome: list[GenerationResponse] | BaseException
) -> list[GenerationResponse]:
    """One chunk's responses: whole-call errors re-raised, anything else marked on each image.

    Raises:
        QwenVLMError: An error that concerns the whole call.
    """
    if isinstance(outcome, BaseException):
        if isinstance(outcome, QwenVLMError) and outcome.whole_call:
            raise outcome
        return failed(len(batch), outcome)  # a backend bug must not lose other images' work
    if not isinstance(outcome, list) or len(outcome) != len(batch):
        count = len(outcome) if isinstance(outcome, list) else type(outcome).__name__
        error = BackendError(f"backend returned {count} responses for {len(batch)} requests")
        return failed(len(batch), error)
    return [checked_response(response) for response in outcome]


def failed(count: int, exc: BaseException) -> list[GenerationResponse]:
    """``count`` failed responses carrying ``exc`` (typed; anything else becomes a BackendError)."""
    if isinstance(exc, QwenVLMError):
        error: QwenVLMError = exc
    else:
        error = BackendError(f"unexpected {type(exc).__name__}: {exc}")
        error.__cause__ = exc
    return [GenerationResponse(text="", error=for_image(error, None)) for _ in range(count)]


def result_for(info: ModelInfo, plan: Plan, ref: ImageRef, response: GenerationResponse) -> Result:
    """One image's result; never raises (a failure of any kind is recorded on the result)."""
    thinking, text = split_thinking(response.text)
    if response.thinking:
        thinking = response.thinking if thinking is None else f"{response.thinking}\n{thinking}"
    error = response.error
    members = plan.members[ref.index or 0]
    image_size = None
    image_sizes = None
    # Sizes are always known for grounding (pixels were loaded up front), and for any other task
    # whenever the pixels are in memory (OCR answers with located text use them).
    if error is None and (plan.task.needs_geometry or ref.loaded):
        try:
            image_size = ref.size
            if len(members) > 1 and (plan.task.needs_geometry or all(m.loaded for m in members)):
                image_sizes = tuple(member.size for member in members)
        except ImageError as exc:
            error = exc
    answer = Answer(
        text,
        plan.params,
        info,
        image_size=image_size,
        thinking=thinking,
        input_size=response.input_size,
        image_sizes=image_sizes,
        input_sizes=response.input_sizes,
        video=ref.clip,
        time_offset=response.time_offset,
        logprobs=response.logprobs,
        finish_reason=response.finish_reason,
        scores=response.scores,
        images=len(members),
    )
    usage = video_usage(info, response.usage, ref.clip)
    delivery = Delivery(usage, plan.inputs[ref.index or 0], plan.max_tokens, plan.min_confidence)
    result = read_answer(plan.task, answer, delivery, None if error is None else for_image(error, ref.index))
    if result.exception is not None and result.exception.index is None:
        result.exception.index = ref.index  # a parse error: made for this result alone
    return result


def video_usage(info: ModelInfo, usage: Usage | None, clip: VideoClip | None) -> Usage | None:
    """``usage`` with a video's frames and pixels sent, each frame sized by the family's recipe."""
    if clip is None:
        return usage
    frames = len(clip.frames)
    width, height = video_budget(info).frame_size(clip.size, frames, clip.max_pixels)
    return dataclasses.replace(usage or Usage(), video_frames=frames, video_pixels=frames * width * height)


def finish(info: ModelInfo, plan: Plan, responses: list[GenerationResponse]) -> Any:
    """The call's results in input order (one result for a single input), strict mode applied.

    Raises:
        QwenVLMError: With ``strict``, a single input's failure.
        BatchError: With ``strict``, when any image of a list failed (carrying every result).
    """
    by_position = dict(zip(plan.positions, responses, strict=True))
    results: list[Result] = []
    for i, ref in enumerate(plan.refs):
        if i in plan.known:  # from the result store, or parsed when its chunk finished
            results.append(plan.known[i])
            continue
        response = by_position.get(i)
        if response is None:  # unreadable input: nothing was sent
            response = GenerationResponse(text="", error=ref.error or ImageError("not read", ref.index))
        results.append(result_for(info, plan, ref, response))
    if plan.strict:
        failed = [i for i, r in enumerate(results) if r.exception is not None]
        if failed and plan.single:
            raise results[0].exception  # type: ignore[misc]
        if failed:
            exceptions = [results[i].exception for i in failed]
            raise BatchError(results, failed, [e for e in exceptions if e is not None])
    return results[0] if plan.single else results
