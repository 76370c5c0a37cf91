"""Building a chat-completions request: images resized and encoded, video parts, thinking and schema fields.

Images are sent as JPEG data URLs already resized to a smart-resize fixed point of the model's family, so
the server's own resize is the identity and the size the model saw is known (it is reported as
``input_size`` and used to convert Qwen2.5-VL's absolute coordinates). http(s) URLs are passed through
untouched when no coordinates are expected. What differs between servers comes from the dialect table
(:mod:`.servers`).
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from ... import prompts
from ...errors import BackendError
from ...geometry import smart_resize
from ...images import encode_image
from ...models import ModelInfo
from ...video_budget import video_budget
from ..base import GenerationRequest
from .servers import ServerProfile
from .transport import is_schema_rejection

if TYPE_CHECKING:
    from ...image_refs import ImageRef

__all__ = ["MAX_PAYLOAD_BYTES", "MAX_VIDEO_BYTES", "PRIVACY", "RequestBuilder", "Sizes"]

logger = logging.getLogger("qwen_vlm")

#: Largest video file sent inline as a ``video_url`` data URL; a larger one goes as sampled frames.
MAX_VIDEO_BYTES = 32 * 1024 * 1024
#: Largest base64 payload sent for one image (Alibaba-served models reject data URLs over ~10 MB).
MAX_PAYLOAD_BYTES = int(9.5 * 1024 * 1024)
#: How many encoded images are kept for reuse.
_ENCODE_CACHE_SIZE = 32
#: OpenRouter's ``provider`` fields for each privacy level.
PRIVACY: dict[str, dict[str, Any]] = {
    "allow": {"data_collection": "allow"},
    "deny": {"data_collection": "deny"},
    "zdr": {"data_collection": "deny", "zdr": True},
}
#: The size each image of a request was sent at (``None`` for a URL passed through unresized).
Sizes = tuple[tuple[int, int] | None, ...]


@dataclass
class RequestBuilder:
    """Turns a :class:`GenerationRequest` into a request body for one server and model.

    Attributes:
        info: The model.
        server: The server's dialect.
        privacy: OpenRouter's privacy level (a key of :data:`PRIVACY`).
        provider_options: Extra OpenRouter ``provider`` fields.
        extra_body: Extra fields merged into every body.
        min_pixels: Lower bound on pixels sent per image.
        max_pixels: Upper bound on pixels sent per image.
        schema_supported: False once the server refused ``response_format`` (remembered for this client
            only).
    """

    info: ModelInfo
    server: ServerProfile
    privacy: str
    provider_options: dict[str, Any]
    extra_body: dict[str, Any]
    min_pixels: int
    max_pixels: int
    schema_supported: bool = field(default=True, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # Encoded images by id(PIL image), holding the image so the id stays its own: an image sent
    # several times in one call (or in calls close together) is resized and encoded once.
    _encoded: OrderedDict[int, tuple[Image.Image, str, tuple[int, int]]] = field(
        default_factory=OrderedDict, init=False, repr=False
    )

    # ------------------------------------------------------------------ images
    def encode_ref(self, ref: ImageRef, needs_geometry: bool) -> tuple[str, tuple[int, int] | None]:
        """The URL to send for one image and the size the model will see (``None``: a URL passed through)."""
        if ref.url is not None and not ref.loaded and not needs_geometry:
            return ref.url, None
        image = ref.pil()
        with self._lock:
            cached = self._encoded.get(id(image))
            if cached is not None and cached[0] is image:  # the same image again (e.g. one image, many tasks)
                self._encoded.move_to_end(id(image))
                return cached[1], cached[2]
        url, size = self.encode(image)
        with self._lock:
            self._encoded[id(image)] = (image, url, size)
            while len(self._encoded) > _ENCODE_CACHE_SIZE:
                self._encoded.popitem(last=False)
        return url, size

    def encode(
        self, image: Image.Image, bounds: tuple[int, int] | None = None
    ) -> tuple[str, tuple[int, int]]:
        """A JPEG data URL of the image at a smart-resize fixed point (under the payload cap); that size.

        ``bounds``: ``(min_pixels, max_pixels)`` instead of the client's (a video's frames).
        """
        spec = self.info.spec
        min_pixels, max_pixels = bounds if bounds is not None else (self.min_pixels, self.max_pixels)
        quality = 90
        while True:
            size = smart_resize(
                image.width,
                image.height,
                factor=spec.factor,
                min_pixels=min_pixels,
                max_pixels=max_pixels,
            )
            sent = image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)
            encoded = base64.b64encode(encode_image(sent, "JPEG", quality=quality))
            if len(encoded) <= MAX_PAYLOAD_BYTES or max_pixels <= min_pixels:
                return f"data:image/jpeg;base64,{encoded.decode('ascii')}", size
            if quality > 75:
                quality = 75
            else:
                max_pixels = max(min_pixels, int(max_pixels * 0.7))

    # ------------------------------------------------------------------ video
    def video_frames_sent(self, clip: Any) -> int:
        """How many image parts a video becomes here: none when it goes as a ``video_url``."""
        if clip.source is None or not self.server.video_url or clip.partial:
            return len(clip.frames)  # frames, or a part of a video (a server samples a file whole)
        if clip.source.lower().startswith(("http://", "https://")):
            return 0
        too_big = os.path.getsize(os.path.expanduser(clip.source)) > MAX_VIDEO_BYTES
        return len(clip.frames) if too_big else 0  # too large to inline: the sampled frames go instead

    def video_url(self, request: GenerationRequest) -> str | None:
        """The ``video_url`` to send for a video file or URL, where the server takes one (else ``None``)."""
        clip = request.video
        if clip is None or self.video_frames_sent(clip) > 0:
            return None
        assert clip.source is not None
        if clip.source.lower().startswith(("http://", "https://")):
            return clip.source
        path = os.path.expanduser(clip.source)
        with open(path, "rb") as handle:
            data = base64.b64encode(handle.read()).decode("ascii")
        mime = mimetypes.guess_type(path)[0] or "video/mp4"
        return f"data:{mime};base64,{data}"

    # ------------------------------------------------------------------ bodies
    def prepare(self, request: GenerationRequest) -> tuple[dict[str, Any], Sizes]:
        """The whole body for a request, and the size each image was sent at."""
        video_url = self.video_url(request)
        if video_url is not None:  # the server samples the file itself (vLLM, SGLang)
            body = self.build_body(request, [])
            body["messages"][-1]["content"].insert(0, {"type": "video_url", "video_url": {"url": video_url}})
            body["extra_body"]["mm_processor_kwargs"] = {"fps": request.video.sample_fps}  # type: ignore[union-attr]
            return body, (None,)
        if request.video is not None:  # frames as images, their times said first (servers without video)
            clip = request.video
            size = video_budget(self.info).frame_size(clip.size, len(clip.frames), clip.max_pixels)
            bounds = (size[0] * size[1], size[0] * size[1])  # each frame at a video frame's budget
            frames = [
                self.encode(frame.resize(size, Image.Resampling.BICUBIC), bounds) for frame in clip.frames
            ]
            lead = prompts.video_frames_note(request.video.timestamps)
            return self.build_body(request, [url for url, _ in frames], lead), (frames[0][1],)
        encoded = [self.encode_ref(ref, request.needs_geometry) for ref in request.images]
        return self.build_body(request, [url for url, _ in encoded]), tuple(size for _, size in encoded)

    def build_body(
        self, request: GenerationRequest, image_url: str | Sequence[str], lead: str | None = None
    ) -> dict[str, Any]:
        """The chat-completions request body (without transport options): the image parts, then the text.

        ``lead``: text sent before the images (a video's frame times).
        """
        urls = [image_url] if isinstance(image_url, str) else list(image_url)
        parts: list[dict[str, Any]] = [{"type": "text", "text": lead}] if lead else []
        parts += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
        body: dict[str, Any] = {
            "model": self.info.id,
            "messages": [
                *([{"role": "system", "content": request.system}] if request.system else []),
                {"role": "user", "content": [*parts, {"type": "text", "text": request.prompt}]},
            ],
            "max_tokens": request.max_tokens,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if self.server.logprobs and request.needs_geometry:
            body["logprobs"] = True  # a confidence per box and point
        extra: dict[str, Any] = self._thinking_fields(request)
        schema, name = request.json_schema, "extraction"
        if schema is None and request.constraint is not None and self.server.grammar_tasks:
            schema, name = (
                request.constraint.json_schema(),
                request.constraint.name or request.constraint.kind,
            )
        use_schema = schema is not None and self.schema_supported
        if use_schema:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": False},
            }
        if self.server.privacy:
            provider = {**PRIVACY[self.privacy], **self.provider_options}
            if use_schema:
                provider["require_parameters"] = True
            extra["provider"] = provider
        extra.update(self.extra_body)
        body["extra_body"] = extra
        return body

    def _thinking_fields(self, request: GenerationRequest) -> dict[str, Any]:
        """This server's fields switching reasoning on or off (hybrid models: off unless asked)."""
        if request.enable_thinking is False and self.info.rejects_reasoning_off:
            logger.warning("%s cannot switch reasoning off; it will reason anyway", self.info.id)
            return {}
        if request.enable_thinking is not None:
            return dict(self.server.thinking_body(request.enable_thinking))
        if self.info.thinking == "hybrid":
            return dict(self.server.thinking_body(False))
        return {}

    def schema_fallback(self, error: BackendError, body: dict[str, Any]) -> bool:
        """Drop ``response_format`` from ``body`` when the server says it does not take it.

        Only a 400/422 whose message is about structured output counts (a wrong model name or an unknown
        field does not), and the choice is remembered for this client only, i.e. this server and model.
        """
        if "response_format" in body and is_schema_rejection(error):
            logger.info("server rejected response_format; falling back to prompt-only JSON: %s", error)
            self.schema_supported = False
            body.pop("response_format")
            body["extra_body"].get("provider", {}).pop("require_parameters", None)
            return True
        return False
