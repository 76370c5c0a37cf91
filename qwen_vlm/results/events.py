"""Temporal grounding results: :class:`Events` located in a video, in seconds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from ..errors import ConfigurationError
from .base import Result

__all__ = ["Event", "Events"]


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
        clip = getattr(self.source, "_clip", None)
        if clip is None:
            raise ConfigurationError(
                "this result does not know its video frames (it was not made from a Video)"
            )
        first = clip.timestamps[0] if clip.timestamps else 0.0
        end = self.duration or clip.duration or 1.0
        spans = [(e.label, e.start, e.end) for e in self.events]
        from ..draw import draw_timeline  # PIL's drawing modules load on first use

        return draw_timeline(clip.frames, clip.timestamps, spans, start=first, end=end, count=frames)

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
