"""Typed results, one per task: small frozen dataclasses with the raw text one attribute away.

Every result has:

* ``text``: the raw model output (answer part, thinking removed),
* ``thinking``: the reasoning text, or ``None``,
* ``model``: the model id that answered,
* ``usage``: token counts and cost (:class:`Usage`) when known, else ``None``,
* ``error``: ``None`` on success, otherwise a human-readable reason this image failed,
* ``exception``: the typed :class:`~qwen_vlm.errors.QwenVLMError` behind ``error`` (or ``None``), so
  ``isinstance`` checks and attributes such as ``RateLimitError.retry_after`` work without ``strict``,
* ``finish_reason``: why generation stopped (``"stop"``, ``"length"``...), or ``None`` when unknown;
  ``truncated`` is true when it stopped at ``max_tokens``.

A result with ``error`` set never looks like an empty success: check ``result.ok``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from .errors import QwenVLMError

__all__ = [
    "Classification",
    "Detection",
    "Detections",
    "Event",
    "Events",
    "Extraction",
    "MultiLabelClassification",
    "Point",
    "Points",
    "Result",
    "TextRegion",
    "TextResult",
    "Usage",
]


def _short(text: str, limit: int = 60) -> str:
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
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int | None = None
    cost: float | None = None


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
        out = _plain(self)
        out["source"] = _source_name(self.source)
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
                f"<pre style='white-space:pre-wrap'>{_escape(self.thinking)}</pre></details>"
            )
        if self.error:
            parts.append(f"<div style='color:#b00020'><b>error</b>: {_escape(self.error)}</div>")
        if self.truncated:
            parts.append("<div style='color:#8a6d00'>cut off at max_tokens</div>")
        return "".join(parts)


_CHOSEN, _OTHER = "background:#1f77b4;color:white", "background:#eee"


def _chips(classes: Sequence[str], chosen: Sequence[str | None], scores: Mapping[str, float] | None) -> str:
    """The classes as HTML chips, the chosen ones highlighted, each with its score when known."""
    return "".join(
        f"<span style='padding:1px 6px;margin:2px;border-radius:8px;"
        f"{_CHOSEN if c in chosen else _OTHER}'>{_escape(c)}{_score(scores, c)}</span>"
        for c in classes
    )


def _score(scores: Mapping[str, float] | None, label: str) -> str:
    if scores is None or label not in scores:
        return ""
    return f" <small>{scores[label]:.2f}</small>"


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def _source_name(source: Any) -> str | None:
    """A path or URL the input came from (``data:`` URLs and in-memory images give ``None``).

    A video gives its file or URL; a group of images its members' names joined by `` + ``.
    """
    import os

    items = getattr(source, "items", None)
    if isinstance(items, tuple):  # an Images group
        names = [_source_name(item) for item in items]
        return " + ".join(n or "-" for n in names) if any(names) else None
    if hasattr(source, "max_frames"):  # a Video
        return _source_name(source.source)
    if isinstance(source, os.PathLike):
        return os.fsdecode(os.fspath(source))
    if isinstance(source, str) and not source[:5].lower().startswith("data:"):
        return source
    return None


_NOT_PLAIN = ("exception", "source")


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value) if f.name not in _NOT_PLAIN}
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class TextRegion:
    """A piece of text located in the image (OCR text spotting or QwenVL-HTML document parsing).

    Attributes:
        text: The text content.
        xyxy: ``(x1, y1, x2, y2)`` in pixels of the original image.
        tag: The HTML tag for document parsing (``"p"``, ``"h2"``...), else ``None``.
        raw_box: The box as the model wrote it.
        attrs: Other attributes (``class`` of an HTML element...).
    """

    text: str
    xyxy: tuple[float, float, float, float]
    tag: str | None = None
    raw_box: tuple[float, float, float, float] | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TextResult(Result):
    """A free-text answer (prompt, OCR, VQA, caption).

    Attributes:
        regions: Located text, when the model answered with boxes (text spotting, QwenVL HTML).
        pages: OCR of a group (:class:`~qwen_vlm.Images`): the text of each image, in order (empty
            strings for images the answer skipped); ``()`` otherwise.
    """

    regions: tuple[TextRegion, ...] = ()
    pages: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"TextResult({_short(self.text)!r}{self._tail()}"

    def _repr_html_(self) -> str:
        regions = (
            f"<div><i>{len(self.regions)} located text regions: .draw()</i></div>" if self.regions else ""
        )
        return (
            f"<div><pre style='white-space:pre-wrap'>{_escape(self.text)}</pre>{regions}"
            f"{self._html_tail()}</div>"
        )

    def draw(self, image: Any = None) -> Any:
        """The image with the located text regions drawn on it (see :meth:`Detections.draw`)."""
        from .draw import draw

        return draw(_image_for(self, image), self)


@dataclass(frozen=True, kw_only=True)
class Classification(Result):
    """A single-label classification.

    Attributes:
        label: One of the given classes, or ``None`` (then ``error`` says why).
        classes: The classes the model chose from.
        scores: Local backend: each class's probability as the answer — the likelihood of the model
            answering exactly ``{"label": "<class>"}``, normalised over the classes (they sum to 1;
            thinking not included). ``None`` where the backend cannot compute them (remote servers).
            ``label`` is what the model generated; it is usually, not always, the top score.
    """

    label: str | None = None
    classes: tuple[str, ...] = ()
    scores: Mapping[str, float] | None = None

    def __repr__(self) -> str:
        return f"Classification(label={self.label!r}{self._tail()}"

    def _repr_html_(self) -> str:
        chips = _chips(self.classes, (self.label,), self.scores)
        return f"<div><b>{_escape(str(self.label))}</b> <span>{chips}</span>{self._html_tail()}</div>"


@dataclass(frozen=True, kw_only=True)
class MultiLabelClassification(Result):
    """A multi-label classification.

    Attributes:
        labels: The subset of ``classes`` present in the image, in the order of ``classes``.
        classes: The classes the model chose from.
        scores: Local backend: for each class on its own, the probability that the model answers yes
            (rather than no) to ``Does this image contain "<class>"? Answer yes or no.`` — independent
            per class, so they do not sum to 1. ``None`` where the backend cannot compute them.
    """

    labels: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    scores: Mapping[str, float] | None = None

    def __repr__(self) -> str:
        return f"MultiLabelClassification(labels={list(self.labels)!r}{self._tail()}"

    def _repr_html_(self) -> str:
        chips = _chips(self.classes, self.labels, self.scores)
        return f"<div>{chips}{self._html_tail()}</div>"


@dataclass(frozen=True)
class Detection:
    """One detected object.

    Attributes:
        label: The label the model gave (``None`` only when it gave none).
        xyxy: ``(x1, y1, x2, y2)`` in pixels of the original image, clamped to it.
        raw_box: The box exactly as the model wrote it (its family's native convention).
        attrs: Any other keys the model returned for this object.
        image: For a group (:class:`~qwen_vlm.Images`): which of its images the box is on (0 = the
            first), ``xyxy`` being in that image's pixels; ``None`` for a single image.
    """

    label: str | None
    xyxy: tuple[float, float, float, float]
    raw_box: tuple[float, float, float, float] | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    image: int | None = None

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.xyxy[2] - self.xyxy[0]

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.xyxy[3] - self.xyxy[1]

    def __repr__(self) -> str:
        box = ", ".join(f"{v:.1f}" for v in self.xyxy)
        return f"Detection({self.label!r}, xyxy=({box}))"


class _Labelled(Protocol):
    @property
    def label(self) -> str | None: ...


T = TypeVar("T", bound=_Labelled)


@dataclass(frozen=True, kw_only=True)
class _Located(Result, Sequence[T]):
    """A result that is a sequence of located items (boxes or points) on one image.

    Attributes:
        image_size: ``(width, height)`` of the original image (the first, in a group).
        classes: The classes asked for (``None``: open detection).
        dropped: How many objects in the answer were unusable (no coordinates, a malformed or
            degenerate box, coordinates far outside the image, no such image in the group) and left out.
        image_sizes: For a group: ``(width, height)`` of each of its images; ``None`` otherwise.
    """

    image_size: tuple[int, int] | None = None
    classes: tuple[str, ...] | None = None
    dropped: int = 0
    image_sizes: tuple[tuple[int, int], ...] | None = None

    def _items(self) -> tuple[T, ...]:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...
    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    @property
    def labels(self) -> list[str | None]:
        """All labels, in the model's order."""
        return [item.label for item in self._items()]

    def __iter__(self) -> Iterator[T]:
        return iter(self._items())

    def draw(self, image: Any = None) -> Any:
        """A new PIL image: the input with the results drawn on it (labelled boxes or points).

        Args:
            image: The image to draw on; by default the input this result came from (the client keeps a
                reference to it, never a copy).

        Raises:
            ConfigurationError: If no image is given and the result does not know its input (it came
                from :func:`~qwen_vlm.parse`).
            ImageError: If the input can no longer be read.
        """
        from .draw import draw

        return draw(_image_for(self, image), self)  # type: ignore[arg-type]

    def _repr_png_(self) -> bytes | None:
        """Jupyter's picture of this result: the input with the results drawn (at most 1024 px wide)."""
        if self.source is None or self.image_size is None:
            return None
        try:
            import io

            picture = self.draw()
            if max(picture.size) > 1024:
                picture.thumbnail((1024, 1024))
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
            return buffer.getvalue()
        except Exception:  # a display hook must never raise (the text repr is shown instead)
            return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._items())!r}{self._tail()}"


@dataclass(frozen=True, kw_only=True, repr=False)
class Detections(_Located[Detection]):
    """Object detection output: a sequence of :class:`Detection`.

    Attributes:
        detections: The boxes, in the model's order.
    """

    detections: tuple[Detection, ...] = ()

    def _items(self) -> tuple[Detection, ...]:
        return self.detections

    @property
    def xyxy(self) -> list[tuple[float, float, float, float]]:
        """All boxes, in pixels of the original image."""
        return [d.xyxy for d in self.detections]

    def xyxy_array(self) -> Any:
        """The boxes as a numpy ``float32`` array of shape ``(N, 4)`` (pixels of the original image)."""
        import numpy as np

        return np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)

    def class_names(self) -> list[str]:
        """Class names for ids: the classes asked for, then any other labels in order of appearance."""
        names = list(self.classes or ())
        names += [label for label in dict.fromkeys(self.labels) if label is not None and label not in names]
        return names

    def to_supervision(self) -> Any:
        """A ``supervision.Detections`` (``pip install supervision``; imported only here).

        ``class_id`` indexes :meth:`class_names` (``-1`` for a box with no label); ``data["class_name"]``
        holds the labels.
        """
        try:
            import supervision as sv
        except ImportError:
            from .errors import MissingDependencyError

            raise MissingDependencyError(
                "supervision", "supervision", "Detections.to_supervision()"
            ) from None
        import numpy as np

        names = self.class_names()
        ids = [names.index(label) if label is not None else -1 for label in self.labels]
        return sv.Detections(
            xyxy=self.xyxy_array(),
            class_id=np.asarray(ids, dtype=int),
            data={"class_name": np.asarray([label or "" for label in self.labels])},
        )


@dataclass(frozen=True)
class Point:
    """One located point.

    Attributes:
        label: The label the model gave (``None`` only when it gave none).
        xy: ``(x, y)`` in pixels of the original image, clamped to it.
        raw_point: The point as the model wrote it.
        attrs: Any other keys the model returned.
        image: For a group: which of its images the point is on (0 = the first); ``None`` otherwise.
    """

    label: str | None
    xy: tuple[float, float]
    raw_point: tuple[float, float] | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    image: int | None = None

    def __repr__(self) -> str:
        return f"Point({self.label!r}, xy=({self.xy[0]:.1f}, {self.xy[1]:.1f}))"


@dataclass(frozen=True, kw_only=True, repr=False)
class Points(_Located[Point]):
    """Point grounding output: a sequence of :class:`Point`.

    Attributes:
        points: The points, in the model's order.
    """

    points: tuple[Point, ...] = ()

    def _items(self) -> tuple[Point, ...]:
        return self.points

    @property
    def xy(self) -> list[tuple[float, float]]:
        """All points, in pixels of the original image."""
        return [p.xy for p in self.points]

    def xy_array(self) -> Any:
        """The points as a numpy ``float32`` array of shape ``(N, 2)``."""
        import numpy as np

        return np.asarray(self.xy, dtype=np.float32).reshape(-1, 2)


@dataclass(frozen=True)
class Event:
    """One event located in time.

    Attributes:
        label: The event asked about (one of the queries), or the model's own words.
        start: Start, in seconds of the original video.
        end: End, in seconds of the original video (``>= start``).
        raw: The times exactly as the model wrote them (before any shift to the video's timeline).
    """

    label: str | None
    start: float
    end: float
    raw: tuple[float, float] | None = None

    @property
    def length(self) -> float:
        """``end - start`` in seconds."""
        return self.end - self.start

    def __repr__(self) -> str:
        return f"Event({self.label!r}, {self.start:.1f}s-{self.end:.1f}s)"


@dataclass(frozen=True, kw_only=True)
class Events(Result, Sequence[Event]):
    """Temporal grounding output (``locate_events``): a sequence of :class:`Event`, in the model's order.

    Attributes:
        events: The located events.
        queries: The events asked about.
        duration: Length of the video in seconds, if known.
        timestamps: Times (seconds) of the frames the model saw.
        dropped: Answer entries left out (no usable times, or outside the video).
    """

    events: tuple[Event, ...] = ()
    queries: tuple[str, ...] = ()
    duration: float | None = None
    timestamps: tuple[float, ...] = ()
    dropped: int = 0

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Event, ...]: ...
    def __getitem__(self, index: int | slice) -> Event | tuple[Event, ...]:
        return self.events[index]

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __bool__(self) -> bool:
        return True  # a result is never falsy, even with no event found (check .ok and len())

    def draw(self, frames: int = 8) -> Any:
        """A new PIL image: a strip of the video's frames with their times, and each event as a bar.

        Args:
            frames: Most frames shown (evenly chosen from those the model saw).
        """
        from .draw import draw_timeline

        return draw_timeline(self, frames)

    def _repr_png_(self) -> bytes | None:
        """Jupyter's picture of this result: the frame strip with the events marked."""
        clip = getattr(self.source, "_clip", None)
        if clip is None:
            return None
        try:
            import io

            buffer = io.BytesIO()
            self.draw().save(buffer, format="PNG")
            return buffer.getvalue()
        except Exception:  # a display hook must never raise
            return None

    def __repr__(self) -> str:
        return f"Events({list(self.events)!r}{self._tail()}"


@dataclass(frozen=True, kw_only=True)
class Extraction(Result):
    """Structured output.

    Attributes:
        data: The parsed JSON (a ``dict``), or an instance of the pydantic model passed as schema;
            ``None`` when parsing or validation failed (``error`` says why).
    """

    data: Any = None

    def __repr__(self) -> str:
        return f"Extraction(data={self.data!r}{self._tail()}"

    def _repr_html_(self) -> str:
        import json

        data = self.to_dict()["data"]
        body = json.dumps(data, ensure_ascii=False, indent=2) if data is not None else "(no data)"
        return f"<div><pre>{_escape(body)}</pre>{self._html_tail()}</div>"


def _image_for(result: Result, image: Any) -> Any:
    if image is not None:
        return image
    if result.source is None:
        from .errors import ConfigurationError

        raise ConfigurationError(
            "this result does not know its image (it was made by parse()); pass it: result.draw(image)"
        )
    return result.source
