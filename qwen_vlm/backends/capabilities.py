"""What a backend can do, declared in one place: :class:`Capabilities`.

A backend says what it can do through a ``capabilities`` attribute (or property) holding a
:class:`Capabilities`; the engine reads it with :func:`capabilities_of` and never probes a backend for
anything else. A backend without ``capabilities`` (one written for an earlier version) is described from
the optional attributes that version looked for (``accepts_urls``, ``accepts_image_groups``,
``max_images_per_request``, ``gives_confidence``, ``ignores_thinking_off``, ``stream``/``astream``,
``sample_video``, ``video_frames_sent``, ``store_identity()``), read here and nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..geometry import PixelBudget
    from ..image_refs import ImageRef
    from .base import GenerationRequest, StreamChunk

__all__ = ["Capabilities", "capabilities_of"]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. Every field has the default of a backend that can do nothing extra.

    Attributes:
        accepts_urls: An undownloaded http(s) URL can be passed to the model; otherwise the client
            downloads every URL (and fails on a bad one) before sending anything.
        image_groups: Several images can go in one request (:class:`~qwen_vlm.Images`, videos as frames).
        max_images_per_request: Most images one request may carry (``None``: no limit known).
        confidences: Token log-probabilities come back, so boxes and points get a confidence: ``True``,
            ``False`` (``min_confidence=`` is then refused up front), or ``None`` (unknown: allowed).
        ignores_thinking_off: ``enable_thinking=False`` on an always-thinking model is tolerated rather
            than refused.
        stream: Streams one request: an iterator of :class:`~qwen_vlm.backends.StreamChunk`, the last
            carrying the whole response; closing it must stop the generation (``None``: cannot stream).
        astream: The async form of ``stream`` (``None``: the async client drives ``stream`` in a thread).
        sample_video: ``(total_frames, rate, video) -> frame indices``: the model's own frame sampler for
            video files (``None``: the SDK's sampler at the video's ``fps``).
        video_frames_sent: ``clip -> images``: how many image parts a sampled video becomes in a
            request (``None``: one per frame; ``0`` when it goes as one video part).
        store_identity: What about the backend decides its answers (server, checkpoint, pixel bounds...),
            part of every result-store key. Never a key or a secret.
        input_size: ``image -> (width, height)``: the size the model will see an image at (its
            resize), for tasks whose prompt states it (``None``: unknown).
        pixel_budget: The bounds every image is resized into, known without loading anything
            (``None``: unknown). ``parse_document`` renders pages straight at a size within them.
    """

    accepts_urls: bool = False
    image_groups: bool = False
    max_images_per_request: int | None = None
    confidences: bool | None = None
    ignores_thinking_off: bool = False
    stream: Callable[[GenerationRequest], Iterator[StreamChunk]] | None = None
    astream: Callable[[GenerationRequest], AsyncIterator[StreamChunk]] | None = None
    sample_video: Callable[[int, float, Any], list[int]] | None = None
    video_frames_sent: Callable[[Any], int] | None = None
    store_identity: Mapping[str, Any] = field(default_factory=dict)
    input_size: Callable[[ImageRef], tuple[int, int] | None] | None = None
    pixel_budget: PixelBudget | None = None


def capabilities_of(backend: Any) -> Capabilities:
    """A backend's :class:`Capabilities`: its own declaration, or one read from its legacy attributes."""
    declared = getattr(backend, "capabilities", None)
    if isinstance(declared, Capabilities):
        return declared
    identity = getattr(backend, "store_identity", None)
    limit = getattr(backend, "max_images_per_request", None)
    confidences = getattr(backend, "gives_confidence", None)
    return Capabilities(
        accepts_urls=bool(getattr(backend, "accepts_urls", False)),
        image_groups=bool(getattr(backend, "accepts_image_groups", False)),
        max_images_per_request=limit if isinstance(limit, int) else None,
        confidences=confidences if isinstance(confidences, bool) else None,
        ignores_thinking_off=bool(getattr(backend, "ignores_thinking_off", False)),
        stream=getattr(backend, "stream", None),
        astream=getattr(backend, "astream", None),
        sample_video=getattr(backend, "sample_video", None),
        video_frames_sent=getattr(backend, "video_frames_sent", None),
        store_identity=dict(identity()) if callable(identity) else {},
        input_size=getattr(backend, "input_size", None),
    )
