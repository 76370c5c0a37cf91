"""Test helpers for users' own tests: a scriptable backend and a tiny offline checkpoint builder.

>>> from qwen_vlm import QwenVLM
>>> from qwen_vlm.testing import FakeBackend
>>> fake = FakeBackend(['[{"bbox_2d": [0, 0, 500, 500], "label": "cat"}]'])
>>> vlm = QwenVLM(backend=fake)
>>> from PIL import Image
>>> vlm.detect(Image.new("RGB", (640, 480)), ["cat"]).xyxy
[(0.0, 0.0, 320.0, 240.0)]
>>> fake.requests[0].prompt[:40]
'Locate every instance that belongs to th'

``build_tiny_checkpoint`` (from :mod:`qwen_vlm.tiny`, needs the ``local`` extra) writes a tiny random-weight
Qwen-VL checkpoint to a directory, so the local backend can be exercised offline.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .backends.base import GenerationRequest, GenerationResponse, StreamChunk, stream_chunks
from .backends.capabilities import Capabilities
from .errors import QwenVLMError
from .geometry import smart_resize
from .models import REGISTRY, Family, ModelInfo, resolve_model
from .results import Usage
from .thinking import ThinkingSplitter

if TYPE_CHECKING:
    from .tiny import build_tiny_checkpoint, scripted

__all__ = ["FakeBackend", "build_tiny_checkpoint", "scripted"]

#: What a scripted answer may be: text, a full response, or an exception to raise for that request.
Scripted = str | GenerationResponse | BaseException
Responder = Callable[[GenerationRequest], Scripted]


class FakeBackend:
    """A backend that answers from a script and records every request.

    Args:
        responses: A single answer used for every request, a list of answers consumed in order (one per
            request; an exception in the list is raised for that request), or a function of the
            request returning an answer.
        model: The model id to pretend to be (decides the family, hence the coordinate convention).
        family: Override the family.
        input_size: The ``(width, height)`` the model "saw" (reported whenever the pixels are loaded):
            ``"default"`` (the family's smart resize of the image, as a local processor would), ``None``,
            or a fixed size.
        max_batch_size: Requests per :meth:`generate` call (the client chunks batches by this).
        max_concurrency: Parallel :meth:`generate` calls.

    Attributes:
        requests: Every request received, in arrival order.
        calls: How many :meth:`generate`/:meth:`agenerate` calls were made.
    """

    #: Undownloaded URLs are passed through, like a remote server.
    accepts_urls = True
    #: Several images in one request (set it in a subclass to test groups).
    accepts_image_groups = False

    def __init__(
        self,
        responses: str | Iterable[Scripted] | Responder = "",
        *,
        model: str = "Qwen/Qwen3-VL-8B-Instruct",
        family: Family | None = None,
        input_size: str | tuple[int, int] | None = "default",
        max_batch_size: int = 1,
        max_concurrency: int = 1,
    ) -> None:
        info = REGISTRY.get(model)
        self.info: ModelInfo = (
            info if info is not None and family is None else resolve_model(model, "openai", family=family)
        )
        self.max_batch_size = max_batch_size
        self.max_concurrency = max_concurrency
        self.requests: list[GenerationRequest] = []
        self.calls = 0
        self._input_size = input_size
        self._lock = threading.Lock()
        self._script: list[Scripted] | None = None
        self._responder: Responder | None = None
        if callable(responses):
            self._responder = responses
        elif isinstance(responses, str):
            text = responses
            self._responder = lambda _request: text
        else:
            self._script = list(responses)

    @property
    def capabilities(self) -> Capabilities:
        """URLs passed through (never downloaded), groups as the class says, streaming."""
        return Capabilities(
            accepts_urls=self.accepts_urls,
            image_groups=self.accepts_image_groups,
            stream=self.stream,
            input_size=self._seen,
        )

    def _next(self, request: GenerationRequest) -> Scripted:
        if self._responder is not None:
            return self._responder(request)
        assert self._script is not None
        if not self._script:
            raise AssertionError("FakeBackend ran out of scripted responses")
        return self._script.pop(0)

    def _size(self, request: GenerationRequest) -> tuple[int, int] | None:
        return self._seen(request.image)

    def _seen(self, ref: Any) -> tuple[int, int] | None:
        if self._input_size is None or not ref.loaded:
            return None  # like a real backend: the size is known whenever the pixels were sent
        if isinstance(self._input_size, tuple):
            return self._input_size
        w, h = ref.size
        spec = self.info.spec
        return smart_resize(w, h, factor=spec.factor, min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Answer each request from the script."""
        out: list[GenerationResponse] = []
        with self._lock:
            self.calls += 1
            scripted = []
            for request in requests:
                self.requests.append(request)
                scripted.append(self._next(request))
        for request, answer in zip(requests, scripted, strict=True):
            if isinstance(answer, BaseException):
                if isinstance(answer, QwenVLMError) and answer.whole_call:
                    raise answer
                error = answer if isinstance(answer, QwenVLMError) else QwenVLMError(str(answer))
                out.append(GenerationResponse(text="", error=error))
            elif isinstance(answer, GenerationResponse):
                out.append(answer)
            else:
                tokens = len(answer.split())
                out.append(
                    GenerationResponse(
                        text=answer,
                        input_size=self._size(request),
                        usage=Usage(prompt_tokens=1, completion_tokens=tokens, total_tokens=1 + tokens),
                        finish_reason="stop",
                    )
                )
        return out

    async def agenerate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResponse]:
        """Async :meth:`generate`."""
        return self.generate(requests)

    def stream(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        """Stream the scripted answer word by word (reasoning in ``<think>`` tags is separated)."""
        (response,) = self.generate([request])
        if response.error is not None:
            raise response.error
        splitter = ThinkingSplitter()
        if response.thinking:
            yield StreamChunk(thinking=response.thinking)
        for word in re.findall(r"\S+\s*|\s+", response.text):
            yield from stream_chunks(splitter.feed(word))
        yield from stream_chunks(splitter.close())
        yield StreamChunk(response=response)

    def close(self) -> None:
        """Nothing to release."""


def __getattr__(name: str) -> Any:
    if name in ("build_tiny_checkpoint", "scripted"):
        from . import tiny

        return getattr(tiny, name)
    raise AttributeError(name)
