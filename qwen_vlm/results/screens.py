"""Screen results: the element an instruction names (:class:`Target`) and a GUI action (:class:`Action`).

Every coordinate is in pixels of the original screenshot, whatever the family wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import Result, notebook_png, pictures_for
from .located import Point

__all__ = ["ACTION_KINDS", "Action", "Target"]

#: Every kind of :class:`Action`.
ACTION_KINDS = (
    "click",
    "double_click",
    "right_click",
    "middle_click",
    "triple_click",
    "move",
    "drag",
    "type",
    "key",
    "scroll",
    "hscroll",
    "wait",
    "long_press",
    "swipe",
    "system_button",
    "open",
    "answer",
    "terminate",
)


@dataclass(frozen=True, kw_only=True)
class Target(Result):
    """The one element an instruction names (``ground``), in pixels of the original screenshot.

    Attributes:
        xy: The point to act on (a box answer gives its centre); ``None`` when the answer held none.
        box: The element's box ``(x1, y1, x2, y2)`` when the model answered with one, else ``None``.
        confidence: How sure the model was of the coordinates, where token probabilities came back.
        instruction: The instruction grounded.
        image_size: ``(width, height)`` of the screenshot.
    """

    xy: tuple[float, float] | None = None
    box: tuple[float, float, float, float] | None = None
    confidence: float | None = None
    instruction: str = ""
    image_size: tuple[int, int] | None = None

    @property
    def point(self) -> Point | None:
        """The answer as a :class:`~qwen_vlm.Point` (label: the instruction), as ``point`` results hold."""
        if self.xy is None:
            return None
        return Point(self.instruction or None, self.xy, confidence=self.confidence)

    def contains(self, box: tuple[float, float, float, float]) -> bool:
        """Whether the point falls inside ``box`` (``x1 <= x <= x2``, ``y1 <= y <= y2``): a ScreenSpot hit."""
        if self.xy is None:
            return False
        x, y = self.xy
        return box[0] <= x <= box[2] and box[1] <= y <= box[3]

    def __repr__(self) -> str:
        where = "None" if self.xy is None else f"({self.xy[0]:.1f}, {self.xy[1]:.1f})"
        return f"Target({self.instruction!r}, xy={where}{self._tail()}"

    def draw(self, image: Any = None) -> Any:
        """A new PIL image: the screenshot with the point (and the box, if any) drawn."""
        from ..draw import draw_objects

        objects: list[Any] = []
        if self.box is not None:
            objects.append((self.instruction or "target", self.box, None, None))
        if self.xy is not None:
            objects.append((self.instruction or "target", self.xy, None, None))
        return draw_objects(pictures_for(self, image), objects, legend=False)

    def _repr_png_(self) -> bytes | None:
        if self.source is None or self.xy is None:
            return None
        try:
            return notebook_png(self.draw())
        except Exception:  # a display must never raise
            return None


@dataclass(frozen=True, kw_only=True)
class Action(Result):
    """The model's next GUI action (``act``), typed, in pixels of the original screenshot.

    Attributes:
        kind: One of :data:`ACTION_KINDS` (``None`` when the answer held no valid call).
        point: Where the action happens (click, move, scroll at, long press, start of a swipe or drag).
        end: Where a drag or swipe ends.
        content: The text to type, the answer given, or the app to open (``text`` is the raw answer, as
            on every result).
        keys: The keys of a ``key`` action, in order.
        amount: Scroll pixels (positive: up/right), or seconds to wait / press.
        status: ``"success"`` or ``"failure"`` for ``terminate``.
        button: The system button (``Back``, ``Home``, ``Menu``, ``Enter``) of ``system_button``.
        thought: The text the model wrote before its call, if any.
        raw: The call as the model wrote it (``{"name": ..., "arguments": {...}}``).
        platform: ``"desktop"`` or ``"mobile"``.
        image_size: ``(width, height)`` of the screenshot.
    """

    kind: str | None = None
    point: tuple[float, float] | None = None
    end: tuple[float, float] | None = None
    content: str | None = None
    keys: tuple[str, ...] = ()
    amount: float | None = None
    status: str | None = None
    button: str | None = None
    thought: str | None = None
    raw: Mapping[str, Any] | None = field(default=None, compare=True)
    platform: str = "desktop"
    image_size: tuple[int, int] | None = None

    def __repr__(self) -> str:
        parts = [repr(self.kind)]
        if self.point is not None:
            parts.append(f"point=({self.point[0]:.1f}, {self.point[1]:.1f})")
        if self.end is not None:
            parts.append(f"end=({self.end[0]:.1f}, {self.end[1]:.1f})")
        if self.content is not None:
            parts.append(f"content={self.content!r}")
        if self.keys:
            parts.append(f"keys={list(self.keys)!r}")
        return f"Action({', '.join(parts)}{self._tail()}"

    def to_pyautogui(self) -> str:
        """The action as pyautogui code (the calls ``ui-tars``' converter writes for the same action).

        Actions pyautogui cannot do (``answer``, ``terminate``, ``open``, a mobile system button) give a
        comment saying so. An action without a kind gives an empty string.
        """
        from .pyautogui import to_pyautogui

        return to_pyautogui(self)

    def draw(self, image: Any = None) -> Any:
        """A new PIL image: the screenshot with the action drawn (its point, its drag path, its text)."""
        from ..draw import draw_objects

        label = self.kind or "action"
        if self.content:
            label = f"{label}: {self.content[:40]}"
        objects: list[Any] = []
        if self.point is not None:
            objects.append((label, self.point, None, None))
        if self.end is not None:
            objects.append((f"{self.kind} end", self.end, None, None))
        return draw_objects(pictures_for(self, image), objects, legend=False)

    def _repr_png_(self) -> bytes | None:
        if self.source is None or (self.point is None and self.end is None):
            return None
        try:
            return notebook_png(self.draw())
        except Exception:  # a display must never raise
            return None

    def describe(self) -> str:
        """One line saying what the action does, as the cookbooks write a step of the history."""
        if self.raw is not None:
            return json.dumps(self.raw.get("arguments", self.raw), ensure_ascii=False)
        return self.kind or ""
