"""The backend boundary: chat requests with one image in, text out.

A backend knows nothing about tasks. The client builds :class:`GenerationRequest` objects (an image and a
prompt), hands a batch of them to :meth:`Backend.generate` (or :meth:`Backend.agenerate`) and parses the
text of each :class:`GenerationResponse`.

Error contract for implementations:

* Raise an error whose ``whole_call`` is true (:class:`~qwen_vlm.errors.AuthenticationError`,
  :class:`~qwen_vlm.errors.InsufficientCreditsError`, :class:`~qwen_vlm.errors.ModelNotFoundError`,
  :class:`~qwen_vlm.errors.ConfigurationError`) when nothing in the call can succeed.
* For a failure that concerns one request, return a response whose ``error`` is set (or raise any other
  :class:`~qwen_vlm.errors.QwenVLMError` — the client then marks every request of that batch as failed).

What a backend can do beyond this (URLs, groups, streaming, video sampling, confidences, images per
request, its identity in the result store) it declares in one place: a ``capabilities`` attribute holding
a :class:`~qwen_vlm.backends.Capabilities` (see :mod:`qwen_vlm.backends.capabilities`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..class_scoring import ClassScoring
from ..errors import BackendError, QwenVLMError
from ..logprobs import TokenLogprobs
from ..models import ModelInfo
from ..results import Usage

if TYPE_CHECKING:
    from ..constraints import Constraint
    from ..image_refs import ImageRef
    from ..video import VideoClip

__all__ = [
    "Backend",
    "GenerationRequest",
    "GenerationResponse",
    "StreamChunk",
    "checked_response",
    "stream_chunks",
]


@dataclass(frozen=True)
class GenerationRequest:
    """One image and one prompt to send to the model.

    Attributes:
        image: The validated image (a URL may still be undownloaded).
        prompt: The user text, sent after the image.
        system: A system message sent before the user turn (``None``: the model's default).
        max_tokens: Upper bound on generated tokens (reasoning included).
        temperature: Sampling temperature; ``None`` or ``0`` means greedy.
        enable_thinking: ``True``/``False`` to switch reasoning on/off; ``None`` for the model default.
        json_schema: A JSON schema the answer must follow (structured output), if any.
        needs_geometry: The answer holds coordinates: the backend must report ``input_size``.
        task: The task's name, for logs (a backend never branches on it).
        constraint: The shape the answer must have, for backends that can decode under a grammar
            (``None``: generate freely).
        scoring: Classes to rate, for backends that can score answers (they fill ``scores``).
        more_images: The other images of a group (:class:`~qwen_vlm.Images`), after ``image``, in order;
            every image is sent before the prompt.
        video: For a :class:`~qwen_vlm.Video`: its sampled clip (``image`` is then its first frame).
        stop_on_repetition: Stop generating as soon as the answer certainly loops
            (:func:`qwen_vlm.parsing.repetition`), for backends that generate themselves (the answer then
            ends with ``finish_reason == "repetition"``).
    """

    image: ImageRef
    prompt: str
    max_tokens: int
    temperature: float | None = None
    enable_thinking: bool | None = None
    json_schema: dict[str, Any] | None = None
    needs_geometry: bool = False
    task: str = "unconstrained"
    constraint: Constraint | None = None
    scoring: ClassScoring | None = None
    more_images: tuple[ImageRef, ...] = ()
    video: VideoClip | None = None
    system: str | None = None
    stop_on_repetition: bool = False

    @property
    def images(self) -> tuple[ImageRef, ...]:
        """Every image of the request, in order (one, or a group's)."""
        return (self.image, *self.more_images)


@dataclass(frozen=True)
class GenerationResponse:
    """What the model produced for one request.

    Attributes:
        text: The answer text (may still contain ``<think>...</think>`` for local models).
        thinking: Reasoning text the server returned separately, if any.
        input_size: ``(width, height)`` of the image as the model saw it (after any resize), if known.
        usage: Token counts and cost, if reported.
        finish_reason: Why generation stopped (``"stop"``, ``"length"``...), if known.
        error: Set when this request failed; the other fields are then best effort.
        scores: Per-class probabilities of a classification, if the backend computed them.
        input_sizes: ``(width, height)`` as the model saw each image of a group, if known.
        time_offset: For a video: seconds to add to the times the model wrote to put them on the
            video's timeline (models that count time from the first frame they saw).
        logprobs: The generated tokens (``text``, thinking included when it was generated inline) and
            the model's log-probability of each, where the backend has them; a confidence per box and
            point is computed from them.
    """

    text: str
    thinking: str | None = None
    input_size: tuple[int, int] | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    error: QwenVLMError | None = None
    scores: dict[str, float] | None = None
    input_sizes: tuple[tuple[int, int], ...] | None = None
    time_offset: float = 0.0
    logprobs: TokenLogprobs | None = None


@dataclass(frozen=True)
class StreamChunk:
    """A piece of a streamed answer.

    Attributes:
        text: New answer text (reasoning already separated).
        thinking: New reasoning text.
        response: On the last chunk only: the whole response, as :meth:`Backend.generate` would return it.
    """

    text: str = ""
    thinking: str = ""
    response: GenerationResponse | None = None


def checked_response(response: Any) -> GenerationResponse:
    """A backend's response, or a failed one saying what was wrong with it (a custom backend's bug)."""
    problem = None
    if not isinstance(response, GenerationResponse):
        problem = f"a {type(response).__name__} instead of a GenerationResponse"
    elif not isinstance(response.text, str):
        problem = f"text is a {type(response.text).__name__}"
    elif response.thinking is not None and not isinstance(response.thinking, str):
        problem = f"thinking is a {type(response.thinking).__name__}"
    elif response.logprobs is not None and not isinstance(response.logprobs, TokenLogprobs):
        problem = f"logprobs is a {type(response.logprobs).__name__}, not a TokenLogprobs"
    elif response.error is not None and not isinstance(response.error, QwenVLMError):
        problem = f"error is a {type(response.error).__name__}, not a QwenVLMError"
    elif response.input_size is not None and not (
        isinstance(response.input_size, tuple)
        and len(response.input_size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in response.input_size)
    ):
        problem = f"input_size is {response.input_size!r}"
    if problem is None:
        return response  # type: ignore[no-any-return]
    return GenerationResponse(
        text="", error=BackendError(f"the backend returned a malformed response: {problem}")
    )


def stream_chunks(pieces: Sequence[tuple[str, str]]) -> list[StreamChunk]:
    """Chunks from the ``("text" | "thinking", delta)`` pieces of a ThinkingSplitter."""
    return [StreamChunk(text=d) if kind == "text" else StreamChunk(thinking=d) for kind, d in pieces]


@runtime_checkable
class Backend(Protocol):
    """What the client needs from a backend.

    Attributes:
        info: The model being served (family, thinking support...).
        max_batch_size: How many requests one :meth:`generate` call should carry (1 for HTTP backends,
            which parallelise over requests instead).
        max_concurrency: How many :meth:`generate` calls may run at once.
    """

    info: ModelInfo
    max_batch_size: int
    max_concurrency: int

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Run a batch of requests, returning one response per request, in order."""
        ...

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Async version of :meth:`generate`."""
        ...

    def close(self) -> None:
        """Release resources (HTTP connections, model memory)."""
        ...
