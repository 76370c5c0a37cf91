"""What decides an answer, as one content hash.

The image's pixels, the task, the prompt, the model, the backend and server, thinking, grammar and
sampling settings. Two calls with the same key would send the same request to the same model, so the
second may be answered from the store. Anything that could change the answer is in the key; nothing
that cannot (the image's file name, the order in a batch, progress bars) is.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from ..backends import GenerationRequest, capabilities_of
from ..images import pixel_digest

__all__ = ["KEY_VERSION", "backend_identity", "request_key"]

#: Bumped whenever what goes into a key (or how results are encoded) changes: old entries then miss.
KEY_VERSION = 1


def _ref_digest(ref: Any) -> str:
    """An input image's digest; an undownloaded URL is keyed by the URL itself."""
    if ref.url is not None and not ref.loaded:
        return f"url:{ref.url}"
    return pixel_digest(ref.pil())


def _video_digest(clip: Any) -> str:
    digest = hashlib.sha256(json.dumps([clip.timestamps, clip.fps, clip.duration, clip.source]).encode())
    for frame in clip.frames:
        digest.update(pixel_digest(frame).encode())
    return digest.hexdigest()


def backend_identity(backend: Any) -> dict[str, Any]:
    """What about the backend decides answers: its kind, model and its capabilities' ``store_identity``."""
    described = dict(capabilities_of(backend).store_identity)
    return {"backend": type(backend).__name__, "model": backend.info.id, **described}


def _constraint(request: GenerationRequest) -> Any:
    constraint = request.constraint
    return None if constraint is None else constraint.json_schema()


def _file_digest(source: Any) -> str | None:
    """SHA-256 of an image file's bytes (far cheaper than its decoded pixels), or ``None``."""
    if isinstance(source, bytes):
        return "bytes:" + hashlib.sha256(source).hexdigest()
    if isinstance(source, (str, os.PathLike)) and not str(source).startswith(
        ("http://", "https://", "data:")
    ):
        path = os.path.expanduser(os.fspath(source))
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                return "file:" + hashlib.file_digest(handle, "sha256").hexdigest()
    return None


def request_key(
    request: GenerationRequest,
    params: dict[str, Any],
    backend: dict[str, Any],
    extra: dict[str, Any],
    source: Any = None,
) -> str:
    """The content hash of one request: images, prompt and every setting that shapes the answer.

    Args:
        request: The request as it would be sent.
        params: The task's checked parameters (classes, schema...).
        backend: :func:`backend_identity` of the backend.
        extra: Post-processing settings that change the result (``min_confidence``).
        source: The input as the user gave it: a file or bytes is keyed by its bytes (the same bytes
            decode to the same pixels), anything else by its decoded pixels.
    """
    if request.video is not None:
        images = [_video_digest(request.video)]
    else:
        from_file = _file_digest(source) if not request.more_images else None
        images = [from_file] if from_file is not None else [_ref_digest(r) for r in request.images]
    described = {
        "version": KEY_VERSION,
        "images": images,
        "task": request.task,
        "prompt": request.prompt,
        "params": params,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature or None,
        "thinking": request.enable_thinking,
        "json_schema": request.json_schema,
        "constraint": _constraint(request),
        "classes": request.scoring.classes if request.scoring is not None else None,
        "backend": backend,
        "extra": extra,
    }
    if request.system is not None:  # absent otherwise: keys written before system messages still match
        described["system"] = request.system
    text = json.dumps(described, sort_keys=True, default=_json_default, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_json_schema"):  # a pydantic model class given as schema
        return {"pydantic": value.__qualname__, "schema": value.model_json_schema()}
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return repr(value)
