"""The fields every task result shares (:class:`Result`), token usage, and their plain-data forms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..groups import Images
from ..images import load_image

if TYPE_CHECKING:
    from ..errors import QwenVLMError

__all__ = ["Result", "Usage"]


def shorten(text: str, limit: int = 60) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Usage:
    """Token counts (and cost, when the server reports it) for one request.

    Attributes:
        prompt_tokens: Tokens in the prompt, image included.
        completion_tokens: Tokens generated, reasoning included.
        total_tokens: Their sum.
        reasoning_tokens: Tokens spent on reasoning, when reported.
        cost: Cost in the server's currency (OpenRouter: USD credits), when reported.
        video_frames: For a video: the frames sent (``None`` for images).
        video_pixels: For a video: the pixels of all frames sent, each at the size the model family's
            recipe resizes it to (:class:`~qwen_vlm.VideoBudget`).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int | None = None
    cost: float | None = None
    video_frames: int | None = None
    video_pixels: int | None = None


@dataclass(frozen=True, kw_only=True)
class Result:
    """Fields shared by every task result."""

    text: str = ""
    thinking: str | None = None
    model: str = ""
    usage: Usage | None = None
    error: str | None = None
    exception: QwenVLMError | None = field(default=None, compare=False, repr=False)
    finish_reason: str | None = None
    source: Any = field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        """True when this image succeeded (``error is None``)."""
        return self.error is None

    @property
    def error_type(self) -> str | None:
        """The name of the error's type (``"RateLimitError"``...), or ``None`` on success."""
        return type(self.exception).__name__ if self.exception is not None else None

    @property
    def truncated(self) -> bool:
        """True when generation stopped at the token limit (``finish_reason == "length"``)."""
        return self.finish_reason == "length"

    def _tail(self) -> str:
        return f", error={self.error!r})" if self.error else ")"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field (pydantic data is dumped with ``model_dump``).

        ``source`` appears as the path or URL the image came from (``None`` for in-memory images).
        """
        out = plain_data(self)
        out["source"] = source_name(self.source)
        out["error_type"] = self.error_type
        out["task_result"] = type(self).__name__
        return out  # type: ignore[no-any-return]

    def to_json(self, **kwargs: Any) -> str:
        """The result as a JSON string (:meth:`to_dict`); ``kwargs`` go to :func:`json.dumps`."""
        import json

        kwargs.setdefault("ensure_ascii", False)
        return json.dumps(self.to_dict(), **kwargs)

    def _html_tail(self) -> str:
        parts = []
        if self.thinking:
            parts.append(
                f"<details><summary>thinking ({len(self.thinking)} characters)</summary>"
                f"<pre style='white-space:pre-wrap'>{escape_html(self.thinking)}</pre></details>"
            )
        if self.error:
            parts.append(f"<div style='color:#b00020'><b>error</b>: {escape_html(self.error)}</div>")
        if self.truncated:
            parts.append("<div style='color:#8a6d00'>cut off at max_tokens</div>")
        return "".join(parts)


def escape_html(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def source_name(source: Any) -> str | None:
    """A path or URL the input came from (``data:`` URLs and in-memory images give ``None``).

    A video gives its file or URL; a group of images its members' names joined by `` + ``.
    """
    import os

    items = getattr(source, "items", None)
    if isinstance(items, tuple):  # an Images group
        names = [source_name(item) for item in items]
        return " + ".join(n or "-" for n in names) if any(names) else None
    if hasattr(source, "max_frames"):  # a Video
        return source_name(source.source)
    if isinstance(source, os.PathLike):
        return os.fsdecode(os.fspath(source))
    if isinstance(source, str) and not source[:5].lower().startswith("data:"):
        return source
    return None


_NOT_PLAIN = ("exception", "source")


def plain_data(value: Any) -> Any:
    """A result (or any of its fields) as plain JSON data: dataclasses, pydantic data and tuples unpacked.

    ``exception`` and ``source`` are left out (the error is in ``error``; the input is not data).
    """
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_data(getattr(value, f.name)) for f in fields(value) if f.name not in _NOT_PLAIN}
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    return value


def own_data(result: Result) -> dict[str, Any]:
    """A result's own fields as plain data (:meth:`Result.to_dict` without the fields every result has)."""
    shared = {f.name for f in fields(Result)} | {"error_type", "task_result"}
    return {k: v for k, v in result.to_dict().items() if k not in shared}


def notebook_png(picture: Any) -> bytes:
    """A drawn picture as PNG bytes for Jupyter, at most 1024 px on its long side."""
    import io

    if max(picture.size) > 1024:
        picture.thumbnail((1024, 1024))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def pictures_for(result: Result, image: Any = None) -> list[Any]:
    """The picture(s) to draw a result on: ``image``, or else its input; a group gives each of its images.

    Raises:
        ConfigurationError: If no image is given and the result does not know its input.
        ImageError: If the input can no longer be read.
    """
    picture = _image_for(result, image)
    if isinstance(picture, Images):
        return [load_image(member) for member in picture]
    return [load_image(picture)]


def _image_for(result: Result, image: Any) -> Any:
    if image is not None:
        return image
    if result.source is None:
        raise ConfigurationError(
            "this result does not know its image (it was made by parse()); pass it: result.draw(image)"
        )
    return result.source
