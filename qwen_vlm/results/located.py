"""Located results: boxes (:class:`Detections`) and points (:class:`Points`) in pixels of the input."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, TypeVar, overload

from ..errors import MissingDependencyError
from ..options import check_number
from .base import Result, notebook_png, pictures_for

__all__ = ["Detection", "Detections", "Point", "Points"]


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
        confidence: How sure the model was of this object, in [0, 1]: the probability of its label
            times the geometric mean of its coordinate tokens' probabilities (see the confidence docs).
            ``None`` when no token probabilities were available (a server without logprobs, or
            :func:`~qwen_vlm.parse` on plain text) — never a made-up 1.0.
    """

    label: str | None
    xyxy: tuple[float, float, float, float]
    raw_box: tuple[float, float, float, float] | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    image: int | None = None
    confidence: float | None = None

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
        return f"Detection({self.label!r}, xyxy=({box}){_conf(self.confidence)})"


def _conf(confidence: float | None) -> str:
    return "" if confidence is None else f", confidence={confidence:.2f}"


def _caption(label: str | None, confidence: float | None) -> str | None:
    """The text drawn by an object: its label and, when known, its confidence (``cat 0.87``)."""
    if confidence is None:
        return None
    return f"{label} {confidence:.2f}" if label else f"{confidence:.2f}"


class _Labelled(Protocol):
    @property
    def label(self) -> str | None: ...

    @property
    def confidence(self) -> float | None: ...


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

    #: The name of the field holding the items.
    _field: ClassVar[str] = ""

    def _drawn(self) -> list[tuple[str | None, tuple[float, ...], int | None, str | None]]:
        raise NotImplementedError

    @property
    def confidences(self) -> list[float | None]:
        """Every object's confidence, in the model's order (``None`` where unknown)."""
        return [item.confidence for item in self._items()]

    def confidence_array(self) -> Any:
        """The confidences as a numpy ``float32`` array of shape ``(N,)`` (NaN where unknown)."""
        import numpy as np

        return np.asarray([np.nan if c is None else c for c in self.confidences], dtype=np.float32)

    def filter(self, *, min_confidence: float) -> Any:
        """A copy holding only the objects whose confidence is at least ``min_confidence``.

        Objects whose confidence is unknown (``None``) are left out: they cannot be shown to pass.

        Raises:
            ConfigurationError: If ``min_confidence`` is not a number from 0 to 1.
        """
        check_number("min_confidence", min_confidence, maximum=1.0, optional=False)
        kept = tuple(i for i in self._items() if i.confidence is not None and i.confidence >= min_confidence)
        changes: dict[str, Any] = {self._field: kept}
        return replace(self, **changes)

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
        from ..draw import draw_objects  # PIL's drawing modules load on first use

        return draw_objects(pictures_for(self, image), self._drawn())

    def _repr_png_(self) -> bytes | None:
        """Jupyter's picture of this result: the input with the results drawn (at most 1024 px wide)."""
        if self.source is None or self.image_size is None:
            return None
        try:
            return notebook_png(self.draw())
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
    _field: ClassVar[str] = "detections"

    def _items(self) -> tuple[Detection, ...]:
        return self.detections

    def _drawn(self) -> list[tuple[str | None, tuple[float, ...], int | None, str | None]]:
        return [(d.label, d.xyxy, d.image, _caption(d.label, d.confidence)) for d in self.detections]

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
        holds the labels; ``confidence`` the confidences when every box has one (``None`` otherwise).
        """
        try:
            import supervision as sv
        except ImportError:
            raise MissingDependencyError(
                "supervision", "supervision", "Detections.to_supervision()"
            ) from None
        import numpy as np

        names = self.class_names()
        ids = [names.index(label) if label is not None else -1 for label in self.labels]
        return sv.Detections(
            xyxy=self.xyxy_array(),
            class_id=np.asarray(ids, dtype=int),
            confidence=None if None in self.confidences else self.confidence_array(),
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
        confidence: As :attr:`Detection.confidence`, for the point's label and coordinates.
    """

    label: str | None
    xy: tuple[float, float]
    raw_point: tuple[float, float] | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    image: int | None = None
    confidence: float | None = None

    def __repr__(self) -> str:
        return f"Point({self.label!r}, xy=({self.xy[0]:.1f}, {self.xy[1]:.1f}){_conf(self.confidence)})"


@dataclass(frozen=True, kw_only=True, repr=False)
class Points(_Located[Point]):
    """Point grounding output: a sequence of :class:`Point`.

    Attributes:
        points: The points, in the model's order.
    """

    points: tuple[Point, ...] = ()
    _field: ClassVar[str] = "points"

    def _items(self) -> tuple[Point, ...]:
        return self.points

    def _drawn(self) -> list[tuple[str | None, tuple[float, ...], int | None, str | None]]:
        return [(p.label, p.xy, p.image, _caption(p.label, p.confidence)) for p in self.points]

    @property
    def xy(self) -> list[tuple[float, float]]:
        """All points, in pixels of the original image."""
        return [p.xy for p in self.points]

    def xy_array(self) -> Any:
        """The points as a numpy ``float32`` array of shape ``(N, 2)``."""
        import numpy as np

        return np.asarray(self.xy, dtype=np.float32).reshape(-1, 2)
